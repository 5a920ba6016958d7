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
	"usage": {"exported_rows": 0},
	"resource": {"sensitivity": null, "environment": null},
	"agent": {
		"revoked": false, "registered": true, "status": "active", "owner": "alice@example.org",
		"autonomy": "assisted", "domains": ["app", "data", "infra", "ai"], "actions": ["*"],
	},
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

test_allowed_export_carries_its_budget_for_the_reservation if {
	i := object.union(base_intent("data", "data.export", true, table("confidential")), {"context": {"rows": 10}})
	d := decision.decision with input as input_for(i)
	d.verdict == "allow"
	d.obligations.export_budget == {"rows": 10, "session_limit": 1000, "agent_limit": 10000}
}

test_query_carries_no_export_budget if {
	d := decision.decision with input as input_for(base_intent("data", "data.query", true, table("confidential")))
	d.verdict == "allow"
	not d.obligations.export_budget
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
	codes(inp) == {"EXPORT_SIZE_INVALID", "REVERSIBLE_CLAIM_OVERRULED"}
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
	verdict(inp) == "deny"
}

test_store_label_overrides_lower_caller_label if {
	i := object.union(base_intent("data", "data.export", true, table("public")), {"context": {"rows": 5}})
	inp := object.union(input_for(i), {"context": {"resource": {"sensitivity": "restricted"}}})
	"RESTRICTED_DATA" in codes(inp)
}

test_restricted_query_by_autonomous_agent_denied if {
	i := object.union(base_intent("data", "data.query", true, table("restricted")), {"subject": {"properties": {"autonomy": "autonomous"}}})
	"RESTRICTED_DATA" in codes(input_for(i))
	verdict(input_for(i)) == "deny"
}

test_irreversible_delete_of_confidential_data_escalates if {
	inp := input_for(object.union(base_intent("data", "data.delete", false, table("confidential")), {"context": {"rows": 5}}))
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
	verdict(inp) == "deny"
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
	codes(inp) == {"AGENT_DOMAIN_NOT_PERMITTED", "PRINCIPAL_REVOKED", "UNKNOWN_ACTION"}
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
	verdict(inp) == "deny"
}

test_production_change_by_autonomous_agent_escalates if {
	i := object.union(base_intent("infra", "infra.scale", true, service("production")), {"subject": {"properties": {"autonomy": "autonomous"}}, "context": {"config": {"replicas": 3}}})
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
	verdict(input_for(base_intent("app", "http.get", true, endpoint("https://evil.example.com/x")))) == "deny"
}

test_write_from_research_step_denied if {
	i := object.union(base_intent("app", "http.post", true, endpoint("http://localhost/orders")), {"session": {"workflow_step": "research"}})
	"METHOD_NOT_PERMITTED" in codes(input_for(i))
	verdict(input_for(i)) == "deny"
}

# --- ai ---------------------------------------------------------------------

tool(id) := {"type": "mcp_tool", "id": id, "properties": {"sensitivity": "internal"}}

test_allowed_tool_call_allowed if {
	verdict(input_for(base_intent("ai", "mcp.tool.call", true, tool("demo/search")))) == "allow"
}

test_unlisted_tool_denied if {
	"TOOL_NOT_ALLOWED" in codes(input_for(base_intent("ai", "mcp.tool.call", true, tool("demo/rm_rf"))))
	verdict(input_for(base_intent("ai", "mcp.tool.call", true, tool("demo/rm_rf")))) == "deny"
}

test_deep_delegation_denied if {
	i := base_intent("ai", "a2a.call", true, tool("agent/planner"))
	hop := {"principal": "svc", "kind": "service", "scope": ["*"]}
	deep := object.union(i, {"delegation": array.concat([hop, hop, hop, hop], i.delegation)})
	"DELEGATION_TOO_DEEP" in codes(input_for(deep))
	verdict(input_for(deep)) == "deny"
}

# --- the action catalog: what an action is comes from the bundle, not the intent -------------

with_context(i, ctx) := object.union(i, {"context": ctx})

test_uncataloged_action_denied if {
	inp := input_for(base_intent("data", "data.drop", true, table("internal")))
	verdict(inp) == "deny"
	"UNKNOWN_ACTION" in codes(inp)
}

test_action_in_another_domain_denied if {
	# data.delete named as an app action: the app rules would never see a table.
	inp := input_for(with_context(base_intent("app", "data.delete", true, endpoint("http://localhost/x")), {"rows": 1}))
	verdict(inp) == "deny"
	"ACTION_DOMAIN_MISMATCH" in codes(inp)
}

