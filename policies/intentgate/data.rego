# Data: queries and exports, by sensitivity and by what this session has already taken out.
package intentgate.domains

import rego.v1

import data.intentgate.common

required.data := {"sensitivity_cleared", "export_within_budget"}

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

# The budget is for the whole session, from the context store's count, not the caller's.
session_rows := input.context.session.exported_rows + requested_rows

export_budget := data.intentgate.config.export_budget_rows[common.effective_sensitivity]

passed.data contains "export_within_budget" if {
	input.intent.action.name != "data.export"
}

passed.data contains "export_within_budget" if {
	input.intent.action.name == "data.export"
	rows_valid
	session_rows <= export_budget
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
