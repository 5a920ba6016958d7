import type { EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { DeadLetter, MessageName } from '@intentgate/contracts';
import { BusError, describe, noRefusals, type Refuse } from './errors.ts';
import type { Logger } from './logger.ts';
import { groupByTopic, PRODUCER_SAFETY, toKafkaMessage, type OutgoingRecord } from './producer.ts';
import type { Serde } from './serde.ts';
import { decodeBatch, type BatchContext, type IncomingRecord } from './consumer.ts';
import { deadLetterOf, type PoisonRecord } from './dead-letter.ts';
import { consumerHealthConfig, GroupMember, LagProbe, type ConsumerHealth, type ConsumerHealthOptions } from './member.ts';
import { jitteredDelay } from './backoff.ts';

export interface TransactionalOptions<N extends MessageName> {
  groupId: string;
  topics: string[];
  /**
   * Stable per worker instance: it fences a zombie predecessor with the same id. Exactly-once
   * runs two transactional producers, `<id>` and `<id>` + ALTERNATE_SUFFIX, taking turns (see
   * #producers); both are fenced the same way.
   */
  transactionalId: string;
  /**
   * Turns a batch's records into output records; all of them commit with the batch's offsets, or
   * none. A record it cannot process it hands to `ctx.deadLetter` (and emits nothing for): that
   * record is dead-lettered, with its onDeadLetter outputs, in the same transaction as the rest.
   * Should it throw, or an output break its contract or be refused by the broker, the batch is
   * isolated (see #isolate) and called again with parts of it.
   */
  transform: (records: IncomingRecord<N>[], ctx: TransformContext<N>) => Promise<OutgoingRecord[]>;
  /**
   * Called after a batch's transaction committed, with what it wrote. Work that must not happen
   * for an aborted batch (remembering decisions, updating session history) goes here.
   */
  onCommitted?: (records: IncomingRecord<N>[], outputs: OutgoingRecord[]) => Promise<void>;
  /** Extra outputs for a dead-lettered record (e.g. a final deny for its intent), in the same transaction. */
  onDeadLetter?: (letter: DeadLetter) => OutgoingRecord[];
  fromBeginning?: boolean;
  logger: Logger;
  /** How long the group waits for a silent member before reassigning its partitions. */
  sessionTimeoutMs?: number;
  /**
   * false: no transaction, at-least-once (outputs acknowledged, then the offsets committed; a
   * crash in between writes the batch's outputs again). Only for measuring what exactly-once
   * costs: the decision worker always runs with the default, true.
   */
  exactlyOnce?: boolean;
  /**
   * Upper bound on what one fetch brings per partition (bytes), and so on one transaction's
   * size: under a backlog, small bounded transactions keep memory flat and latency even.
   */
  maxBytesPerPartition?: number;
  /** Attempts for a transaction step the broker answers CONCURRENT_TRANSACTIONS to (KafkaJS does not retry it). */
  concurrentRetries?: number;
  /** When this member counts as stalled, and how it is restarted (defaults: CONSUMER_HEALTH_DEFAULTS). */
  health?: ConsumerHealthOptions;
}

export interface TransformContext<N extends MessageName> extends BatchContext {
  /** Dead-letters this record with the reason (an UPPER_SNAKE code) instead of its outputs. */
  deadLetter(record: IncomingRecord<N>, reason: { code: string; message: string }): void;
}

/** One consumed message of a group, decoded or poison. */
interface Unit<N extends MessageName> {
  topic: string;
  partition: number;
  message: KafkaMessage;
  record?: IncomingRecord<N>;
  poison?: PoisonRecord;
}

/** A failure that is the records' own (not the broker's or the registry's): grounds for isolating them. */
class RecordFault extends Error {
  readonly reason: { code: string; message: string };
  constructor(reason: { code: string; message: string }, cause: unknown) {
    super(reason.message, { cause });
    this.name = 'RecordFault';
    this.reason = reason;
  }
}

/** Tries for a unit alone before it is taken to be the cause and dead-lettered. */
const SOLO_ATTEMPTS = 3;

/** Broker refusals of a produce that are about the records sent, not about the broker's state. */
const OUTPUT_REFUSALS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD']);

function causesOf(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err; e !== undefined && e !== null && chain.length < 8; e = (e as { cause?: unknown; originalError?: unknown }).cause ?? (e as { originalError?: unknown }).originalError) chain.push(e);
  return chain;
}

