// Operator catalogs: the compacted topics an operator writes and the context feeder applies to the
// context store (the agent registry, the resource labels). Every entry is signed with an operator
// key the readers are configured with (anyone who could write the topic could otherwise register
// an agent, lift a suspension or declassify a table), carries the next revision of its key, and is
// published with its receipt in one transaction: no change without its evidence.
import { randomUUID } from 'node:crypto';
import type { Bus } from '@intentgate/bus';
import type { AgentRegistration, ResourceLabel, RECEIPT_KINDS } from '@intentgate/contracts';
import { TrustError, verifyOperatorRecord, withSignature, type SigningKey, type TrustRoots } from '@intentgate/evidence';
import type { ZodType } from 'zod';
import { TopicReader } from './topic-reader.ts';

/** A catalog could not be read to its end (the broker did not answer in time, or access was refused). */
export class RegistryUnavailable extends Error {
  readonly code = 'REGISTRY_UNAVAILABLE';
  readonly hint: string;
  readonly retriable = true;
  constructor(message: string, hint: string) {
    super(message);
    this.name = 'RegistryUnavailable';
    this.hint = hint;
  }
}

type Entry = AgentRegistration | ResourceLabel;

/** One operator catalog: its topic, its record type and how its entries are keyed. */
export interface OperatorCatalog<E extends Entry> {
  topic: 'agents.registry' | 'resources.labels';
  type: 'AgentRegistration' | 'ResourceLabel';
  schema: ZodType<E>;
  keyOf: (entry: E) => string;
  /** The prefix of this catalog's refusal codes (REGISTRATION_INVALID, LABEL_BAD_SIGNATURE, …). */
  refusalPrefix: string;
  receiptKind: (typeof RECEIPT_KINDS)[number];
  /** The receipt body for a published entry and the one it replaced. */
  receiptBody: (entry: E, previous: E | undefined) => Record<string, unknown>;
}

/** Why an entry of a catalog was not applied: not an entry of its type, or not signed by a configured operator. */
export function catalogRefusal<E extends Entry>(catalog: OperatorCatalog<E>, trust: TrustRoots, value: unknown): { code: string; message: string } | null {
  const parsed = catalog.schema.safeParse(value);
  if (!parsed.success) return { code: `${catalog.refusalPrefix}_INVALID`, message: parsed.error.issues[0]?.message ?? `not a ${catalog.type}` };
  try {
    verifyOperatorRecord(trust, catalog.type, parsed.data as unknown as Record<string, unknown>);
    return null;
  } catch (err) {
    const code = err instanceof TrustError ? err.code.replace(/^RECORD_/, `${catalog.refusalPrefix}_`) : `${catalog.refusalPrefix}_SIGNATURE_INVALID`;
    return { code, message: (err as Error).message };
  }
}

/** A catalog as its topic holds it now: the newest verified entry of each key. */
export async function readCatalog<E extends Entry>(
  catalog: OperatorCatalog<E>, bus: Bus, trust: TrustRoots, options: { groupPrefix?: string; timeoutMs?: number } = {},
): Promise<Map<string, E>> {
  const entries = new Map<string, E>();
  const reader = new TopicReader<'AgentRegistration' | 'ResourceLabel'>(bus, catalog.topic, true);
  await reader.start(`${options.groupPrefix ?? 'intentgate-operator-'}${catalog.topic}-${randomUUID()}`, async (r) => catalogRefusal(catalog, trust, r.value), async (value) => {
    const entry = value as E;
    const key = catalog.keyOf(entry);
    if ((entries.get(key)?.revision ?? 0) < entry.revision) entries.set(key, entry);
  });
  try {
    if (!(await reader.caughtUp(options.timeoutMs ?? 15_000))) {
      throw new RegistryUnavailable(`could not read ${catalog.topic} to its end`, `Check the brokers answer and this principal may read ${catalog.topic}; try again.`);
    }
    return entries;
  } finally {
    await reader.stop();
  }
}

/** Publishes one signed entry, the next revision of its key, with its receipt in one transaction. */
export async function publishEntry<E extends Entry>(
  catalog: OperatorCatalog<E>, bus: Bus, change: Omit<E, 'revision' | 'changed_at' | 'changed_by' | 'signature'>, operator: SigningKey, previous: E | undefined,
): Promise<E> {
  const now = new Date().toISOString();
  const entry = withSignature(operator, catalog.type, catalog.schema.parse({
    ...change, revision: (previous?.revision ?? 0) + 1, changed_at: now, changed_by: `operator:${operator.kid}`,
  }) as unknown as Record<string, unknown>) as unknown as E;
  const receipt = withSignature(operator, 'Receipt', {
    receipt_id: randomUUID(), kind: catalog.receiptKind, intent_id: null,
    body: catalog.receiptBody(entry, previous),
    producer: `operator:${operator.kid}`, produced_at: now,
  });
  const key = catalog.keyOf(entry);
  await bus.sendAtomically([
    { topic: catalog.topic, key, value: entry },
    { topic: 'receipts', key, value: receipt },
  ]);
  return entry;
}
