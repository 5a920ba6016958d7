import type { Admin, Consumer, ConsumerConfig, ConsumerRunConfig, Kafka } from 'kafkajs';
import { BusError, describe, type Refuse } from './errors.ts';
import type { Logger } from './logger.ts';
import { startAndJoin } from './group-join.ts';
import { jitteredDelay } from './backoff.ts';

/**
 * Every consumer's liveness settings, in one place. A member whose group has lag behind it and
 * that finished no batch for `stallAfterMs` is stalled: it is reported (a warning, the metrics)
 * and its service is not ready. Long handlers (an executor's action) count as no progress
 * until their batch finishes: give such a consumer a longer bound.
 */
export const CONSUMER_HEALTH_DEFAULTS = {
  stallAfterMs: 60_000,
  /** How often a member's lag (end offsets minus committed offsets) is measured. */
  lagCheckEveryMs: 5_000,
  /** First wait before restarting a member KafkaJS gave up on; doubles per failed restart. */
  restartInitialBackoffMs: 1_000,
  restartMaxBackoffMs: 30_000,
} as const;

export type ConsumerHealthOptions = Partial<{ -readonly [K in keyof typeof CONSUMER_HEALTH_DEFAULTS]: number }>;
export type ConsumerHealthConfig = { readonly [K in keyof typeof CONSUMER_HEALTH_DEFAULTS]: number };

export function consumerHealthConfig(options: ConsumerHealthOptions = {}): ConsumerHealthConfig {
  const config = { ...CONSUMER_HEALTH_DEFAULTS, ...options };
  for (const [name, value] of Object.entries(config)) {
    if (!Number.isFinite(value) || value <= 0) throw new BusError('CONFIG_INVALID', `consumer health setting ${name} must be a positive number of milliseconds, got ${value}`, { retriable: false, hint: 'Fix the setting, or leave it out for its default.' });
  }
  return config;
}

export type MemberState = 'starting' | 'running' | 'rejoining' | 'restarting' | 'dead' | 'stopped';

export interface ConsumerHealth {
  groupId: string;
  topics: readonly string[];
  state: MemberState;
  /** Records behind this member on the partitions it holds (all of its topics' partitions when it holds none); null until measured. */
  lag: number | null;
  /** Since the member last finished a batch, was caught up, or (re)joined. */
  msSinceProgress: number;
  stalled: boolean;
  /** Restarts of a member KafkaJS gave up on, since start. */
  restarts: number;
  /** Running and not stalled. */
  ready: boolean;
  /** Why it is not ready (CONSUMER_STALLED, CONSUMER_DEAD, ...), null when ready. */
  problem: BusError | null;
}

/** One admin connection per bus for lag checks, made again after a failure (a broker that went away). */
export class LagProbe {
  readonly #kafka: Kafka;
  #admin: Promise<Admin> | null = null;

  constructor(kafka: Kafka) {
    this.#kafka = kafka;
  }

  /** Per topic-partition: the end offset (high watermark) and the group's committed offset (-1: none). */
  async offsets(groupId: string, topics: readonly string[]): Promise<Map<string, { high: bigint; committed: bigint }>> {
    this.#admin ??= (async () => {
      const admin = this.#kafka.admin();
      await admin.connect();
      return admin;
    })();
    try {
      const admin = await this.#admin;
      const out = new Map<string, { high: bigint; committed: bigint }>();
      const committed = await admin.fetchOffsets({ groupId, topics: [...topics] });
      for (const topic of topics) {
        const mine = new Map((committed.find((c) => c.topic === topic)?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
        for (const p of await admin.fetchTopicOffsets(topic)) out.set(`${topic}/${p.partition}`, { high: BigInt(p.high), committed: mine.get(p.partition) ?? -1n });
      }
      return out;
    } catch (err) {
      const stale = this.#admin;
      this.#admin = null;
      void stale?.then((a) => a.disconnect()).catch(() => {});
      throw err;
    }
  }

  async close(): Promise<void> {
    const admin = this.#admin;
    this.#admin = null;
    await admin?.then((a) => a.disconnect()).catch(() => {});
  }
}

export interface MemberOptions {
  groupId: string;
  topics: string[];
  fromBeginning: boolean;
  consumer: ConsumerConfig;
  run: ConsumerRunConfig;
  logger: Logger;
  refuse: Refuse;
  transactionalId?: string;
  health: ConsumerHealthConfig;
  lag: LagProbe;
  /** Runs before each (re)start of the consumer, e.g. connecting producers. */
  beforeStart?: () => Promise<void>;
}

function partitionsOf(payload: unknown): string[] {
  const assignment = (payload as { memberAssignment?: Record<string, number[]> } | undefined)?.memberAssignment ?? {};
  return Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((p) => `${topic}/${p}`));
}