test_bound_argument_missing_denied if {
	# Without context.rows the data executor would pick a number of rows itself.
	inp := input_for(base_intent("data", "data.delete", false, table("internal")))
	verdict(inp) == "deny"
	"ACTION_ARGUMENT_MISSING" in codes(inp)
}

test_delete_called_reversible_still_escalates if {
	inp := input_for(with_context(base_intent("data", "data.delete", true, table("confidential")), {"rows": 100}))
	verdict(inp) == "escalate"
	codes(inp) == {"IRREVERSIBLE_HIGH_IMPACT", "REVERSIBLE_CLAIM_OVERRULED"}
}

test_infra_delete_called_reversible_still_escalates if {
	inp := input_for(base_intent("infra", "infra.delete", true, service("production")))
	verdict(inp) == "escalate"
	"IRREVERSIBLE_IN_DOMAIN" in codes(inp)
	"REVERSIBLE_CLAIM_OVERRULED" in codes(inp)
}

test_delete_called_reversible_from_tool_output_denied if {
	i := object.union(with_context(base_intent("data", "data.delete", true, table("internal")), {"rows": 1}), {"session": {"request_source": "tool_output"}})
	verdict(input_for(i)) == "deny"
	"TAINTED_SOURCE" in codes(input_for(i))
}

test_claim_of_irreversible_is_honoured if {
	# A query can be undone (it changes nothing), but the agent calls it irreversible.
	inp := input_for(base_intent("data", "data.query", false, table("confidential")))
	verdict(inp) == "escalate"
	"IRREVERSIBLE_HIGH_IMPACT" in codes(inp)
}

test_stating_the_catalog_changes_nothing if {
	# An export stated irreversible (as the catalog says) and one stated reversible: one decision.
	honest := with_context(base_intent("data", "data.export", false, table("confidential")), {"rows": 10})
	claimed := with_context(base_intent("data", "data.export", true, table("confidential")), {"rows": 10})
	verdict(input_for(honest)) == "allow"
	verdict(input_for(claimed)) == "allow"
	codes(input_for(honest)) == {"ALL_GUARDS_PASSED"}
	codes(input_for(claimed)) == {"ALL_GUARDS_PASSED", "REVERSIBLE_CLAIM_OVERRULED"}
}

test_destructive_tool_hint_tightens if {
	# The MCP gateway states a tool with destructiveHint as irreversible: from tool output, denied.
	i := object.union(base_intent("ai", "mcp.tool.call", false, tool("demo/write_note")), {"session": {"request_source": "tool_output"}})
	verdict(input_for(i)) == "deny"
	"TAINTED_SOURCE" in codes(input_for(i))
}

# --- the agent registry: who the agent may be comes from the context store ------------------

with_agent(inp, fields) := object.union(inp, {"context": {"agent": fields}})

query_input := input_for(base_intent("data", "data.query", true, table("internal")))

test_unregistered_agent_denied if {
	inp := with_agent(query_input, {"registered": false, "status": null, "autonomy": null, "domains": [], "actions": []})
	verdict(inp) == "deny"
	"AGENT_UNKNOWN" in codes(inp)
}

test_suspended_agent_denied if {
	inp := with_agent(query_input, {"status": "suspended"})
	verdict(inp) == "deny"
	"AGENT_SUSPENDED" in codes(inp)
}

test_agent_status_unknown_denied if {
	verdict(with_agent(query_input, {"status": "paused"})) == "deny"
}

test_agent_outside_its_domains_denied if {
	inp := with_agent(query_input, {"domains": ["app"]})
	"AGENT_DOMAIN_NOT_PERMITTED" in codes(inp)
	verdict(inp) == "deny"
}

test_agent_outside_its_actions_denied if {
	inp := with_agent(query_input, {"actions": ["data.export"]})
	"AGENT_ACTION_NOT_PERMITTED" in codes(inp)
	verdict(inp) == "deny"
}

test_agent_listed_action_allowed if {
	verdict(with_agent(query_input, {"actions": ["data.query"]})) == "allow"
}

test_registry_without_agent_fields_denies if {
	inp := {"intent": base_intent("data", "data.query", true, table("internal")), "context": json.remove(base_context, ["agent/registered"])}
	verdict(inp) == "deny"
}

test_autonomy_claim_cannot_loosen if {
	# The registry says autonomous; the agent says supervised to read restricted data.
	inp := with_agent(input_for(base_intent("data", "data.query", true, table("restricted"))), {"autonomy": "autonomous"})
	verdict(inp) == "deny"
	"RESTRICTED_DATA" in codes(inp)
	"AUTONOMY_CLAIM_OVERRULED" in codes(inp)
}

test_autonomy_claim_can_tighten if {
	i := object.union(base_intent("data", "data.query", true, table("restricted")), {"subject": {"properties": {"autonomy": "autonomous"}}})
	verdict(input_for(i)) == "deny"
}

