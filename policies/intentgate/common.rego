# Checks every intent passes, whatever its domain: the delegation chain, revocations, the
# request's provenance, and reversibility.
package intentgate.common

import rego.v1

action_scope := concat(":", [input.intent.action.domain, input.intent.action.name])

guards_required := {"scope", "chain_ends_at_subject", "principals_active", "source_trusted", "no_review_needed"}

sensitivity_rank := {"public": 0, "internal": 1, "confidential": 2, "restricted": 3}

# The context store's label (stored) wins over the caller's (claimed), except that a caller
# may only raise it.
effective_sensitivity := claimed if {
	input.context.resource.sensitivity == null
	claimed := input.intent.resource.properties.sensitivity
}

effective_sensitivity := stored if {
	stored := input.context.resource.sensitivity
	stored != null
	sensitivity_rank[stored] >= sensitivity_rank[input.intent.resource.properties.sensitivity]
}

effective_sensitivity := claimed if {
	stored := input.context.resource.sensitivity
	stored != null
	claimed := input.intent.resource.properties.sensitivity
	sensitivity_rank[stored] < sensitivity_rank[claimed]
}

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
	input.intent.action.reversible == true
}

failures contains reason("TAINTED_SOURCE", "source_trusted", sprintf("an irreversible action requested from %s", [input.intent.session.request_source])) if {
	from_untrusted_source
	input.intent.action.reversible == false
}

failures contains reason("UNKNOWN_SOURCE", "source_trusted", sprintf("unknown request source %s", [input.intent.session.request_source])) if {
	not from_trusted_source
	not from_untrusted_source
}

# Reversible, or irreversible but low impact: no human needed.
passed contains "no_review_needed" if input.intent.action.reversible == true

passed contains "no_review_needed" if {
	input.intent.action.reversible == false
	sensitivity_rank[effective_sensitivity] <= sensitivity_rank.internal
	not input.intent.action.domain in data.intentgate.config.review_irreversible_domains
}

escalations contains reason("IRREVERSIBLE_HIGH_IMPACT", "no_review_needed", sprintf("irreversible %s on a %s resource needs human confirmation", [input.intent.action.name, effective_sensitivity])) if {
	input.intent.action.reversible == false
	sensitivity_rank[effective_sensitivity] > sensitivity_rank.internal
}

escalations contains reason("IRREVERSIBLE_IN_DOMAIN", "no_review_needed", sprintf("irreversible %s actions always need human confirmation", [input.intent.action.domain])) if {
	input.intent.action.reversible == false
	input.intent.action.domain in data.intentgate.config.review_irreversible_domains
}

reason(code, rule, message) := {"code": code, "rule": concat(".", ["intentgate.common", rule]), "message": message}
