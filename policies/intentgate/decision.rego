# IntentGate decision entrypoint: intentgate/decision/decision.
#
# Fail-closed by construction. Nothing here is "allow unless a deny rule fires": every
# condition for allow is a positive guard that must evaluate to true. A guard whose rule
# errors or is undefined is simply missing, and a missing guard denies (GUARD_UNDEFINED).
# Escalation is also a guard ("no_review_needed"), so an erroring escalation rule can never
# turn into an allow.
package intentgate.decision

import rego.v1

import data.intentgate.common
import data.intentgate.domains

domain := input.intent.action.domain

# Guards every domain needs, plus the acting domain's own; the same for passed guards,
# denials and escalations. Only the acting domain's rules are evaluated, no other domain's.
# An unknown domain has no rules: no required guards, so never an allow or an escalation, but
# the common rules' denials still stand. (Spelled out domain by domain: in Wasm, comparing the
# domain is much cheaper than a lookup such as domains.passed[domain]. A new domain is added
# to each of these.)
required_guards := common.guards_required | domains.required.app if domain == "app"
else := common.guards_required | domains.required.data if domain == "data"
else := common.guards_required | domains.required.infra if domain == "infra"
else := common.guards_required | domains.required.ai if domain == "ai"

passed_guards := common.passed | domains.passed.app if domain == "app"
else := common.passed | domains.passed.data if domain == "data"
else := common.passed | domains.passed.infra if domain == "infra"
else := common.passed | domains.passed.ai if domain == "ai"
else := common.passed

missing_guards := required_guards - passed_guards

deny_reasons := common.failures | domains.failures.app if domain == "app"
else := common.failures | domains.failures.data if domain == "data"
else := common.failures | domains.failures.infra if domain == "infra"
else := common.failures | domains.failures.ai if domain == "ai"
else := common.failures

escalation_reasons := common.escalations | domains.escalations.app if domain == "app"
else := common.escalations | domains.escalations.data if domain == "data"
else := common.escalations | domains.escalations.infra if domain == "infra"
else := common.escalations | domains.escalations.ai if domain == "ai"
else := common.escalations

domain_reviewable := domains.reviewable.app if domain == "app"
else := domains.reviewable.data if domain == "data"
else := domains.reviewable.infra if domain == "infra"
else := domains.reviewable.ai if domain == "ai"

# Guards a reviewer can stand in for; the others must pass even for an escalation.
review_guards := required_guards - ({"no_review_needed"} | domain_reviewable)

# The safety net: when nothing below can be computed (unknown domain, malformed input), deny.
default decision := {
	"verdict": "deny",
	"reasons": [{"code": "NO_DECISION", "rule": "intentgate.decision", "message": "the policy could not form a decision for this input"}],
	"obligations": {},
}

# The claims a decision overruled are named after its own reasons, whatever the verdict.
notes := sort_reasons(common.notes)

decision := {
	"verdict": "deny",
	"reasons": array.concat(sort_reasons(deny_reasons), notes),
	"obligations": {},
} if {
	count(deny_reasons) > 0
} else := {
	"verdict": "escalate",
	"reasons": array.concat(sort_reasons(escalation_reasons), notes),
	"obligations": {"approval": approval_obligation},
} if {
	count(escalation_reasons) > 0
	count(review_guards - passed_guards) == 0
} else := {
	"verdict": "allow",
	"reasons": array.concat([{"code": "ALL_GUARDS_PASSED", "rule": "intentgate.decision", "message": concat(", ", sort(required_guards))}], notes),
	"obligations": allow_obligations,
} if {
	count(missing_guards) == 0
	count(escalation_reasons) == 0
} else := {
	"verdict": "deny",
	"reasons": array.concat([{
		"code": "GUARD_UNDEFINED",
		"rule": "intentgate.decision",
		"message": concat("", ["no positive result for: ", concat(", ", sort(missing_guards))]),
	}], notes),
	"obligations": {},
}

approval_obligation := {
	"quorum": object.get(data.intentgate.config.approval.quorum, domain, 1),
	"deadline_seconds": data.intentgate.config.approval.deadline_seconds,
}

allow_obligations := object.union(audit_obligation, export_obligation)

audit_obligation := {"audit": "full"} if common.effective_sensitivity in {"confidential", "restricted"}

else := {}

export_obligation := {"export_budget": domains.export_reservation.data} if {
	domain == "data"
	domains.export_reservation.data
}

else := {}

sort_reasons(reasons) := [r |
	some key in sort([k | some x in reasons; k := concat("|", [x.code, x.rule, x.message])])
	some r in reasons
	concat("|", [r.code, r.rule, r.message]) == key
]