function outputRefusal(err: unknown): { code: string; message: string } | null {
  const refusal = causesOf(err).find((e) => OUTPUT_REFUSALS.has((e as { type?: string }).type ?? ''));
  return refusal ? { code: 'OUTPUT_REFUSED', message: `the broker refused an output of this record (${(refusal as { type: string }).type}): ${describe(err)}` } : null;
}

/** The broker, the registry or Redis not answering: the batch is tried again, never blamed on a record. */
function isTransient(err: unknown): boolean {
  return causesOf(err).some((e) => (e as { retriable?: unknown }).retriable === true);
}

const PARTITIONS_AT_ONCE = 64;

/**
 * What one fetch brings per partition, and so how large a transaction gets under a backlog.
 * Overloaded, the decision worker peaked at 334–357 MB RSS with 128 KiB and 289–303 MB with
 * 64 KiB (two runs each, alternating), for 0–10% less throughput at saturation.
 */
const DEFAULT_PARTITION_FETCH_BYTES = 64 * 1024;

/** The second transactional producer's id: `<transactionalId>` + this. */
export const ALTERNATE_SUFFIX = '.alt';

function isConcurrentTransactions(err: unknown): boolean {
  return (err as { type?: string }).type === 'CONCURRENT_TRANSACTIONS';
}

function backoff(attempt: number): Promise<void> {
  return jitteredDelay(Math.min(1000, 50 * 2 ** attempt));
}

/**
 * Consume-transform-produce with exactly-once semantics on Kafka: outputs, dead letters and the
 * consumed offsets are written in one transaction per batch, read back with read_committed.
 */
export class TransactionalProcessor<N extends MessageName> {
  readonly #member: GroupMember;
  /**
   * Exactly-once takes turns between two transactional producers. After EndTxn the broker still
   * writes the commit markers; until they are written it refuses that producer's next
   * transaction (CONCURRENT_TRANSACTIONS), and with one producer 155 of 513 transactions waited
   * for that (a backoff, a retry and a metadata refresh). The other producer's last transaction
   * ended a whole cycle earlier. Transactions never overlap (the next begins after the last's
   * commit returned), so records and offsets are appended in the same order as with one
   * producer, and the group coordinator keeps the offset commit appended last.
   */
  readonly #producers: Producer[];
  readonly #makeProducer: (index: number) => Producer;
  #turn = 0;
  readonly #lag: LagProbe;
  /**
   * Per topic/partition, the next offset known committed: this process's own committed
   * transactions, or the group's offsets read back after a commit whose outcome was unclear.
   * A record below it was decided in a committed transaction already; fetched again (a rejoin
   * after a broker restart can read the group's offsets before that commit's markers are
   * written, since KafkaJS's OffsetFetch cannot ask for stable offsets), it is skipped, so it
   * never publishes a second set of outputs in a later transaction.
   */
  readonly #committed = new Map<string, bigint>();
  /**
   * A commit failed after it was sent (it may have committed), or an abort failed (KafkaJS then
   * leaves that producer in ABORTING, and every later beginTransaction throws a non-retriable
   * error). Settled before the next batch: new producers, committed offsets read back.
   */
  #unclear = false;
  #skippedRedeliveries = 0;
  readonly #serde: Serde;
  readonly #options: TransactionalOptions<N>;
  #started: Promise<void> | null = null;
  #stopped: Promise<void> | null = null;
  #committedBatches = 0;
  readonly #containment = { failedGroups: 0, isolatedGroups: 0, isolatedRecords: 0 };
  #queue: Array<{ payload: EachBatchPayload; resolve: () => void; reject: (err: unknown) => void }> = [];
  #pumping = false;
  readonly #refuse: Refuse;

