// The rules of a review, without servers: who may answer, when an answer is refused, and when
// the answers (or the clock) settle the request. Every settlement but a sufficient, valid set of
// approvals is a deny.
import { createHash } from 'node:crypto';
import type { ApprovalRequest, ApprovalResponse } from '@intentgate/contracts';

/** A configured reviewer. `principals` are the identities they act as elsewhere (e.g. in delegation chains). */
export interface Reviewer {
  id: string;
  name: string;
  principals: readonly string[];
}

export type AnswerRefusalCode =
  | 'APPROVAL_NOT_PENDING'
  | 'APPROVAL_DEADLINE_PASSED'
  | 'APPROVAL_DIGEST_MISMATCH'
  | 'REVIEWER_NOT_ELIGIBLE'
  | 'SEPARATION_OF_DUTIES'
  | 'ALREADY_ANSWERED';

/** Why an answer was not accepted; `hint` says what the reviewer can do about it. */
export class AnswerRefused extends Error {
  readonly code: AnswerRefusalCode;
  readonly hint: string;
  constructor(code: AnswerRefusalCode, message: string, hint: string) {
    super(message);
    this.name = 'AnswerRefused';
    this.code = code;
    this.hint = hint;
  }
}

export type Settlement =
  | { outcome: 'approved'; approvers: string[] }
  | { outcome: 'denied'; by: string }
  | { outcome: 'timeout' }
  /** The request itself cannot be honoured (its digest does not match its intent). */
  | { outcome: 'invalid'; message: string };

/** Identities a reviewer must not approve for: everyone in the chain that asked, and the agent itself. */
function involved(request: ApprovalRequest): Set<string> {
  return new Set([...request.intent.delegation.map((h) => h.principal), request.intent.subject.id]);
}

/** True when this reviewer is part of the delegation chain (so may deny, but never approve). */
export function conflictOf(request: ApprovalRequest, reviewer: Reviewer): string | null {
  const chain = involved(request);
  const hit = [reviewer.id, ...reviewer.principals].find((p) => chain.has(p));
  return hit ?? null;
}

export function eligible(request: ApprovalRequest, reviewer: Reviewer): boolean {
  if (request.reviewers.length === 0) return true;
  return [reviewer.id, ...reviewer.principals].some((p) => request.reviewers.includes(p));
}

/** Checks one answer against the request and the answers so far; throws AnswerRefused. */
export function checkAnswer(
  request: ApprovalRequest,
  responses: readonly ApprovalResponse[],
  reviewer: Reviewer,
  answer: ApprovalResponse['answer'],
  seenDigest: string,
  nowMs: number,
): void {
  if (nowMs >= Date.parse(request.deadline)) {
    throw new AnswerRefused('APPROVAL_DEADLINE_PASSED', `the deadline ${request.deadline} has passed; the request is denied`, 'The agent must submit a new intent.');
  }
  if (seenDigest !== request.intent_digest) {
    throw new AnswerRefused('APPROVAL_DIGEST_MISMATCH', 'the answer is for another version of this intent (digest differs)',
      'Reload the request and review the intent as it stands now.');
  }
  if (!eligible(request, reviewer)) {
    throw new AnswerRefused('REVIEWER_NOT_ELIGIBLE', `reviewer ${reviewer.id} is not among the reviewers policy named: ${request.reviewers.join(', ')}`,
      'Ask one of the named reviewers.');
  }
  if (answer === 'approve') {
    const conflict = conflictOf(request, reviewer);
    if (conflict !== null) {
      throw new AnswerRefused('SEPARATION_OF_DUTIES', `reviewer ${reviewer.id} is part of this intent's delegation chain (${conflict}) and cannot approve it`,
        'Another reviewer must approve; you may still deny.');
    }
  }
  if (responses.some((r) => r.reviewer === reviewer.id)) {
    throw new AnswerRefused('ALREADY_ANSWERED', `reviewer ${reviewer.id} has already answered this request`, 'Each reviewer answers once.');
  }
}

/** What the answers settle, or null while the request stays open. One deny settles it as denied. */
export function settle(request: ApprovalRequest, responses: readonly ApprovalResponse[], nowMs: number): Settlement | null {
  // Only answers about the exact digest count (the service never stores others, but evidence is checked, not assumed).
  const valid = responses.filter((r) => r.intent_digest === request.intent_digest && r.decision_id === request.decision_id);
  const denial = valid.find((r) => r.answer === 'deny');
  if (denial) return { outcome: 'denied', by: denial.reviewer };
  const approvers = [...new Set(valid.filter((r) => r.answer === 'approve').map((r) => r.reviewer))];
  if (approvers.length >= request.quorum) return { outcome: 'approved', approvers };
  if (nowMs >= Date.parse(request.deadline)) return { outcome: 'timeout' };
  return null;
}

/**
 * A UUID derived from the escalation and what settled it, so the same settlement always gets
 * the same id: a re-published final decision after a crash is the same decision, and its
 * warrant (jti = decision id) can still be claimed only once.
 */
export function derivedId(escalationDecisionId: string, purpose: string): string {
  const h = createHash('sha256').update(`${escalationDecisionId}:${purpose}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
