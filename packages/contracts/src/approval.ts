import { z } from 'zod';
import { CompactJws, Reason, Sha256Hex, Timestamp, Uuid } from './primitives.ts';
import { Intent, SENSITIVITY_LEVELS } from './intent.ts';
import { PolicyRef } from './decision.ts';

export const ApprovalRequest = z.strictObject({
  intent_id: Uuid,
  /** The escalate decision this request stems from. */
  decision_id: Uuid,
  intent: Intent,
  /** Reviewers approve exactly this digest; a changed intent needs a new approval. */
  intent_digest: Sha256Hex,
  reasons: z.array(Reason).min(1).max(64),
  /** N of M: how many distinct approving reviewers are needed. */
  quorum: z.int().min(1).max(16),
  reviewers: z.array(z.string().min(1).max(256)).max(64),
  deadline: Timestamp,
  requested_at: Timestamp,
  /** The policy that escalated; an approval's allow names it. Optional only for older producers. */
  policy: PolicyRef.optional(),
  /** The sensitivity policy saw (the context store's label outranks the caller's), for reviewers. */
  sensitivity: z.enum(SENSITIVITY_LEVELS).optional(),
  /**
   * By the decision worker that escalated (a key its certificate allows to sign approval
   * requests): the approvals service settles no escalation that no decision made.
   */
  signature: CompactJws.optional(),
});
export type ApprovalRequest = z.infer<typeof ApprovalRequest>;

export const ApprovalResponse = z.strictObject({
  intent_id: Uuid,
  decision_id: Uuid,
  intent_digest: Sha256Hex,
  reviewer: z.string().min(1).max(256),
  answer: z.enum(['approve', 'deny']),
  comment: z.string().max(4096).optional(),
  responded_at: Timestamp,
});
export type ApprovalResponse = z.infer<typeof ApprovalResponse>;