/**
 * A consumer-group member that does not stay down. KafkaJS restarts a consumer only after a
 * retriable error; after anything else (an UNKNOWN_MEMBER_ID on a commit once a restarted broker
 * forgot the member, retries exhausted on a non-retriable cause) it leaves it stopped for good,
 * reading nothing. This member then makes a new consumer and joins again, with backoff, logged;
 * only a broker refusal (ACLs, authentication) leaves it dead, since retrying cannot help. It
 * also tracks its lag and progress, so a member with work behind it that moves no further is
 * visible (health(), a warning) rather than silent.
 */
export class GroupMember {
  readonly #kafka: Kafka;
  readonly #options: MemberOptions;
  #consumer: Consumer;
  #state: MemberState = 'starting';
  #problem: BusError | null = null;
  #restarts = 0;
  #started = false;
  #stopping = false;
  #restarting: Promise<void> | null = null;
  #assigned: string[] = [];
  /** Per topic-partition, one past the last offset this member finished (control records included). */
  readonly #positions = new Map<string, bigint>();
  #lag: number | null = null;
  #progressAt = Date.now();
  #stallWarned = false;
  #timer: NodeJS.Timeout | null = null;
  /** Ends a restart's backoff early when the member is stopped. */
  #wake: () => void = () => {};

  constructor(kafka: Kafka, options: MemberOptions) {
    this.#kafka = kafka;
    this.#options = options;
    this.#consumer = this.#create();
  }

  /** The KafkaJS consumer in use now (a new one after a restart). */
  get consumer(): Consumer {
    return this.#consumer;
  }

  get state(): MemberState {
    return this.#state;
  }

