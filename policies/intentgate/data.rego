# Data: queries and exports, by sensitivity and by what this session has already taken out.
package intentgate.domains

import rego.v1

import data.intentgate.common

required.data := {"sensitivity_cleared", "export_within_budget", "rows_valid"}

# Restricted data never leaves; reading it is for supervised (or assisted) agents only.
passed.data contains "sensitivity_cleared" if {
	common.effective_sensitivity != "restricted"
}

passed.data contains "sensitivity_cleared" if {
	common.effective_sensitivity == "restricted"
	input.intent.action.name == "data.query"
	common.effective_autonomy != "autonomous"
}

failures.data contains reason("RESTRICTED_DATA", "data", sprintf("%s on restricted data is not permitted for a %s agent", [input.intent.action.name, common.effective_autonomy])) if {
	common.effective_sensitivity == "restricted"
	not restricted_read_ok
}

restricted_read_ok if {
	input.intent.action.name == "data.query"
	common.effective_autonomy != "autonomous"
}

# `not is_number(x)` is undefined (not true) when x is missing, so read it with a default.
stated_rows := object.get(input.intent.context, "rows", null)

# A size is a whole number of rows, at least 0: a negative one would lower the session's total
# for the exports after it.
rows_valid if {
	is_number(stated_rows)
	stated_rows >= 0
	stated_rows == floor(stated_rows)
}

requested_rows := stated_rows if rows_valid

else := 0

# The budget is for the whole session, from the context store's count, not the caller's; and
# for the agent across all its sessions (a platform opening a session per export gains nothing).
session_rows := input.context.session.exported_rows + requested_rows

agent_rows := input.context.usage.exported_rows + requested_rows

export_budget := data.intentgate.config.export_budget_rows[common.effective_sensitivity]

agent_export_budget := data.intentgate.config.agent_export_budget_rows[common.effective_sensitivity]

# An allowed export's budget, as an obligation on the decision worker: it reserves the rows
# against the store's live totals, atomically, before the allow stands (another worker may have
# decided an export of the same agent or session since this input was read). The limits are
# the ones this decision checked.
export_reservation.data := {
	"rows": requested_rows,
	"session_limit": export_budget,
	"agent_limit": agent_export_budget,
} if {
	input.intent.action.name == "data.export"
	rows_valid
	requested_rows > 0
}

# What a delete or export acts on is exactly the number stated: a whole number, 0 or more.
passed.data contains "rows_valid" if not input.intent.action.name in {"data.export", "data.delete"}

passed.data contains "rows_valid" if rows_valid

failures.data contains reason("ROWS_INVALID", "data", "context.rows must be a whole number of rows, 0 or more") if {
	input.intent.action.name == "data.delete"
	object.get(input.intent.context, "rows", null) != null
	not rows_valid
}

passed.data contains "export_within_budget" if {
	input.intent.action.name != "data.export"
}

passed.data contains "export_within_budget" if {
	input.intent.action.name == "data.export"
	rows_valid
	session_rows <= export_budget
	agent_rows <= agent_export_budget
}

failures.data contains reason("AGENT_EXPORT_BUDGET_EXCEEDED", "data", msg) if {
	input.intent.action.name == "data.export"
	agent_rows > agent_export_budget
	msg := sprintf("the agent would export %d %s rows across its sessions; its budget is %d", [agent_rows, common.effective_sensitivity, agent_export_budget])
}

failures.data contains reason("EXPORT_BUDGET_EXCEEDED", "data", msg) if {
	input.intent.action.name == "data.export"
	session_rows > export_budget
	msg := sprintf("session would export %d %s rows; the budget is %d", [session_rows, common.effective_sensitivity, export_budget])
}

failures.data contains reason("EXPORT_SIZE_UNKNOWN", "data", "an export must state context.rows") if {
	input.intent.action.name == "data.export"
	not is_number(stated_rows)
}

failures.data contains reason("EXPORT_SIZE_INVALID", "data", "context.rows must be a whole number of rows, 0 or more") if {
	input.intent.action.name == "data.export"
	is_number(stated_rows)
	not rows_valid
}

reason(code, rule, message) := {"code": code, "rule": concat(".", ["intentgate.domains", rule]), "message": message}

# Guards a human reviewer may stand in for: none in this domain.
reviewable.data := set()

# Nothing in this domain escalates by itself.
escalations.data := set()
