# Applications: HTTP API calls to known services.
package intentgate.domains

import rego.v1

required.app := {"host_allowed", "method_permitted"}

# Only a plain authority is understood: a host of letters, digits, dots and dashes, an optional
# numeric port, then the path, query, fragment or the end. Anything else (userinfo before an @,
# backslashes, percent-encoding, brackets) has no host here, so it is not on the allowlist: a
# URL parser elsewhere must never find a different host than this one.
url_host(url) := host if {
	parts := regex.find_all_string_submatch_n(`^https?://([A-Za-z0-9.-]+)(:[0-9]{1,5})?([/?#]|$)`, url, 1)
	host := lower(parts[0][1])
}

http_method := upper(trim_prefix(input.intent.action.name, "http."))

write_methods := {"POST", "PUT", "PATCH", "DELETE"}

host_allowed if url_host(input.intent.resource.id) in data.intentgate.config.app.allowed_hosts

passed.app contains "host_allowed" if host_allowed

# Also for a URL with no host this policy can read (userinfo, backslashes, encodings).
failures.app contains reason("HOST_NOT_ALLOWED", "app", sprintf("calls to %s are not on the allowlist", [input.intent.resource.id])) if {
	not host_allowed
}

passed.app contains "method_permitted" if {
	http_method in {"GET", "HEAD"}
}

# Writes only from a workflow step that is allowed to write.
passed.app contains "method_permitted" if {
	http_method in write_methods
	input.intent.session.workflow_step in data.intentgate.config.app.write_steps
}

failures.app contains reason("METHOD_NOT_PERMITTED", "app", sprintf("%s from workflow step %s", [http_method, input.intent.session.workflow_step])) if {
	not http_method in {"GET", "HEAD"}
	not write_step_ok
}

write_step_ok if {
	http_method in write_methods
	input.intent.session.workflow_step in data.intentgate.config.app.write_steps
}

reviewable.app := set()

# Nothing in this domain escalates by itself.
escalations.app := set()
