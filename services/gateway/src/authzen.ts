// AuthZEN Authorization API 1.0 requests mapped onto IntentGate intents. Everything IntentGate
// needs that AuthZEN leaves open travels in properties and context, and is required: nothing
// is guessed in the caller's favour.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { DelegationHop, Domain, Intent, SENSITIVITY_LEVELS, AUTONOMY_LEVELS } from '@intentgate/contracts';

const Entity = z.object({ type: z.string().min(1), id: z.string().min(1), properties: z.record(z.string(), z.unknown()).optional() });

export const EvaluationRequest = z.object({
  subject: Entity.extend({ type: z.literal('agent'), properties: z.object({ autonomy: z.enum(AUTONOMY_LEVELS) }).loose() }),
  action: z.object({ name: z.string().min(1), properties: z.object({ domain: Domain, reversible: z.boolean() }).loose() }),
  resource: Entity.extend({ properties: z.object({ sensitivity: z.enum(SENSITIVITY_LEVELS) }).loose() }),
  context: z.object({
    intent_id: z.uuid().optional(),
    session: z.object({ id: z.string().min(1), workflow_step: z.string().min(1), request_source: z.string().min(1) }),
    delegation: z.array(DelegationHop).min(1),
    credentials: z.object({ svid: z.string(), delegation: z.array(z.string()).min(1) }).optional(),
  }).loose(),
});
export type EvaluationRequest = z.infer<typeof EvaluationRequest>;

/** Batch form: top-level defaults, each evaluation overriding what it names. */
export const EvaluationsRequest = z.object({
  subject: z.unknown().optional(),
  action: z.unknown().optional(),
  resource: z.unknown().optional(),
  context: z.unknown().optional(),
  evaluations: z.array(z.record(z.string(), z.unknown())).min(1).max(64),
});

export function intentOf(req: EvaluationRequest, now = new Date()): Intent {
  const { intent_id, session, delegation, credentials, ...hints } = req.context;
  return Intent.parse({
    intent_id: intent_id ?? randomUUID(),
    submitted_at: now.toISOString(),
    subject: { type: 'agent', id: req.subject.id, properties: req.subject.properties },
    delegation,
    session,
    action: { name: req.action.name, domain: req.action.properties.domain, reversible: req.action.properties.reversible },
    resource: { type: req.resource.type, id: req.resource.id, properties: req.resource.properties },
    context: hints,
    ...(credentials ? { credentials } : {}),
  });
}
