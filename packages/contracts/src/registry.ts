import { z } from 'zod';
import { Domain, SpiffeId, Timestamp } from './primitives.ts';
import { AUTONOMY_LEVELS, SENSITIVITY_LEVELS } from './intent.ts';
import { RecordSignature } from './evidence.ts';

export const AGENT_STATUSES = ['active', 'suspended'] as const;

/** What every entry of an operator catalog (the agent registry, the resource labels) carries about its change. */
const CATALOG_ENTRY = {
  /** Grows by one with every change of the entry's key; an older revision is never applied over a newer one. */
  revision: z.int().positive(),
  changed_at: Timestamp,
  changed_by: z.string().min(1).max(256),
  reason: z.string().max(2048),
  /** By an operator key the context feeder is configured with; an unsigned entry is refused. */
  signature: RecordSignature.optional(),
};

/**
 * One agent's entry in the agent registry: what policy knows about an agent, whatever the agent
 * says about itself. Published by an operator on `agents.registry` (compacted, keyed by agent),
 * signed with an operator key; the context feeder applies the highest revision to the context
 * store, so a lost store is rebuilt by replaying the topic.
 */
export const AgentRegistration = z.strictObject({
  agent: SpiffeId,
  /** Who answers for the agent (a person or team). */
  owner: z.string().min(1).max(256),
  /** The least supervision the agent runs with; an intent may only claim more autonomy. */
  autonomy: z.enum(AUTONOMY_LEVELS),
  /** Domains the agent may ever act in. */
  domains: z.array(Domain).max(4),
  /** Action names the agent may ever request (catalog names), or "*" for any in its domains. */
  actions: z.array(z.string().min(1).max(256)).max(256),
  status: z.enum(AGENT_STATUSES),
  ...CATALOG_ENTRY,
});
export type AgentRegistration = z.infer<typeof AgentRegistration>;

/** What an operator states when registering or changing an agent (revision, time and signer are added on publishing). */
export type AgentChange = Omit<AgentRegistration, 'revision' | 'changed_at' | 'changed_by' | 'signature'>;

/**
 * One resource's labels in the resource catalog: how sensitive it is and what environment it runs
 * in, whatever an intent says of it. Published by an operator on `resources.labels` (compacted,
 * keyed by resourceLabelKey), signed with an operator key; the context feeder applies the highest
 * revision to the context store, so a lost store gets its labels back by replaying the topic.
 */
export const ResourceLabel = z.strictObject({
  type: z.string().min(1).max(128),
  id: z.string().min(1).max(1024),
  sensitivity: z.enum(SENSITIVITY_LEVELS),
  /** Where it runs (production, staging, …); without one, the policy's floor for unlabelled resources applies. */
  environment: z.string().min(1).max(64).regex(/^[a-z][a-z0-9-]*$/, 'a lower-case environment name').optional(),
  ...CATALOG_ENTRY,
});
export type ResourceLabel = z.infer<typeof ResourceLabel>;

/** What an operator states when labelling a resource (revision, time and signer are added on publishing). */
export type LabelChange = Omit<ResourceLabel, 'revision' | 'changed_at' | 'changed_by' | 'signature'>;

/**
 * The key of a resource's labels on resources.labels: type and id URI-encoded, so no two
 * resources share a key (("table", "x/ledger") and ("table/x", "ledger") would, joined plainly),
 * and compaction never drops one resource's label for another's.
 */
export function resourceLabelKey(resource: { type: string; id: string }): string {
  return `${encodeURIComponent(resource.type)}/${encodeURIComponent(resource.id)}`;
}
