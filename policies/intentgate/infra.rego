# Infrastructure: changes to configuration and running systems.
package intentgate.domains

import rego.v1

import data.intentgate.common

required.infra := {"change_window", "autonomy_for_environment"}

# The store's label, else production (see common.environment).
environment := common.environment

# Production changes only inside the change window (UTC hours, weekdays). The clock is input:
# the Wasm target has none, and a replay must see the time the decision saw.
in_change_window if {
	window := data.intentgate.config.change_window
	input.context.now.weekday in window.weekdays
	input.context.now.hour_utc >= window.from_hour
	input.context.now.hour_utc < window.to_hour
}

passed.infra contains "change_window" if {
	environment != "production"
}

passed.infra contains "change_window" if {
	environment == "production"
	in_change_window
}

failures.infra contains reason("OUTSIDE_CHANGE_WINDOW", "infra", sprintf("production change at %02d:00 UTC, day %d, is outside the change window", [input.context.now.hour_utc, input.context.now.weekday])) if {
	environment == "production"
	not in_change_window
}

passed.infra contains "autonomy_for_environment" if {
	environment != "production"
}

passed.infra contains "autonomy_for_environment" if {
	environment == "production"
	common.effective_autonomy != "autonomous"
}

# A fully autonomous agent may propose production changes, but a human confirms them.
escalations.infra contains reason("AUTONOMOUS_PRODUCTION_CHANGE", "infra", "an autonomous agent changing production needs human confirmation") if {
	environment == "production"
	common.effective_autonomy == "autonomous"
}

# Guards a human reviewer may stand in for: an escalation, not a deny, when they do not pass.
reviewable.infra := {"autonomy_for_environment"}
