// The agent registry: who each agent is allowed to be, published by operators on the compacted
// agents.registry topic and fed into the context store the decision workers read. Every entry
// is signed with an operator key the feeder is configured with (anyone who could write the
// topic could otherwise register an agent or lift a suspension), and every change is published
// with its receipt in one transaction.
import { randomUUID } from 'node:crypto';
import type { Bus, BusConsumer, IncomingRecord, Logger } from '@intentgate/bus';
import { AgentRegistration, type AgentChange } from '@intentgate/contracts';
import type { ContextStore } from '@intentgate/context';
import { TrustError, verifyOperatorRecord, withSignature, type SigningKey, type TrustRoots } from '@intentgate/evidence';

const TOPIC = 'agents.registry';

/** The registry could not be read to its end (the broker did not answer in time, or access was refused). */
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


/** Why an entry on agents.registry was not applied. */
export function registrationRefusal(trust: TrustRoots, value: unknown): { code: string; message: string } | null {
  const parsed = AgentRegistration.safeParse(value);
  if (!parsed.success) return { code: 'REGISTRATION_INVALID', message: parsed.error.issues[0]?.message ?? 'not an agent registration' };
  try {
    verifyOperatorRecord(trust, 'AgentRegistration', parsed.data);
    return null;
  } catch (err) {
    const code = err instanceof TrustError ? err.code.replace(/^RECORD_/, 'REGISTRATION_') : 'REGISTRATION_SIGNATURE_INVALID';
    return { code, message: (err as Error).message };
  }
}

/**
 * Follows agents.registry from its beginning and reports when everything published before a
 * call has been read. Registry entries are written in transactions, so a partition's last
 * offset is a commit marker the consumer never sees: the last entry sits at high - 2.
 */
class RegistryReader {
  readonly #bus: Bus;
  readonly #seen = new Map<number, bigint>();
  #consumer: BusConsumer<'AgentRegistration'> | null = null;

  constructor(bus: Bus) {
    this.#bus = bus;
  }

