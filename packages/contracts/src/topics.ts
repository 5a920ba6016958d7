import { DOMAINS, type Domain } from './primitives.ts';
import type { MessageName } from './messages.ts';

export type CleanupPolicy = 'delete' | 'compact';

export interface TopicSpec {
  readonly name: string;
  /** Which field of the message is the record key (documentation and producers' contract). */
  readonly key: string;
  readonly value: MessageName;
  readonly partitions: number;
  readonly cleanupPolicy: CleanupPolicy;
  /** -1 keeps records forever. */
  readonly retentionMs: number;
  /** Where undecodable or schema-invalid records of this topic go; null for the DLQs themselves. */
  readonly deadLetterTopic: string | null;
  /**
   * LogAppendTime: the broker stamps each record when it appends it, whatever the producer said
   * (admission measures how long an intent waited from it; a producer's own CreateTime could
   * make an intent look older or newer than it is). Default CreateTime.
   */
  readonly timestampType?: 'CreateTime' | 'LogAppendTime';
}

const DAY = 24 * 60 * 60 * 1000;
const FOREVER = -1;

export const DLQ_INTENTS = 'intents.dlq';
/** DLQ for every topic but `intents` (an addition to DESIGN.md's table: DESIGN names only intents.dlq). */
export const DLQ_BUS = 'bus.dlq';

export function approvedTopic(domain: Domain): string {
  return `intents.approved.${domain}`;
}

function topic(spec: Omit<TopicSpec, 'deadLetterTopic'> & { deadLetterTopic?: string | null }): TopicSpec {
  return Object.freeze({ deadLetterTopic: DLQ_BUS, ...spec });
}

/** The topic catalog: created up front by the project (auto-creation is off on the broker). */
export const TOPICS: readonly TopicSpec[] = Object.freeze([
  topic({ name: 'intents', key: 'session.id', value: 'Intent', partitions: 6, cleanupPolicy: 'delete', retentionMs: 7 * DAY, deadLetterTopic: DLQ_INTENTS, timestampType: 'LogAppendTime' }),
  topic({ name: 'decisions', key: 'session.id', value: 'Decision', partitions: 6, cleanupPolicy: 'delete', retentionMs: 30 * DAY }),
  ...DOMAINS.map((d) =>
    topic({ name: approvedTopic(d), key: 'intent_id', value: 'ApprovedIntent', partitions: 3, cleanupPolicy: 'delete', retentionMs: 7 * DAY }),
  ),
  topic({ name: 'approvals.requests', key: 'intent_id', value: 'ApprovalRequest', partitions: 3, cleanupPolicy: 'delete', retentionMs: 30 * DAY }),
  topic({ name: 'approvals.responses', key: 'intent_id', value: 'ApprovalResponse', partitions: 3, cleanupPolicy: 'delete', retentionMs: 30 * DAY }),
  topic({ name: 'executions', key: 'intent_id', value: 'ExecutionResult', partitions: 3, cleanupPolicy: 'delete', retentionMs: 30 * DAY }),
  // Evidence: kept forever; one Merkle log per partition, so the partition count is part of the ledger's identity.
  topic({ name: 'receipts', key: 'intent_id', value: 'Receipt', partitions: 3, cleanupPolicy: 'delete', retentionMs: FOREVER }),
  topic({ name: 'ledger.checkpoints', key: 'origin', value: 'Checkpoint', partitions: 1, cleanupPolicy: 'delete', retentionMs: FOREVER }),
  topic({ name: 'policy.bundles', key: 'digest', value: 'PolicyBundle', partitions: 1, cleanupPolicy: 'compact', retentionMs: FOREVER }),
  // An addition to DESIGN.md's table: the warrant keys, keyed by kid, so executors need no HTTP call.
  topic({ name: 'warrant.keys', key: 'kid', value: 'WarrantKey', partitions: 1, cleanupPolicy: 'compact', retentionMs: FOREVER }),
  // An addition to DESIGN.md's table: revocations of principals and delegation links, applied by every decision worker.
  topic({ name: 'identity.revocations', key: 'link', value: 'Revocation', partitions: 1, cleanupPolicy: 'delete', retentionMs: FOREVER }),
  // An addition to DESIGN.md's table (which names the context store's inputs): the agent registry, keyed by agent, signed by an operator.
  topic({ name: 'agents.registry', key: 'agent', value: 'AgentRegistration', partitions: 1, cleanupPolicy: 'compact', retentionMs: FOREVER }),
  // An addition to DESIGN.md's table (the context store's resource labels): the resource catalog, keyed by URI-encoded <type>/<id>, signed by an operator.
  topic({ name: 'resources.labels', key: '<type>/<id> (URI-encoded)', value: 'ResourceLabel', partitions: 1, cleanupPolicy: 'compact', retentionMs: FOREVER }),
  topic({ name: 'policy.activations', key: 'tenant', value: 'PolicyActivation', partitions: 1, cleanupPolicy: 'delete', retentionMs: FOREVER }),
  topic({ name: DLQ_INTENTS, key: 'original key', value: 'DeadLetter', partitions: 1, cleanupPolicy: 'delete', retentionMs: 30 * DAY, deadLetterTopic: null }),
  topic({ name: DLQ_BUS, key: 'original key', value: 'DeadLetter', partitions: 1, cleanupPolicy: 'delete', retentionMs: 30 * DAY, deadLetterTopic: null }),
]);

const byName = new Map(TOPICS.map((t) => [t.name, t]));

export function topicSpec(name: string): TopicSpec {
  const spec = byName.get(name);
  if (spec === undefined) throw new RangeError(`unknown topic "${name}": not in the IntentGate topic catalog`);
  return spec;
}

/** Schema registry subject for a topic's values (TopicNameStrategy). */
export function valueSubject(topicName: string): string {
  return `${topicName}-value`;
}