  #create(): Consumer {
    const consumer = this.#kafka.consumer(this.#options.consumer);
    const { events } = consumer;
    consumer.on(events.GROUP_JOIN, (event) => {
      if (consumer !== this.#consumer) return;
      this.#assigned = partitionsOf(event.payload);
      this.#state = 'running';
      this.#problem = null;
      this.#progress();
    });
    consumer.on(events.START_BATCH_PROCESS, ({ payload }) => {
      // Where a member that committed nothing yet started reading: its lag counts from there.
      const tp = `${payload.topic}/${payload.partition}`;
      if (consumer === this.#consumer && !this.#positions.has(tp) && payload.firstOffset !== null) this.#positions.set(tp, BigInt(payload.firstOffset));
    });
    consumer.on(events.END_BATCH_PROCESS, ({ payload }) => {
      if (consumer !== this.#consumer) return;
      this.#positions.set(`${payload.topic}/${payload.partition}`, BigInt(payload.lastOffset) + 1n);
      this.#progress();
    });
    consumer.on(events.CRASH, (event) => {
      if (consumer !== this.#consumer || this.#stopping) return;
      if (event.payload.restart) {
        this.#state = 'rejoining'; // KafkaJS restarts this one itself
        return;
      }
      if (!this.#started) return; // the first start fails and says why (startAndJoin)
      this.#restarting ??= this.#restart(event.payload.error).finally(() => (this.#restarting = null));
    });
    return consumer;
  }

  #progress(): void {
    this.#progressAt = Date.now();
    if (this.#stallWarned) this.#options.logger.info({ groupId: this.#options.groupId, lag: this.#lag }, 'consumer making progress again');
    this.#stallWarned = false;
  }

  #setUp(consumer: Consumer): () => Promise<void> {
    return async () => {
      await this.#options.beforeStart?.();
      await consumer.connect();
      await consumer.subscribe({ topics: this.#options.topics, fromBeginning: this.#options.fromBeginning });
      await consumer.run(this.#options.run);
    };
  }

  #access() {
    return { refuse: this.#options.refuse, topics: this.#options.topics, ...(this.#options.transactionalId ? { transactionalId: this.#options.transactionalId } : {}) };
  }

  /** Resolves once the member has joined its group and is fetching; fails as startAndJoin does. */
  async start(): Promise<void> {
    await startAndJoin(this.#consumer, this.#options.groupId, this.#setUp(this.#consumer), undefined, this.#access());
    this.#started = true;
    this.#state = 'running';
    this.#progress();
    this.#timer = setInterval(() => void this.#checkLag(), this.#options.health.lagCheckEveryMs);
    this.#timer.unref();
  }

  async #restart(error: unknown): Promise<void> {
    const { groupId } = this.#options;
    const refused = await this.#options.refuse(error, { action: 'read', group: groupId, topics: this.#options.topics }).catch(() => null);
    if (refused) {
      this.#state = 'dead';
      this.#problem = new BusError('CONSUMER_DEAD', `consumer group ${groupId}: stopped for good: ${refused.message}`, { retriable: false, hint: refused.hint, cause: refused });
      this.#options.logger.error({ groupId, err: refused.message, code: refused.code }, 'consumer stopped for good: the broker refuses it');
      return;
    }
    const downSince = Date.now();
    this.#state = 'restarting';
    this.#problem = new BusError('CONSUMER_RESTARTING', `consumer group ${groupId}: KafkaJS stopped the consumer (${describe(error)}); restarting it`, {
      retriable: true, hint: 'Nothing to do unless it keeps restarting: then check the broker and the logs.', cause: error,
    });
    const { restartInitialBackoffMs, restartMaxBackoffMs } = this.#options.health;
    for (let attempt = 0; !this.#stopping; attempt++) {
      const waitMs = Math.min(restartMaxBackoffMs, restartInitialBackoffMs * 2 ** attempt);
      this.#options.logger.warn({ groupId, err: describe(error), attempt: attempt + 1, inMs: waitMs }, 'consumer stopped by KafkaJS (it does not restart it): restarting it');
      await Promise.race([jitteredDelay(waitMs), new Promise<void>((r) => (this.#wake = r))]);
      if (this.#stopping) return;
      await this.#consumer.disconnect().catch(() => {});
      if (this.#stopping) return;
      const next = this.#create();
      this.#consumer = next;
      try {
        await startAndJoin(next, groupId, this.#setUp(next), undefined, this.#access());
      } catch (err) {
        error = err;
        if ((err as { retriable?: unknown }).retriable === false) {
          this.#state = 'dead';
          this.#problem = new BusError('CONSUMER_DEAD', `consumer group ${groupId}: could not be restarted: ${describe(err)}`, { retriable: false, hint: (err as BusError).hint ?? 'Check the logs.', cause: err });
          this.#options.logger.error({ groupId, err: describe(err) }, 'consumer could not be restarted and stays stopped');
          return;
        }
        continue;
      }
      if (this.#stopping) return;
      this.#restarts++;
      this.#state = 'running';
      this.#problem = null;
      this.#progress();
      this.#options.logger.warn({ groupId, restarts: this.#restarts, downMs: Date.now() - downSince }, 'consumer restarted and joined its group again');
      return;
    }
  }

  async #checkLag(): Promise<void> {
    if (this.#stopping) return;
    const { groupId, topics } = this.#options;
    try {
      const offsets = await this.#options.lag.offsets(groupId, topics);
      const held = this.#assigned.length > 0 && this.#state === 'running' ? this.#assigned : [...offsets.keys()];
      let lag = 0n;
      for (const tp of held) {
        const o = offsets.get(tp);
        if (!o) continue;
        // A transactional topic's last commit marker is never committed as an offset: what this member skipped over counts as read.
        const read = [o.committed, this.#positions.get(tp) ?? -1n].reduce((a, b) => (a > b ? a : b));
        if (read >= 0n && o.high > read) lag += o.high - read;
        else if (read < 0n && this.#options.fromBeginning) lag += o.high; // nothing read yet; low watermark unknown here, an upper bound
      }
      this.#lag = Number(lag);
      if (lag === 0n) this.#progress();
    } catch {
      // The broker does not answer: the last lag measured stands, and the progress clock runs on.
    }
    const health = this.health();
    if (health.stalled && !this.#stallWarned) {
      this.#stallWarned = true;
      this.#options.logger.warn({ groupId, lag: health.lag, msSinceProgress: health.msSinceProgress, state: health.state }, 'consumer stalled: lag behind it and no progress');
    }
  }

  health(): ConsumerHealth {
    const { groupId, topics, health: { stallAfterMs } } = this.#options;
    const msSinceProgress = Date.now() - this.#progressAt;
    const stalled = this.#started && !this.#stopping && (this.#lag ?? 0) > 0 && msSinceProgress > stallAfterMs;
    const problem = this.#state === 'running' && stalled
      ? new BusError('CONSUMER_STALLED', `consumer group ${groupId}: ${this.#lag} records behind and no progress for ${Math.round(msSinceProgress / 1000)} s`, {
        retriable: true, hint: 'Check the service\'s logs and the broker; restart the service if it does not recover.',
      })
      : this.#state === 'running' ? null
      : this.#problem ?? new BusError(this.#state === 'stopped' ? 'SHUT_DOWN' : 'CONSUMER_RESTARTING', `consumer group ${groupId} is ${this.#state}`, { retriable: true, hint: 'Retry shortly.' });
    return { groupId, topics, state: this.#state, lag: this.#lag, msSinceProgress, stalled, restarts: this.#restarts, ready: problem === null, problem };
  }

  /** Idempotent: stops restarting and lag checks, then disconnects the consumer in use. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#state = 'stopped';
    if (this.#timer) clearInterval(this.#timer);
    this.#wake();
    const restarting = this.#restarting;
    if (restarting) {
      // A join in progress fails once its consumer is disconnected; the loop then sees the stop.
      await this.#consumer.disconnect().catch(() => {});
      await restarting.catch(() => {});
    }
    await this.#consumer.disconnect();
  }
}