  async start(groupId: string, refuse: (r: IncomingRecord<'AgentRegistration'>) => Promise<{ code: string; message: string } | null>, apply: (entry: AgentRegistration) => Promise<void>): Promise<void> {
    this.#consumer = this.#bus.consumer<'AgentRegistration'>({
      groupId, topics: [TOPIC], fromBeginning: true,
      refuse: async (r) => {
        const reason = await refuse(r);
        if (reason !== null) this.#mark(r.partition, r.offset);
        return reason;
      },
      handle: async (records) => {
        for (const r of records) {
          await apply(r.value);
          this.#mark(r.partition, r.offset);
        }
      },
    });
    await this.#consumer.start();
  }

  #mark(partition: number, offset: string): void {
    const o = BigInt(offset);
    if (o > (this.#seen.get(partition) ?? -1n)) this.#seen.set(partition, o);
  }

  async caughtUp(timeoutMs: number): Promise<boolean> {
    const ends = await this.#bus.endOffsets(TOPIC);
    const deadline = Date.now() + timeoutMs;
    const done = () => [...ends].every(([p, high]) => high <= 1n || (this.#seen.get(p) ?? -1n) >= high - 2n);
    while (!done()) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  }

  stop(): Promise<void> {
    return this.#consumer?.stop() ?? Promise.resolve();
  }
}

/** The registry as the topic holds it now: the newest verified entry of each agent. */
export async function readRegistry(bus: Bus, trust: TrustRoots, options: { groupPrefix?: string; timeoutMs?: number } = {}): Promise<Map<string, AgentRegistration>> {
  const entries = new Map<string, AgentRegistration>();
  const reader = new RegistryReader(bus);
  await reader.start(`${options.groupPrefix ?? 'intentgate-operator-'}registry-${randomUUID()}`, async (r) => registrationRefusal(trust, r.value), async (entry) => {
    if ((entries.get(entry.agent)?.revision ?? 0) < entry.revision) entries.set(entry.agent, entry);
  });
  try {
    if (!(await reader.caughtUp(options.timeoutMs ?? 15_000))) {
      throw new RegistryUnavailable('could not read agents.registry to its end', 'Check the brokers answer and this principal may read agents.registry; try again.');
    }
    return entries;
  } finally {
    await reader.stop();
  }
}

/**
 * Publishes one signed registry entry, the next revision of its agent, with its receipt in one
 * transaction: no registry change without its evidence.
 */
export async function publishRegistration(bus: Bus, change: AgentChange, operator: SigningKey, previous: AgentRegistration | undefined): Promise<AgentRegistration> {
  const now = new Date().toISOString();
  const entry = withSignature(operator, 'AgentRegistration', AgentRegistration.parse({
    ...change, revision: (previous?.revision ?? 0) + 1, changed_at: now, changed_by: `operator:${operator.kid}`,
  }));
  const receipt = withSignature(operator, 'Receipt', {
    receipt_id: randomUUID(), kind: 'agent-registry' as const, intent_id: null,
    body: { registration: entry, ...(previous ? { previous: { revision: previous.revision, status: previous.status } } : {}) },
    producer: `operator:${operator.kid}`, produced_at: now,
  });
  await bus.sendAtomically([
    { topic: TOPIC, key: entry.agent, value: entry },
    { topic: 'receipts', key: entry.agent, value: receipt },
  ]);
  return entry;
}

export interface ContextFeederOptions {
  bus: Bus;
  /** The context feeder's own store connection (it alone writes the registry and the sync mark). */
  store: ContextStore;
  trust: TrustRoots;
  logger: Logger;
  /** The decision workers' freshness bound: the sync mark is renewed four times within it. */
  freshnessMs: number;
  /** How long start waits to read the registry to its end before it fails. */
  catchUpTimeoutMs?: number;
  groupPrefix?: string;
}

/**
 * Applies agents.registry to the context store and keeps the context's sync mark fresh. The mark
 * is first set only once the whole registry has been read: until then every decision denies
 * CONTEXT_UNAVAILABLE rather than read a registry missing its latest suspension. Entries not
 * signed by a configured operator go to bus.dlq and change nothing.
 */
export class ContextFeeder {
  readonly #options: ContextFeederOptions;
  readonly #reader: RegistryReader;
  #heartbeat: NodeJS.Timeout | null = null;
  #stopping: Promise<void> | null = null;
  /** Entries applied and refused since start (for metrics and tests). */
  readonly counts = { applied: 0, stale: 0, refused: 0 };

  private constructor(options: ContextFeederOptions) {
    this.#options = options;
    this.#reader = new RegistryReader(options.bus);
  }

  static async start(options: ContextFeederOptions): Promise<ContextFeeder> {
    const feeder = new ContextFeeder(options);
    const { logger, store, trust } = options;
    await store.connect();
    await feeder.#reader.start(`${options.groupPrefix ?? 'intentgate-context-feeder-'}${randomUUID()}`, async (r) => {
      const reason = registrationRefusal(trust, r.value);
      if (reason) {
        feeder.counts.refused += 1;
        logger.warn({ code: reason.code, offset: r.offset, key: r.key }, `agent registry entry refused: ${reason.message}`);
      }
      return reason;
    }, async (entry) => {
      if (await store.applyRegistration(entry)) {
        feeder.counts.applied += 1;
        logger.info({ agent: entry.agent, status: entry.status, revision: entry.revision, by: entry.changed_by }, 'agent registry entry applied');
      } else feeder.counts.stale += 1;
    });
    try {
      if (!(await feeder.#reader.caughtUp(options.catchUpTimeoutMs ?? 30_000))) {
        throw new RegistryUnavailable('the context feeder could not read agents.registry to its end', 'Check the brokers answer and the context-feeder principal may read agents.registry.');
      }
      await store.markSynced();
    } catch (err) {
      await feeder.stop();
      throw err;
    }
    feeder.#heartbeat = setInterval(() => {
      store.markSynced().catch((err: unknown) => logger.error({ err: (err as Error).message }, 'context sync mark failed'));
    }, Math.max(50, Math.floor(options.freshnessMs / 4)));
    return feeder;
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#heartbeat) clearInterval(this.#heartbeat);
      await this.#reader.stop();
    })();
    return this.#stopping;
  }
}