  constructor(kafka: Kafka, serde: Serde, options: TransactionalOptions<N>, refuse: Refuse = noRefusals, lag: LagProbe = new LagProbe(kafka)) {
    this.#refuse = refuse;
    const sessionTimeout = options.sessionTimeoutMs ?? 10_000;
    this.#member = new GroupMember(kafka, {
      groupId: options.groupId, topics: options.topics, fromBeginning: options.fromBeginning ?? false, logger: options.logger, refuse, lag,
      transactionalId: options.transactionalId, health: consumerHealthConfig(options.health),
      consumer: {
        groupId: options.groupId,
        readUncommitted: false,
        allowAutoTopicCreation: false,
        maxWaitTimeInMs: 500,
        maxBytesPerPartition: options.maxBytesPerPartition ?? DEFAULT_PARTITION_FETCH_BYTES,
        maxBytes: 6 * (options.maxBytesPerPartition ?? DEFAULT_PARTITION_FETCH_BYTES),
        // A crashed worker's partitions move to a live one after this long (Kafka's default is 30 s).
        sessionTimeout,
        heartbeatInterval: Math.floor(sessionTimeout / 3),
        retry: { retries: 8 },
      },
      run: {
        autoCommit: false, eachBatchAutoResolve: false, eachBatch: (p) => this.#eachBatch(p),
        // Every partition of a fetch at once, so they share one transaction (see #eachBatch).
        partitionsConsumedConcurrently: PARTITIONS_AT_ONCE,
      },
      beforeStart: async () => {
        await Promise.all(this.#producers.map((p) => p.connect()));
      },
    });
    this.#makeProducer = (index) => options.exactlyOnce === false
      ? kafka.producer({ ...PRODUCER_SAFETY })
      : kafka.producer({
        ...PRODUCER_SAFETY, transactionalId: index === 1 ? `${options.transactionalId}${ALTERNATE_SUFFIX}` : options.transactionalId,
        // Should the markers still be pending (see #producers), retry soon, not after 100+ ms.
        retry: { initialRetryTime: 5, maxRetryTime: 1_000, retries: 12 },
      });
    this.#producers = (options.exactlyOnce === false ? [0] : [0, 1]).map((i) => this.#makeProducer(i));
    this.#lag = lag;
    this.#serde = serde;
    this.#options = options;
  }

  /** Lag, progress and state of this member: whether its service may call itself ready. */
  health(): ConsumerHealth {
    return this.#member.health();
  }

  get committedBatches(): number {
    return this.#committedBatches;
  }

  /** Records fetched again after their transaction had committed, and skipped (see #committed), since start. */
  get skippedRedeliveries(): number {
    return this.#skippedRedeliveries;
  }

  /**
   * Since start: groups of batches handed back to KafkaJS after a failure that was not a record's
   * (they are fetched again, and the consumer restarts), groups isolated for a record's failure,
   * and records dead-lettered by that isolation. A poison record costs none of these when the
   * contract or the transform catches it; failedGroups that keeps growing is a consumer stuck.
   */
  get containment(): { failedGroups: number; isolatedGroups: number; isolatedRecords: number } {
    return { ...this.#containment };
  }

  start(): Promise<void> {
    this.#started ??= this.#member.start();
    return this.#started;
  }

  /**
   * kafkajs hands over the batches of one fetch (one per partition) concurrently; they queue
   * here and go through the transform and one transaction together, so a fetch across six
   * partitions costs one transaction, not six. A partition's next batch comes only after its
   * current one resolved, so per-partition (and per-key) order holds.
   */
  #eachBatch(payload: EachBatchPayload): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ payload, resolve, reject });
      void this.#pump();
    });
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#queue.length > 0) {
        // Let the other batches of the same fetch arrive before taking the group.
        await new Promise((r) => setImmediate(r));
        const group = this.#queue.splice(0);
        try {
          await this.#processGroup(group.map((g) => g.payload));
          group.forEach((g) => g.resolve());
        } catch (err) {
          this.#containment.failedGroups++;
          group.forEach((g) => g.reject(err));
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  async #processGroup(payloads: EachBatchPayload[]): Promise<void> {
    const batches: EachBatchPayload[] = [];
    const units: Array<Unit<N>> = [];
    for (const payload of payloads) {
      const { batch } = payload;
      const decoded = await decodeBatch<N>(this.#serde, batch);
      if (decoded.nextOffset === null) continue;
      batches.push(payload);
      const records = new Map(decoded.records.map((r) => [r.offset, r]));
      const poison = new Map(decoded.poison.map((p) => [p.message.offset, p]));
      // In offset order, so any prefix of the units is a prefix of each partition: what isolation commits.
      for (const message of batch.messages) {
        const record = records.get(message.offset);
        const bad = poison.get(message.offset);
        if (record) units.push({ topic: batch.topic, partition: batch.partition, message, record });
        else if (bad) units.push({ topic: batch.topic, partition: batch.partition, message, poison: bad });
      }
    }
    if (batches.length === 0 || units.length === 0) return;
    if (this.#unclear) await this.#settleUnclear();
    const fresh = units.filter((u) => BigInt(u.message.offset) >= (this.#committed.get(`${u.topic}/${u.partition}`) ?? -1n));
    if (fresh.length < units.length) {
      this.#skippedRedeliveries += units.length - fresh.length;
      this.#options.logger.warn({ skipped: units.length - fresh.length, partitions: [...new Set(units.filter((u) => !fresh.includes(u)).map((u) => `${u.topic}/${u.partition}`))] },
        'records of a committed transaction fetched again (the group\'s offsets were read before that commit completed): skipped, nothing published again');
    }
    units.splice(0, units.length, ...fresh);
    if (units.length === 0) {
      for (const payload of batches) payload.resolveOffset(payload.batch.messages.at(-1)!.offset);
      return;
    }
    const first = batches[0]!;
    const ctx = { heartbeat: first.heartbeat, isRunning: first.isRunning };
    try {
      await this.#attempt(units, ctx);
    } catch (err) {
      if (!(err instanceof RecordFault)) throw err;
      this.#containment.isolatedGroups++;
      this.#options.logger.error({ err: err.message, code: err.reason.code, records: units.length }, 'a batch failed for a reason of its own records: isolating them');
      await this.#isolate(units, ctx);
    }
    for (const payload of batches) {
      const last = payload.batch.messages.at(-1);
      if (last) payload.resolveOffset(last.offset);
    }
  }

  /**
   * Bisects a failed group: halves that commit are done, a half that fails is split again, and a
   * unit that fails alone (after a few tries, in case the failure was not its own) is dead-lettered
   * with the reason and its onDeadLetter outputs (a final deny), in a transaction of its own.
   * Halves go left to right, so each partition's offsets are committed in order. A failure that
   * is not a record's (the broker or registry unreachable, fencing, a refusal) stops the isolation
   * and is thrown: the batch is fetched again, never dead-lettered for it.
   */
  async #isolate(units: Array<Unit<N>>, ctx: BatchContext): Promise<void> {
    if (units.length > 1) {
      const mid = Math.ceil(units.length / 2);
      for (const half of [units.slice(0, mid), units.slice(mid)]) {
        await this.#between(ctx);
        try {
          await this.#attempt(half, ctx);
        } catch (err) {
          if (!(err instanceof RecordFault)) throw err;
          await this.#isolate(half, ctx);
        }
      }
      return;
    }
    const unit = units[0]!;
    let fault: RecordFault | null = null;
    for (let attempt = 0; attempt < SOLO_ATTEMPTS; attempt++) {
      await this.#between(ctx, attempt);
      try {
        await this.#attempt(units, ctx);
        return;
      } catch (err) {
        if (!(err instanceof RecordFault)) throw err;
        fault = err;
      }
    }
    this.#options.logger.error({ topic: unit.topic, partition: unit.partition, offset: unit.message.offset, reason: fault!.reason }, 'record fails alone: dead-lettering it');
    try {
      await this.#attempt(units, ctx, { reason: fault!.reason, bare: false });
    } catch (err) {
      if (!(err instanceof RecordFault)) throw err;
      // Its final deny is what fails: the letter alone then, so the record is never retried forever.
      this.#options.logger.error({ offset: unit.message.offset, err: err.message }, 'the dead letter\'s extra outputs fail too: writing the letter alone');
      await this.#attempt(units, ctx, { reason: fault!.reason, bare: true });
    }
    this.#containment.isolatedRecords++;
  }

  async #between(ctx: BatchContext, attempt = 0): Promise<void> {
    if (!ctx.isRunning()) {
      throw new BusError('SHUT_DOWN', 'stopped while isolating a failed batch', { retriable: true, hint: 'The batch is fetched again by the next member.' });
    }
    if (attempt > 0) await backoff(attempt);
    await ctx.heartbeat(); // isolation takes several transactions: the member keeps its place meanwhile
  }

  /**
   * One transaction for `units`: the transform's outputs for their records, a dead letter (and its
   * onDeadLetter outputs) for each poison unit and each record the transform rejected, and their
   * offsets. `forced` dead-letters every unit without transforming it (isolation's last step): a
   * record with that reason, a poison unit with its own; `bare` leaves out onDeadLetter's outputs.
   * Throws RecordFault when the failure is the records' own (the transform threw, an output breaks
   * its contract, the broker refused an output as too large or invalid); anything else as it came.
   */
  async #attempt(units: Array<Unit<N>>, ctx: BatchContext, forcedBy?: { reason: { code: string; message: string }; bare: boolean }): Promise<void> {
    const forced = forcedBy?.reason;
    const rejected = new Map<string, { code: string; message: string }>();
    const key = (u: { topic: string; partition: number; offset: string }) => `${u.topic}/${u.partition}@${u.offset}`;
    const records = forced ? [] : units.flatMap((u) => (u.record ? [u.record] : []));
    const outputs: OutgoingRecord[] = [];
    if (records.length > 0) {
      const transformCtx: TransformContext<N> = {
        ...ctx,
        deadLetter: (record, reason) => {
          rejected.set(key(record), reason);
        },
      };
      let transformed: OutgoingRecord[];
      try {
        transformed = await this.#options.transform(records, transformCtx);
      } catch (err) {
        if (isTransient(err)) throw err;
        throw new RecordFault({ code: 'PROCESSING_FAILED', message: `the transform failed: ${describe(err)}` }, err);
      }
      outputs.push(...transformed);
    }
    const letters: OutgoingRecord[] = [];
    for (const unit of units) {
      const reason = unit.poison ? null : forced ?? rejected.get(key({ topic: unit.topic, partition: unit.partition, offset: unit.message.offset }));
      if (!unit.poison && !reason) continue;
      const poison: PoisonRecord = reason
        ? { topic: unit.topic, partition: unit.partition, message: unit.message, error: null, reason }
        : unit.poison!;
      const { record, letter } = deadLetterOf(poison, this.#options.groupId);
      this.#options.logger.warn({ topic: unit.topic, offset: letter.original.offset, reason: letter.reason }, 'record dead-lettered');
      letters.push(record);
      if (forcedBy?.bare) continue;
      try {
        letters.push(...(this.#options.onDeadLetter?.(letter) ?? []));
      } catch (err) {
        // The letter still goes: nothing is dropped because its final deny could not be built.
        this.#options.logger.error({ err: describe(err), offset: letter.original.offset }, 'onDeadLetter failed; the dead letter is written without its extra outputs');
      }
    }
    outputs.unshift(...letters);
    const kept = records.filter((r) => !rejected.has(key(r)));
    const messages = await Promise.all(outputs.map(async (r) => {
      try {
        return { topic: r.topic, message: await toKafkaMessage(this.#serde, r) };
      } catch (err) {
        if (isTransient(err)) throw err;
        throw new RecordFault({ code: 'OUTPUT_INVALID', message: `an output for ${r.topic} breaks its contract: ${describe(err)}` }, err);
      }
    }));
    // One past each partition's last unit here: the whole batch's next offset when these are all its units.
    const next = new Map<string, { topic: string; partition: number; offset: string }>();
    for (const u of units) next.set(`${u.topic}/${u.partition}`, { topic: u.topic, partition: u.partition, offset: (BigInt(u.message.offset) + 1n).toString() });
    const offsets = [...next.values()];
    const where = { partitions: offsets.map((o) => `${o.topic}/${o.partition}@${o.offset}`).join(','), records: kept.length, outputs: messages.length };

    if (this.#options.exactlyOnce === false) {
      try {
        if (messages.length > 0) await this.#producers[0]!.sendBatch({ acks: -1, topicMessages: groupByTopic(messages) });
      } catch (err) {
        const refused = outputRefusal(err);
        if (refused) throw new RecordFault(refused, err);
        throw err;
      }
      await this.#member.consumer.commitOffsets(offsets);
      this.#committedBatches++;
      this.#markCommitted(offsets);
      await this.#afterCommit(kept, outputs, where.partitions);
      return;
    }
    this.#options.logger.debug(where, 'transaction: begin');
    const producer = this.#producers[this.#turn]!;
    this.#turn = (this.#turn + 1) % this.#producers.length;
    const txn = await producer.transaction();
    let committing = false;
    try {
      if (messages.length > 0) await txn.sendBatch({ acks: -1, topicMessages: groupByTopic(messages) });
      const byTopic = new Map<string, Array<{ partition: number; offset: string }>>();
      for (const o of offsets) byTopic.set(o.topic, [...(byTopic.get(o.topic) ?? []), { partition: o.partition, offset: o.offset }]);
      const txnOffsets = { consumerGroupId: this.#options.groupId, topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })) };
      const attempts = this.#options.concurrentRetries ?? 8;
      for (let attempt = 0; ; attempt++) {
        try {
          await txn.sendOffsets(txnOffsets);
          break;
        } catch (err) {
          if (!isConcurrentTransactions(err) || attempt >= attempts) throw err;
          await backoff(attempt);
        }
      }
      this.#options.logger.debug(where, 'transaction: offsets added');
      committing = true;
      await txn.commit();
      this.#committedBatches++;
      this.#markCommitted(offsets);
      this.#options.logger.debug(where, 'transaction: committed');
    } catch (err) {
      // EndTxn may have reached the coordinator before the connection failed: committed or not is unknown here.
      if (committing) this.#unclear = true;
      await txn.abort().catch((abortErr: unknown) => {
        this.#unclear = true;
        this.#options.logger.error({ err: describe(abortErr) }, 'transaction abort failed: the producers are made again before the next batch');
      });
      const refused = outputRefusal(err);
      if (refused) throw new RecordFault(refused, err);
      throw (await this.#refuse(err, { action: 'write in a transaction to', topics: [...new Set(outputs.map((o) => o.topic))], transactionalId: this.#producerId(producer) }).catch(() => null))
        ?? new BusError('TRANSACTION_FAILED', `batches ${where.partitions} not committed: ${describe(err)}`, {
        retriable: true, hint: 'The batches were aborted and will be processed again.', cause: err,
      });
    }
    await this.#afterCommit(kept, outputs, where.partitions);
  }

  #markCommitted(offsets: ReadonlyArray<{ topic: string; partition: number; offset: string }>): void {
    for (const o of offsets) {
      const key = `${o.topic}/${o.partition}`;
      const next = BigInt(o.offset);
      if (next > (this.#committed.get(key) ?? -1n)) this.#committed.set(key, next);
    }
  }

  /**
   * After a commit of unclear outcome: new producers under the same transactional ids (their
   * InitProducerId returns only once the coordinator finished any transaction of those ids,
   * committing or aborting it, and fences the old ones), then the group's committed offsets,
   * now stable for these ids, read back. What they cover committed; the rest is processed again.
   */
  async #settleUnclear(): Promise<void> {
    for (let i = 0; i < this.#producers.length; i++) {
      await this.#producers[i]!.disconnect().catch(() => {});
      this.#producers[i] = this.#makeProducer(i);
      await this.#producers[i]!.connect();
    }
    const offsets = await this.#lag.offsets(this.#options.groupId, this.#options.topics);
    this.#markCommitted([...offsets].flatMap(([tp, o]) => {
      const at = tp.lastIndexOf('/');
      return o.committed >= 0n ? [{ topic: tp.slice(0, at), partition: Number(tp.slice(at + 1)), offset: o.committed.toString() }] : [];
    }));
    this.#unclear = false;
    this.#options.logger.warn({ groupId: this.#options.groupId }, 'a commit of unclear outcome settled: producers made again, committed offsets read back');
  }

  #producerId(producer: Producer): string {
    const i = this.#producers.indexOf(producer);
    return i === 1 ? `${this.#options.transactionalId}${ALTERNATE_SUFFIX}` : this.#options.transactionalId;
  }

  async #afterCommit(records: IncomingRecord<N>[], outputs: OutgoingRecord[], partitions: string): Promise<void> {
    if (!this.#options.onCommitted) return;
    try {
      await this.#options.onCommitted(records, outputs);
    } catch (err) {
      // The batch is committed; what follows it must not make it run again.
      this.#options.logger.error({ err: describe(err), partitions }, 'after-commit step failed');
    }
  }

  /**
   * Idempotent: lets the batch in hand commit or abort, leaves the group, closes the producer.
   * Each step is bounded: a drain that does not finish in time is logged and abandoned, which is
   * safe (an uncommitted transaction is aborted by the broker or fenced by the next instance, and
   * its batch is fetched again), where waiting forever would turn SIGTERM into a SIGKILL later.
   */
  stop(timeoutMs = 30_000): Promise<void> {
    this.#stopped ??= (async () => {
      for (const [what, close] of [['consumer', () => this.#member.stop()], ['producers', () => Promise.all(this.#producers.map((p) => p.disconnect()))]] as const) {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            close(),
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new Error(`${what} did not drain within ${timeoutMs} ms; its uncommitted batch will be fetched again`)), timeoutMs);
            }),
          ]);
        } catch (err) {
          this.#options.logger.error({ err: describe(err), queued: this.#queue.length, pumping: this.#pumping }, 'transactional processor shutdown step failed');
        } finally {
          clearTimeout(timer);
        }
      }
    })();
    return this.#stopped;
  }
}