# --- resource labels: the store's, else a floor; a caller may only raise them -----------------

test_unlabelled_resource_is_at_least_confidential if {
	# An export of 2,000 "public" rows: over the confidential budget, the floor for an unlabelled table.
	i := with_context(base_intent("data", "data.export", false, table("public")), {"rows": 2000})
	"EXPORT_BUDGET_EXCEEDED" in codes(input_for(i))
}

test_unlabelled_resource_delete_escalates if {
	# A resource the store does not know (a misspelt or re-cased name): reviewed, not waved through.
	i := with_context(base_intent("data", "data.delete", false, {"type": "Table", "id": "BILLING.INVOICES", "properties": {"sensitivity": "internal"}}), {"rows": 100})
	verdict(input_for(i)) == "escalate"
}

test_unknown_store_label_is_the_strictest if {
	# "secret" is no label the policy knows: treated as restricted (not as no label at all).
	i := with_context(base_intent("data", "data.export", false, table("public")), {"rows": 1})
	inp := object.union(input_for(i), {"context": {"resource": {"sensitivity": "secret"}}})
	verdict(inp) == "deny"
	"RESTRICTED_DATA" in codes(inp)
	get := object.union(input_for(base_intent("app", "http.get", true, endpoint("http://localhost/x"))), {"context": {"resource": {"sensitivity": "Restricted"}}})
	d := decision.decision with input as get
	d.verdict == "allow"
	d.obligations.audit == "full"
}

test_catalog_entry_without_binds_is_no_entry if {
	# (`with` merges into the catalog's data, so the entry is a new action of its own.)
	inp := input_for(base_intent("data", "data.peek", true, table("internal")))
	verdict(inp) == "deny" with data.intentgate.catalog.actions as {"data.peek": {"domain": "data", "reversible": true, "impact": "low", "executor": "executor-data"}}
	verdict(inp) == "allow" with data.intentgate.catalog.actions as {"data.peek": {"domain": "data", "reversible": true, "impact": "low", "executor": "executor-data", "binds": []}}
}

test_labelled_internal_delete_needs_no_review if {
	i := with_context(base_intent("data", "data.delete", false, table("internal")), {"rows": 1})
	verdict(object.union(input_for(i), {"context": {"resource": {"sensitivity": "internal"}}})) == "allow"
}

test_agent_budget_across_sessions if {
	# A new session per export: the agent's own total still counts.
	i := with_context(base_intent("data", "data.export", false, table("confidential")), {"rows": 1000})
	inp := object.union(input_for(i), {"context": {"usage": {"exported_rows": 9500}}})
	verdict(inp) == "deny"
	"AGENT_EXPORT_BUDGET_EXCEEDED" in codes(inp)
}

test_delete_rows_must_be_a_count if {
	every rows in [false, "all", -1, 2.5] {
		i := with_context(base_intent("data", "data.delete", false, table("internal")), {"rows": rows})
		verdict(input_for(i)) == "deny"
		"ROWS_INVALID" in codes(input_for(i))
	}
}

test_host_with_userinfo_is_not_allowed if {
	every url in ["http://localhost:80@evil.example/orders", "http://api.example.internal:x@169.254.169.254/latest", "http://localhost\\@evil.example/", "http://localhost%40evil.example/", "http://127.0.0.1:8080@evil/"] {
		"HOST_NOT_ALLOWED" in codes(input_for(base_intent("app", "http.get", true, endpoint(url))))
	}
}

test_host_with_port_and_path_allowed if {
	verdict(input_for(base_intent("app", "http.get", true, endpoint("http://127.0.0.1:8080/orders?x=1")))) == "allow"
	verdict(input_for(base_intent("app", "http.get", true, endpoint("http://localhost")))) == "allow"
}

test_unlabelled_service_is_production if {
	# "staging" is the agent's word; without the store's label the service is treated as production.
	inp := object.union(input_for(base_intent("infra", "infra.restart", true, service("staging"))), {"context": {"now": {"hour_utc": 23}}})
	"OUTSIDE_CHANGE_WINDOW" in codes(inp)
}

test_labelled_staging_service_outside_window_allowed if {
	inp := object.union(input_for(base_intent("infra", "infra.restart", true, service("staging"))), {"context": {"now": {"hour_utc": 23}, "resource": {"environment": "staging"}}})
	verdict(inp) == "allow"
}

test_store_says_production_agent_says_staging if {
	inp := object.union(input_for(base_intent("infra", "infra.restart", true, service("staging"))), {"context": {"now": {"hour_utc": 23}, "resource": {"environment": "production"}}})
	"OUTSIDE_CHANGE_WINDOW" in codes(inp)
}
