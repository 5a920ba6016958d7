# Applications: HTTP API calls to known services.
package intentgate.domains

import rego.v1

required["app"] := {"host_allowed", "method_permitted"}

url_host(url) := host if {
	parts := regex.find_all_string_submatch_n(`^https?://([^/:?#]+)`, url, 1)
	host := lower(parts[0][1])
}

http_method := upper(trim_prefix(input.intent.action.name, "http."))

write_methods := {"POST", "PUT", "PATCH", "DELETE"}

passed contains "host_allowed" if {
	input.intent.action.domain == "app"
	url_host(input.intent.resource.id) in data.intentgate.config.app.allowed_hosts
}

failures contains reason("HOST_NOT_ALLOWED", "app", sprintf("calls to %s are not on the allowlist", [input.intent.resource.id])) if {
	input.intent.action.domain == "app"
	not url_host(input.intent.resource.id) in data.intentgate.config.app.allowed_hosts
}

passed contains "method_permitted" if {
	input.intent.action.domain == "app"
	http_method in {"GET", "HEAD"}
}

# Writes only from a workflow step that is allowed to write.
passed contains "method_permitted" if {
	input.intent.action.domain == "app"
	http_method in write_methods
	input.intent.session.workflow_step in data.intentgate.config.app.write_steps
}

failures contains reason("METHOD_NOT_PERMITTED", "app", sprintf("%s from workflow step %s", [http_method, input.intent.session.workflow_step])) if {
	input.intent.action.domain == "app"
	not http_method in {"GET", "HEAD"}
	not write_step_ok
}

write_step_ok if {
	http_method in write_methods
	input.intent.session.workflow_step in data.intentgate.config.app.write_steps
}

reviewable["app"] := set()
