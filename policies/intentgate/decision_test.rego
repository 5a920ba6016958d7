package intentgate.decision_test

import rego.v1

import data.intentgate.decision

agent := "spiffe://example.org/agents/helper"

base_intent(domain, name, reversible, resource) := {
	"intent_id": "3b241101-e2bb-4255-8caf-4136c566a962",
	"submitted_at": "2026-11-23T12:00:00Z",
	"subject": {"type": "agent", "id": agent, "properties": {"autonomy": "supervised"}},
	"delegation": [
		{"principal": "alice@example.org", "kind": "human", "scope": ["*"]},
		{"principal": agent, "kind": "agent", "scope": [concat(":", [domain, "*"])]},
	],
	"session": {"id": "s1", "workflow_step": "reconcile", "request_source": "user"},
	"action": {"name": name, "domain": domain, "reversible": reversible},
	"resource": resource,
	"context": {},
}

base_context := {
	"now": {"unix_ms": 1795000000000, "hour_utc": 12, "weekday": 2},
	"session": {"exported_rows": 0, "actions": 0, "denied": 0},
	"resource": {"sensitivity": null},
	"agent": {"revoked": false},
	"revoked": [],
}

table(sensitivity) := {"type": "table", "id": "billing.invoices", "properties": {"sensitivity": sensitivity}}

input_for(intent) := {"intent": intent, "context": base_context}

verdict(inp) := v if {
	v := decision.decision.verdict with input as inp
}

codes(inp) := c if {
	d := decision.decision with input as inp
	c := {r.code | some r in d.reasons}
}

# --- data -------------------------------------------------------------------

test_data_query_allowed if {
	verdict(input_for(base_intent("data", "data.query", true, table("confidential")))) == "allow"
}

test_confidential_export_gets_audit_obligation if {
	i := object.union(base_intent("data", "data.export", true, table("confidential")), {"context": {"rows": 10}})
	d := decision.decision with input as input_for(i)
	d.verdict == "allow"
	d.obligations.audit == "full"
}

test_export_over_session_budget_denied if {
	i := object.union(base_intent("data", "data.export", true, table("confidential")), {"context": {"rows": 200}})
	inp := object.union(input_for(i), {"context": {"session": {"exported_rows": 900}}})
	verdict(inp) == "deny"
	"EXPORT_BUDGET_EXCEEDED" in codes(inp)
}

test_export_with_negative_size_denied if {
	# -5 rows would otherwise fit a session already at its budget (and lower its total).
	i := object.union(base_intent("data", "data.export", true, table("confidential")), {"context": {"rows": -5}})
	inp := object.union(input_for(i), {"context": {"session": {"exported_rows": 1000}}})
	verdict(inp) == "deny"
	codes(inp) == {"EXPORT_SIZE_INVALID"}
}

test_export_with_fractional_size_denied if {
	i := object.union(base_intent("data", "data.export", true, table("internal")), {"context": {"rows": 0.5}})
	verdict(input_for(i)) == "deny"
	"EXPORT_SIZE_INVALID" in codes(input_for(i))
}

test_export_of_zero_rows_allowed if {
	i := object.union(base_intent("data", "data.export", true, table("internal")), {"context": {"rows": 0}})
	verdict(input_for(i)) == "allow"
}

test_export_without_size_denied if {
	inp := input_for(base_intent("data", "data.export", true, table("internal")))
	"EXPORT_SIZE_UNKNOWN" in codes(inp)
}

test_store_label_overrides_lower_caller_label if {
	i := object.union(base_intent("data", "data.export", true, table("public")), {"context": {"rows": 5}})
	inp := object.union(input_for(i), {"context": {"resource": {"sensitivity": "restricted"}}})
	"RESTRICTED_DATA" in codes(inp)
}

test_restricted_query_by_autonomous_agent_denied if {
	i := object.union(base_intent("data", "data.query", true, table("restricted")), {"subject": {"properties": {"autonomy": "autonomous"}}})
	"RESTRICTED_DATA" in codes(input_for(i))
}

test_irreversible_delete_of_confidential_data_escalates if {
	inp := input_for(base_intent("data", "data.delete", false, table("confidential")))
	verdict(inp) == "escalate"
	"IRREVERSIBLE_HIGH_IMPACT" in codes(inp)
	d := decision.decision with input as inp
	d.obligations.approval.deadline_seconds == 300
}

# --- common -----------------------------------------------------------------

test_out_of_scope_denied if {
	i := base_intent("data", "data.query", true, table("internal"))
	narrowed := json.patch(i, [{"op": "replace", "path": "/delegation/1/scope", "value": ["data:data.export"]}])
	inp := input_for(narrowed)
	verdict(inp) == "deny"
	"OUT_OF_SCOPE" in codes(inp)
}

