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
 * Follows a topic from its beginning and reports when everything published before a call has
 * been read. A transactional write ends with a commit marker the consumer never sees, so a
 * partition is read through when its last record seen is at high - 2 (a topic written in
 * transactions) or high - 1 (plain writes). A tail the consumer is never given (an aborted
 * transaction, whose records read_committed skips) would wait forever: after `idleMs` with
 * nothing delivered, the reader counts the partition as read through and says so in the log.
 */
class TopicReader<N extends 'AgentRegistration' | 'Revocation'> {
  readonly #bus: Bus;
  readonly #topic: string;
  readonly #logger: Logger | undefined;
  readonly #transactional: boolean;
  readonly #seen = new Map<number, bigint>();
  #lastDeliveryAt = Date.now();
  #consumer: BusConsumer<N> | null = null;

  /** `transactional`: the topic's writers use transactions (its last record sits before a commit marker). */
  constructor(bus: Bus, topic: string, transactional: boolean, logger?: Logger) {
    this.#bus = bus;
    this.#topic = topic;
    this.#transactional = transactional;
    this.#logger = logger;
  }

  async start(groupId: string, refuse: ((r: IncomingRecord<N>) => Promise<{ code: string; message: string } | null>) | null, apply: (value: IncomingRecord<N>['value']) => Promise<void>): Promise<void> {
    this.#consumer = this.#bus.consumer<N>({
      groupId, topics: [this.#topic], fromBeginning: true,
      ...(refuse ? {
        refuse: async (r: IncomingRecord<N>) => {
          const reason = await refuse(r);
          if (reason !== null) this.#mark(r.partition, r.offset);
          return reason;
        },
      } : {}),
      // A record that is not even a record of the topic's type is dead-lettered: read, too.
      onDeadLetter: async (letter) => this.#mark(letter.original.partition, letter.original.offset),
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
    this.#lastDeliveryAt = Date.now();
    const o = BigInt(offset);
    if (o > (this.#seen.get(partition) ?? -1n)) this.#seen.set(partition, o);
  }

  /** Whether the consumer still reads (a member KafkaJS will not restart reads nothing more). */
  get healthy(): boolean {
    return this.#consumer !== null && !this.#consumer.stoppedForGood;
  }

  async caughtUp(timeoutMs: number, idleMs = 3_000): Promise<boolean> {
    const ends = await this.#bus.endOffsets(this.#topic);
    const asked = Date.now();
    const deadline = asked + timeoutMs;
    const gap = this.#transactional ? 2n : 1n;
    const behind = () => [...ends].filter(([p, high]) => high > 0n && (this.#seen.get(p) ?? -1n) < high - gap);
    for (;;) {
      if (!this.healthy) return false;
      const late = behind();
      if (late.length === 0) return true;
      if (Date.now() - Math.max(this.#lastDeliveryAt, asked) >= idleMs) {
        this.#logger?.warn({ topic: this.#topic, partitions: late.map(([p, high]) => ({ partition: p, seen: String(this.#seen.get(p) ?? -1n), end: String(high) })) },
          'nothing more is delivered before the end offset (an aborted transaction at the tail): counting the topic as read through');
        return true;
      }
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  stop(): Promise<void> {
    return this.#consumer?.stop() ?? Promise.resolve();
  }
}

/** The registry as the topic holds it now: the newest verified entry of each agent. */
export async function readRegistry(bus: Bus, trust: TrustRoots, options: { groupPrefix?: string; timeoutMs?: number } = {}): Promise<Map<string, AgentRegistration>> {
  const entries = new Map<string, AgentRegistration>();
  const reader = new TopicReader<'AgentRegistration'>(bus, TOPIC, true);
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
  #registry: TopicReader<'AgentRegistration'>;
  #revocations: TopicReader<'Revocation'>;
  #heartbeat: NodeJS.Timeout | null = null;
  #stopping: Promise<void> | null = null;
  #beating: Promise<void> | null = null;
  readonly #id = randomUUID();
  /** Entries applied, found stale and refused; revocations applied; replays after a lost store (for metrics and tests). */
  readonly counts = { applied: 0, stale: 0, refused: 0, revocations: 0, replays: 0 };

  private constructor(options: ContextFeederOptions) {
    this.#options = options;
    this.#registry = new TopicReader(options.bus, TOPIC, true, options.logger);
    this.#revocations = new TopicReader(options.bus, 'identity.revocations', false, options.logger);
  }

  static async start(options: ContextFeederOptions): Promise<ContextFeeder> {
    const feeder = new ContextFeeder(options);
    await options.store.connect();
    try {
      await feeder.#readThrough();
    } catch (err) {
      await feeder.stop();
      throw err;
    }
    feeder.#heartbeat = setInterval(() => {
      feeder.#beating ??= feeder.#beat().finally(() => (feeder.#beating = null));
    }, Math.max(50, Math.floor(options.freshnessMs / 4)));
    return feeder;
  }

  /**
   * Reads agents.registry and identity.revocations from their beginnings into the store; only
   * then marks the context synced. (Revocations are applied by every decision worker too, but
   * only from the worker's start: after a lost store, this is what brings them back.)
   */
  async #readThrough(): Promise<void> {
    const { logger, store, trust } = this.#options;
    const prefix = this.#options.groupPrefix ?? 'intentgate-context-feeder-';
    await this.#registry.start(`${prefix}${randomUUID()}`, async (r) => {
      const reason = registrationRefusal(trust, r.value);
      if (reason) {
        this.counts.refused += 1;
        logger.warn({ code: reason.code, offset: r.offset, key: r.key }, `agent registry entry refused: ${reason.message}`);
      }
      return reason;
    }, async (entry) => {
      if (await store.applyRegistration(entry)) {
        this.counts.applied += 1;
        logger.info({ agent: entry.agent, status: entry.status, revision: entry.revision, by: entry.changed_by }, 'agent registry entry applied');
      } else this.counts.stale += 1;
    });
    // A revocation can only tighten: applied as it comes (who may write the topic is the ACLs' job).
    await this.#revocations.start(`${prefix}revocations-${randomUUID()}`, null, async (revocation) => {
      await store.revoke(revocation.link);
      this.counts.revocations += 1;
    });
    const timeout = this.#options.catchUpTimeoutMs ?? 30_000;
    const [registry, revocations] = await Promise.all([this.#registry.caughtUp(timeout), this.#revocations.caughtUp(timeout)]);
    if (!registry || !revocations) {
      throw new RegistryUnavailable(`the context feeder could not read ${registry ? 'identity.revocations' : 'agents.registry'} to its end`,
        'Check the brokers answer and the context-feeder principal may read agents.registry and identity.revocations.');
    }
    await store.markRegistryApplied(this.#id);
    await store.markSynced();
  }

  /**
   * Renews the sync mark while the store still holds what was fed and the readers still read. A
   * store that lost its data (Redis restarted empty) or a reader that stopped for good is not
   * vouched for: the topics are read again from their beginnings first, and until then every
   * decision denies CONTEXT_UNAVAILABLE (the mark ages out, or is gone with the data).
   */
  async #beat(): Promise<void> {
    if (this.#stopping) return;
    const { logger, store } = this.#options;
    let held: string | null;
    try {
      held = await store.registryApplied();
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'context sync mark failed');
      return;
    }
    if (this.#stopping) return;
    const readersLive = this.#registry.healthy && this.#revocations.healthy;
    if (held !== null && readersLive) {
      await store.markSynced().catch((err: unknown) => logger.error({ err: (err as Error).message }, 'context sync mark failed'));
      return;
    }
    logger.warn({ storeLost: held === null, readersLive }, held === null
      ? 'the context store no longer holds the agent registry (Redis lost its data): replaying agents.registry and identity.revocations before marking it synced'
      : 'a context feeder reader stopped for good: reading its topics again before marking the context synced');
    this.counts.replays += 1;
    try {
      await Promise.all([this.#registry.stop(), this.#revocations.stop()]);
      if (this.#stopping) return;
      this.#registry = new TopicReader(this.#options.bus, TOPIC, true, logger);
      this.#revocations = new TopicReader(this.#options.bus, 'identity.revocations', false, logger);
      await this.#readThrough();
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'context replay failed; trying again at the next beat');
    }
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#heartbeat) clearInterval(this.#heartbeat);
      await this.#beating;
      await Promise.all([this.#registry.stop(), this.#revocations.stop()]);
    })();
    return this.#stopping;
  }
}
