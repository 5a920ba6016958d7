// A settled review as records: the final decision (an allow carries a warrant bound to the
// digest the reviewers saw), the approved intent for the executors, and the approval receipt
// naming every reviewer, their answer, its time and the digest they answered for.
import { approvedTopic, type ApprovalRequest, type ApprovalResponse, type Decision } from '@intentgate/contracts';
import { digestOf, signWarrant, withSignature, type SigningKey } from '@intentgate/evidence';
import type { OutgoingRecord } from '@intentgate/bus';
import { derivedId, type Settlement } from './review.ts';

export interface FinalSettings {
  issuer: string;
  producer: string;
  warrantTtlSeconds: number;
  key: SigningKey;
  /** The key's root certificate, carried in the decisions' signatures. */
  certificate: string;
}

export interface Final {
  decision: Decision;
  records: OutgoingRecord[];
}

const RULE = 'intentgate.approvals';

function denial(request: ApprovalRequest, code: string, message: string, settlement: string, nowMs: number): Decision {
  return {
    decision_id: derivedId(request.decision_id, settlement), intent_id: request.intent_id, intent_digest: request.intent_digest,
    verdict: 'deny', final: true, reasons: [{ code, rule: RULE, message: message.slice(0, 2048) }],
    obligations: { escalation_decision_id: request.decision_id }, policy: request.policy ?? null, input_digest: null,
    decided_at: new Date(nowMs).toISOString(),
  };
}

/** The decision a settlement stands for. Anything short of a well-formed approval is a deny. */
export async function finalDecision(request: ApprovalRequest, settlement: Settlement, settings: FinalSettings, nowMs: number): Promise<Decision> {
  switch (settlement.outcome) {
    case 'timeout':
      return denial(request, 'APPROVAL_TIMEOUT', `no sufficient answer before the deadline ${request.deadline} (${request.quorum} approval(s) needed)`, 'timeout', nowMs);
    case 'invalid':
      return denial(request, 'APPROVAL_REQUEST_INVALID', settlement.message, 'invalid', nowMs);
    case 'denied':
      return denial(request, 'APPROVAL_DENIED', `denied by reviewer ${settlement.by}`, 'denied', nowMs);
    case 'approved': {
      // The request's own digest must match its intent, and an allow must name the policy that escalated.
      if (digestOf(request.intent) !== request.intent_digest) {
        return denial(request, 'APPROVAL_REQUEST_INVALID', 'the approval request\'s digest does not match its intent', 'invalid', nowMs);
      }
      if (!request.policy) {
        return denial(request, 'APPROVAL_REQUEST_INVALID', 'the approval request does not name the policy that escalated', 'invalid', nowMs);
      }
      const decisionId = derivedId(request.decision_id, 'approved');
      const decision: Decision = {
        decision_id: decisionId, intent_id: request.intent_id, intent_digest: request.intent_digest, verdict: 'allow', final: true,
        reasons: [{ code: 'APPROVED_BY_REVIEW', rule: RULE, message: `approved by ${settlement.approvers.join(', ')} (${request.quorum} needed)` }],
        obligations: { escalation_decision_id: request.decision_id, approved_by: settlement.approvers },
        policy: request.policy, input_digest: null, decided_at: new Date(nowMs).toISOString(),
      };
      try {
        decision.warrant = await signWarrant(settings.key, {
          issuer: settings.issuer, decisionId, intentId: request.intent_id, intentDigest: request.intent_digest,
          domain: request.intent.action.domain, ttlSeconds: settings.warrantTtlSeconds, now: Math.floor(nowMs / 1000),
        });
      } catch (err) {
        return denial(request, 'WARRANT_SIGNING_FAILED', (err as Error).message, 'unsigned', nowMs);
      }
      return decision;
    }
  }
}

/** Everything a settlement publishes, in one transaction. Ids are derived, so publishing twice writes the same records. */
export async function finalRecords(
  request: ApprovalRequest,
  responses: readonly ApprovalResponse[],
  settlement: Settlement,
  settings: FinalSettings,
  nowMs: number,
): Promise<Final> {
  // Signed like every decision, so agents and gateways take it as the approvals service's.
  const decision = withSignature(settings.key, 'Decision', await finalDecision(request, settlement, settings, nowMs), settings.certificate);
  const { intent, ...about } = request;
  const records: OutgoingRecord[] = [{ topic: 'decisions', key: intent.session.id, value: decision }];
  if (decision.verdict === 'allow') {
    records.push({ topic: approvedTopic(intent.action.domain), key: intent.intent_id, value: { intent, decision, warrant: decision.warrant } });
  }
  records.push({
    topic: 'receipts',
    key: request.intent_id,
    value: withSignature(settings.key, 'Receipt', {
      receipt_id: derivedId(decision.decision_id, 'receipt'), kind: 'approval' as const, intent_id: request.intent_id,
      body: {
        outcome: settlement.outcome,
        decision,
        request: about,
        // Each reviewer, their answer, when, and the exact digest they saw.
        responses: responses.map((r) => ({ reviewer: r.reviewer, answer: r.answer, intent_digest: r.intent_digest, responded_at: r.responded_at, ...(r.comment ? { comment: r.comment } : {}) })),
      },
      producer: settings.producer, produced_at: new Date(nowMs).toISOString(),
    }),
  });
  return { decision, records };
}
