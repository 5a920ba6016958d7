# Checks every intent passes, whatever its domain: the action catalog, the agent registry, the
# delegation chain, revocations, the request's provenance, and reversibility.
#
# Nothing the agent writes may loosen a decision. What an action is (its domain, whether it can
# be undone, how much it matters) comes from the action catalog (data.intentgate.catalog, part
# of the bundle); who the agent is allowed to be (status, autonomy, domains, actions) comes from
# the agent registry in the context store (input.context.agent). The intent's own statements of
# these can only make the decision stricter.
package intentgate.common

import rego.v1

action_scope := concat(":", [input.intent.action.domain, input.intent.action.name])

guards_required := {"action_cataloged", "agent_registered", "scope", "chain_ends_at_subject", "principals_active", "source_trusted", "no_review_needed"}

sensitivity_rank := {"public": 0, "internal": 1, "confidential": 2, "restricted": 3}

# The context store's label (stored) wins over the caller's (claimed), except that a caller
# may only raise it. An unlabelled resource is at least the configured floor: the caller's word
# alone never makes a resource less sensitive than that.
# A label the policy does not know ("secret", "Restricted") is the strictest there is, not none.
stored_sensitivity := input.context.resource.sensitivity if sensitivity_rank[input.context.resource.sensitivity] >= 0

else := "restricted" if input.context.resource.sensitivity != null

else := data.intentgate.config.unlabelled.sensitivity

effective_sensitivity := stored_sensitivity if {
	sensitivity_rank[stored_sensitivity] >= sensitivity_rank[input.intent.resource.properties.sensitivity]
}

effective_sensitivity := claimed if {
	claimed := input.intent.resource.properties.sensitivity
	sensitivity_rank[stored_sensitivity] < sensitivity_rank[claimed]
}

# The environment a resource runs in, the same way: the store's label, else the configured
# floor (production); a caller may name production for a resource the store calls otherwise.
environment := "production" if input.intent.resource.properties.environment == "production"

else := input.context.resource.environment if input.context.resource.environment != null

else := data.intentgate.config.unlabelled.environment

# --- the action catalog -------------------------------------------------------------------

catalog := data.intentgate.catalog

catalog_entry := catalog.actions[input.intent.action.name]

# Per-tool actions (MCP tool calls) take reversibility and impact from their tool's entry.
catalog_fact(field) := catalog.mcp_tools[input.intent.resource.id][field] if catalog_entry.per_tool == "mcp_tools"

else := catalog_entry[field] if not catalog_entry.per_tool

catalog_reversible := catalog_fact("reversible")

impact := catalog_fact("impact")

# Reversible only when the catalog says so and the agent does not say otherwise.
effective_reversible if {
	catalog_reversible == true
	input.intent.action.reversible == true
}

stated(key) if input.intent.context[key] != null

passed contains "action_cataloged" if {
	catalog_entry.domain == input.intent.action.domain
	# An entry without its list of binding arguments is no entry to pass on (every over nothing is true).
	is_array(catalog_entry.binds)
	every key in catalog_entry.binds {
		stated(key)
	}
}

failures contains reason("UNKNOWN_ACTION", "action_cataloged", sprintf("%s is not in the action catalog", [input.intent.action.name])) if {
	not catalog_entry
}

failures contains reason("ACTION_DOMAIN_MISMATCH", "action_cataloged", sprintf("%s is a %s action; the intent names domain %s", [input.intent.action.name, catalog_entry.domain, input.intent.action.domain])) if {
	catalog_entry.domain != input.intent.action.domain
}

# What an executor acts on must be in the decided input, not filled in by its defaults.
failures contains reason("ACTION_ARGUMENT_MISSING", "action_cataloged", sprintf("%s needs context.%s stated", [input.intent.action.name, key])) if {
	some key in catalog_entry.binds
	not stated(key)
}

# Said alongside the verdict, whatever it is: a claim the decision did not follow.
notes contains reason("REVERSIBLE_CLAIM_OVERRULED", "reversibility", sprintf("the intent calls %s reversible; the action catalog says it is not, so it was decided as irreversible", [input.intent.action.name])) if {
	input.intent.action.reversible == true
	catalog_reversible == false
}

# --- the agent registry -------------------------------------------------------------------

agent := input.context.agent

agent_may_act if "*" in agent.actions

agent_may_act if input.intent.action.name in agent.actions

passed contains "agent_registered" if {
	agent.registered == true
	agent.status == "active"
	input.intent.action.domain in agent.domains
	agent_may_act
}

failures contains reason("AGENT_UNKNOWN", "agent_registered", sprintf("%s is not in the agent registry", [input.intent.subject.id])) if {
	agent.registered == false
}

failures contains reason("AGENT_SUSPENDED", "agent_registered", sprintf("%s is suspended in the agent registry", [input.intent.subject.id])) if {
	agent.registered == true
	agent.status == "suspended"
}

failures contains reason("AGENT_STATUS_UNKNOWN", "agent_registered", sprintf("the agent registry gives %s an unknown status", [input.intent.subject.id])) if {
	agent.registered == true
	not agent.status in {"active", "suspended"}
}

failures contains reason("AGENT_DOMAIN_NOT_PERMITTED", "agent_registered", sprintf("%s may not act in domain %s", [input.intent.subject.id, input.intent.action.domain])) if {
	agent.registered == true
	not input.intent.action.domain in agent.domains
}

