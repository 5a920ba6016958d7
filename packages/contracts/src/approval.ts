import { z } from 'zod';
import { CompactJws, Reason, Sha256Hex, Timestamp, Uuid } from './primitives.ts';
import { Intent, SENSITIVITY_LEVELS } from './intent.ts';
import { PolicyRef } from './decision.ts';

const Fact = z.string().min(1).max(256);

/**
 * What the decision was made on, as the decision worker read it (never as the agent wrote it):
 * the agent registry's facts about the acting agent and the resource's effective labels. The
 * reviewer page shows these as the facts and the intent's own claims beside them.
 */
export const ApprovalBasis = z.strictObject({
  /** The agent registry's entry for the subject (autonomy: the one decided on, the registry's unless the agent claimed more); null when the registry has none. */
  agent: z.strictObject({ autonomy: Fact.nullable(), owner: Fact.nullable() }).nullable(),
  resource: z.strictObject({
    /** The higher of the context store's label (or, unlabelled, the policy's floor) and the intent's claim. */
    sensitivity: z.enum(SENSITIVITY_LEVELS),
    /** The context store's label, else the policy's floor (production), unless the intent says production. */
    environment: z.string().max(1024),
    /** Whether the context store has a label for the resource (false: the floor applied). */
    labelled: z.boolean(),
  }),
  /** The context keys that bind the action (the action catalog's `binds`), shown to reviewers in full. */
  binds: z.array(z.string().min(1).max(256)).max(64),
  /** Whether the action can be undone as decided: the action catalog's word and the intent's, both needed. */
  action: z.strictObject({ reversible: z.boolean() }).optional(),
});
export type ApprovalBasis = z.infer<typeof ApprovalBasis>;

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
  /** What the decision was made on (registry and store facts), for reviewers. Optional only for older producers. */
  basis: ApprovalBasis.optional(),
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
