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

intent := input.intent

domain := intent.action.domain

# Guards every domain needs, plus the domain's own.
required_guards := common.guards_required | domains.required[domain]

passed_guards := common.passed | domain_passed

missing_guards := required_guards - passed_guards

deny_reasons := common.failures | domain_failures

escalation_reasons := common.escalations | domain_escalations

# Only the acting domain's rules are evaluated: domains.passed[domain] calls the rules of
# that domain and no other's. An unknown domain has no rules: no required guards, so never
# an allow or an escalation, but the common rules' denials still stand.
default domain_passed := set()

domain_passed := domains.passed[domain]

default domain_failures := set()

domain_failures := domains.failures[domain]

default domain_escalations := set()

domain_escalations := domains.escalations[domain]

# Guards a reviewer can stand in for; the others must pass even for an escalation.
review_guards := required_guards - ({"no_review_needed"} | domains.reviewable[domain])

# The safety net: when nothing below can be computed (unknown domain, malformed input), deny.
default decision := {
	"verdict": "deny",
	"reasons": [{"code": "NO_DECISION", "rule": "intentgate.decision", "message": "the policy could not form a decision for this input"}],
	"obligations": {},
}

decision := {
	"verdict": "deny",
	"reasons": sort_reasons(deny_reasons),
	"obligations": {},
} if {
	count(deny_reasons) > 0
} else := {
	"verdict": "escalate",
	"reasons": sort_reasons(escalation_reasons),
	"obligations": {"approval": approval_obligation},
} if {
	count(escalation_reasons) > 0
	count(review_guards - passed_guards) == 0
} else := {
	"verdict": "allow",
	"reasons": [{"code": "ALL_GUARDS_PASSED", "rule": "intentgate.decision", "message": concat(", ", sort(required_guards))}],
	"obligations": allow_obligations,
} if {
	count(missing_guards) == 0
	count(escalation_reasons) == 0
} else := {
	"verdict": "deny",
	"reasons": [{
		"code": "GUARD_UNDEFINED",
		"rule": "intentgate.decision",
		"message": concat("", ["no positive result for: ", concat(", ", sort(missing_guards))]),
	}],
	"obligations": {},
}

approval_obligation := {
	"quorum": object.get(data.intentgate.config.approval.quorum, domain, 1),
	"deadline_seconds": data.intentgate.config.approval.deadline_seconds,
}

allow_obligations := {"audit": "full"} if common.effective_sensitivity in {"confidential", "restricted"}

else := {}

sort_reasons(reasons) := [r |
	some key in sort([k | some x in reasons; k := concat("|", [x.code, x.rule, x.message])])
	some r in reasons
	concat("|", [r.code, r.rule, r.message]) == key
]