failures contains reason("AGENT_ACTION_NOT_PERMITTED", "agent_registered", sprintf("%s may not request %s", [input.intent.subject.id, input.intent.action.name])) if {
	agent.registered == true
	input.intent.action.domain in agent.domains
	not agent_may_act
}

# The registry's autonomy, unless the agent states a more autonomous one (less supervision can
# only mean stricter rules, never looser).
autonomy_rank := {"assisted": 0, "supervised": 1, "autonomous": 2}

effective_autonomy := claimed if {
	claimed := input.intent.subject.properties.autonomy
	autonomy_rank[claimed] >= autonomy_rank[agent.autonomy]
}

effective_autonomy := agent.autonomy if {
	autonomy_rank[agent.autonomy] > autonomy_rank[input.intent.subject.properties.autonomy]
}

notes contains reason("AUTONOMY_CLAIM_OVERRULED", "autonomy", sprintf("the intent calls the agent %s; the agent registry says %s, which was decided on", [input.intent.subject.properties.autonomy, agent.autonomy])) if {
	autonomy_rank[agent.autonomy] > autonomy_rank[input.intent.subject.properties.autonomy]
}

# --- the delegation chain -----------------------------------------------------------------

covers(scope, wanted) if "*" in scope
else if wanted in scope
else if concat(":", [split(wanted, ":")[0], "*"]) in scope

# Authority only narrows along the chain: every hop must cover the action.
chain_in_scope if {
	every hop in input.intent.delegation {
		covers(hop.scope, action_scope)
	}
}

passed contains "scope" if chain_in_scope

failures contains reason("OUT_OF_SCOPE", "scope", sprintf("%s is outside the scope delegated by %s", [action_scope, hop.principal])) if {
	not chain_in_scope # when it holds, no hop is out of scope: no need to look again
	some hop in input.intent.delegation
	not covers(hop.scope, action_scope)
}

last_hop := input.intent.delegation[count(input.intent.delegation) - 1]

passed contains "chain_ends_at_subject" if {
	last_hop.principal == input.intent.subject.id
	last_hop.kind == "agent"
}

failures contains reason("CHAIN_SUBJECT_MISMATCH", "chain_ends_at_subject", "the delegation chain does not end at the acting agent") if {
	last := last_hop # a chain with no last hop is no mismatch (and no pass either)
	not last.principal == input.intent.subject.id
}

passed contains "principals_active" if {
	count(input.context.revoked) == 0
	input.context.agent.revoked == false
}

failures contains reason("PRINCIPAL_REVOKED", "principals_active", sprintf("revoked principal in the chain: %s", [p])) if {
	some p in input.context.revoked
}

failures contains reason("AGENT_REVOKED", "principals_active", "the acting agent is revoked") if {
	input.context.agent.revoked == true
}

# Provenance: text produced by a tool (or a web page) must not trigger an irreversible action.
# Each of these is true or false (undefined when there is no request source).
from_trusted_source := input.intent.session.request_source in data.intentgate.config.trusted_sources

from_untrusted_source := input.intent.session.request_source in data.intentgate.config.untrusted_sources

passed contains "source_trusted" if from_trusted_source

passed contains "source_trusted" if {
	from_untrusted_source
	effective_reversible
}

failures contains reason("TAINTED_SOURCE", "source_trusted", sprintf("an irreversible action requested from %s", [input.intent.session.request_source])) if {
	from_untrusted_source
	not effective_reversible
}

failures contains reason("UNKNOWN_SOURCE", "source_trusted", sprintf("unknown request source %s", [input.intent.session.request_source])) if {
	not from_trusted_source
	not from_untrusted_source
}

# Reversible, or irreversible but neither the resource nor the domain calls for a human.
passed contains "no_review_needed" if effective_reversible

passed contains "no_review_needed" if {
	not effective_reversible
	not input.intent.action.domain in data.intentgate.config.review_irreversible_domains
	irreversible_without_review
}

irreversible_without_review if sensitivity_rank[effective_sensitivity] <= sensitivity_rank.internal

# A low-impact action (an export, bounded by its budget instead) needs no review, unless the
# agent itself calls an action the catalog says can be undone irreversible: that stricter word
# is honoured. (Stating what the catalog already says changes nothing.)
irreversible_without_review if {
	impact == "low"
	not claimed_stricter
	sensitivity_rank[effective_sensitivity] >= 0
}

claimed_stricter if {
	catalog_reversible == true
	input.intent.action.reversible == false
}

review_by_impact if impact == "sensitive"

review_by_impact if claimed_stricter

escalations contains reason("IRREVERSIBLE_HIGH_IMPACT", "no_review_needed", sprintf("irreversible %s on a %s resource needs human confirmation", [input.intent.action.name, effective_sensitivity])) if {
	not effective_reversible
	review_by_impact
	sensitivity_rank[effective_sensitivity] > sensitivity_rank.internal
}

escalations contains reason("IRREVERSIBLE_IN_DOMAIN", "no_review_needed", sprintf("irreversible %s actions always need human confirmation", [input.intent.action.domain])) if {
	not effective_reversible
	input.intent.action.domain in data.intentgate.config.review_irreversible_domains
}

reason(code, rule, message) := {"code": code, "rule": concat(".", ["intentgate.common", rule]), "message": message}
