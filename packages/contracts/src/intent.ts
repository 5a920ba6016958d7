import { z } from 'zod';
import { CompactJws, Domain, JsonObject, SpiffeId, Timestamp, Uuid } from './primitives.ts';

export const AUTONOMY_LEVELS = ['assisted', 'supervised', 'autonomous'] as const;
export const SENSITIVITY_LEVELS = ['public', 'internal', 'confidential', 'restricted'] as const;
export const PRINCIPAL_KINDS = ['human', 'agent', 'service'] as const;

const Name = z.string().min(1).max(256);

export const Subject = z.strictObject({
  type: z.literal('agent'),
  id: SpiffeId,
  properties: z.looseObject({ autonomy: z.enum(AUTONOMY_LEVELS) }),
});

export const DelegationHop = z.strictObject({
  principal: Name,
  kind: z.enum(PRINCIPAL_KINDS),
  scope: z.array(z.string().min(1).max(256)).max(64),
});

export const Session = z.strictObject({
  id: Name,
  workflow_step: Name,
  request_source: Name,
});

export const Action = z.strictObject({
  name: Name,
  domain: Domain,
  reversible: z.boolean(),
});

export const Resource = z.strictObject({
  type: Name,
  id: z.string().min(1).max(2048),
  properties: z.looseObject({ sensitivity: z.enum(SENSITIVITY_LEVELS) }),
});

/**
 * What an agent wants to do. AuthZEN-shaped (subject / action / resource / context) so one
 * format serves every domain. `intent_id` is chosen by the agent and is the idempotency key.
 */
export const Intent = z.strictObject({
  intent_id: Uuid,
  submitted_at: Timestamp,
  subject: Subject,
  /** Origin first: delegation[0] is whoever started the chain. */
  delegation: z.array(DelegationHop).min(1).max(16),
  session: Session,
  action: Action,
  resource: Resource,
  /** Caller-supplied hints; never trusted over the context store. */
  context: JsonObject,
  /**
   * Proof of who acts and on whose behalf: the agent's JWT-SVID and the delegation tokens,
   * origin first. Verified by the decision worker before policy when identity is configured.
   */
  credentials: z.strictObject({
    svid: CompactJws,
    delegation: z.array(CompactJws).min(1).max(16),
  }).optional(),
});
export type Intent = z.infer<typeof Intent>;