test_revoked_principal_denied if {
	inp := object.union(input_for(base_intent("data", "data.query", true, table("internal"))), {"context": {"revoked": ["alice@example.org"]}})
	"PRINCIPAL_REVOKED" in codes(inp)
}

test_tool_output_cannot_trigger_irreversible_action if {
	i := object.union(base_intent("data", "data.delete", false, table("public")), {"session": {"request_source": "tool_output"}})
	inp := input_for(i)
	verdict(inp) == "deny"
	"TAINTED_SOURCE" in codes(inp)
}

test_chain_must_end_at_subject if {
	i := json.patch(base_intent("data", "data.query", true, table("internal")), [{"op": "replace", "path": "/delegation/1/principal", "value": "spiffe://example.org/agents/other"}])
	"CHAIN_SUBJECT_MISMATCH" in codes(input_for(i))
}

# Fail closed: missing context is not "no problem", it is no positive guard.
test_missing_context_field_denies if {
	inp := {"intent": base_intent("data", "data.query", true, table("internal")), "context": json.remove(base_context, ["revoked"])}
	verdict(inp) == "deny"
	"GUARD_UNDEFINED" in codes(inp)
}

test_unknown_domain_denies if {
	inp := input_for(base_intent("crypto", "mine", true, table("public")))
	verdict(inp) == "deny"
}

# An unknown domain has no rules of its own, but the common rules' denials still stand.
test_unknown_domain_keeps_common_denials if {
	inp := object.union(input_for(base_intent("crypto", "mine", true, table("public"))), {"context": {"revoked": ["alice@example.org"]}})
	verdict(inp) == "deny"
	codes(inp) == {"PRINCIPAL_REVOKED"}
}

test_empty_input_denies if {
	verdict({}) == "deny"
}

# --- infra ------------------------------------------------------------------

service(env) := {"type": "service", "id": "payments-api", "properties": {"sensitivity": "internal", "environment": env}}

test_staging_restart_allowed if {
	verdict(input_for(base_intent("infra", "infra.restart", true, service("staging")))) == "allow"
}

test_production_change_outside_window_denied if {
	inp := object.union(input_for(base_intent("infra", "infra.config.change", true, service("production"))), {"context": {"now": {"hour_utc": 23}}})
	"OUTSIDE_CHANGE_WINDOW" in codes(inp)
}

test_production_change_by_autonomous_agent_escalates if {
	i := object.union(base_intent("infra", "infra.scale", true, service("production")), {"subject": {"properties": {"autonomy": "autonomous"}}})
	verdict(input_for(i)) == "escalate"
}

test_irreversible_infra_action_escalates if {
	inp := input_for(base_intent("infra", "infra.delete", false, service("staging")))
	verdict(inp) == "escalate"
	"IRREVERSIBLE_IN_DOMAIN" in codes(inp)
}

# --- app --------------------------------------------------------------------

endpoint(url) := {"type": "http_endpoint", "id": url, "properties": {"sensitivity": "internal"}}

test_get_on_allowed_host_allowed if {
	verdict(input_for(base_intent("app", "http.get", true, endpoint("http://127.0.0.1:8080/orders")))) == "allow"
}

test_unknown_host_denied if {
	"HOST_NOT_ALLOWED" in codes(input_for(base_intent("app", "http.get", true, endpoint("https://evil.example.com/x"))))
}

test_write_from_research_step_denied if {
	i := object.union(base_intent("app", "http.post", true, endpoint("http://localhost/orders")), {"session": {"workflow_step": "research"}})
	"METHOD_NOT_PERMITTED" in codes(input_for(i))
}

# --- ai ---------------------------------------------------------------------

tool(id) := {"type": "mcp_tool", "id": id, "properties": {"sensitivity": "internal"}}

test_allowed_tool_call_allowed if {
	verdict(input_for(base_intent("ai", "mcp.tool.call", true, tool("demo/search")))) == "allow"
}

test_unlisted_tool_denied if {
	"TOOL_NOT_ALLOWED" in codes(input_for(base_intent("ai", "mcp.tool.call", true, tool("demo/rm_rf"))))
}

test_deep_delegation_denied if {
	i := base_intent("ai", "a2a.call", true, tool("agent/planner"))
	hop := {"principal": "svc", "kind": "service", "scope": ["*"]}
	deep := object.union(i, {"delegation": array.concat([hop, hop, hop, hop], i.delegation)})
	"DELEGATION_TOO_DEEP" in codes(input_for(deep))
}
