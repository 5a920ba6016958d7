import type { Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import type { DeadLetter, MessageName } from '@intentgate/contracts';
import { BusError, describe, noRefusals, type Refuse } from './errors.ts';
import type { Logger } from './logger.ts';
import { groupByTopic, PRODUCER_SAFETY, toKafkaMessage, type OutgoingRecord } from './producer.ts';
import type { Serde } from './serde.ts';
import { decodeBatch, type BatchContext, type IncomingRecord } from './consumer.ts';
import { deadLetterOf } from './dead-letter.ts';
import { startAndJoin } from './group-join.ts';
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
  /** Turns a batch's records into output records; all of them commit with the batch's offsets, or none. */
  transform: (records: IncomingRecord<N>[], ctx: BatchContext) => Promise<OutgoingRecord[]>;
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
  readonly #consumer: Consumer;
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
  #turn = 0;
  readonly #serde: Serde;
  readonly #options: TransactionalOptions<N>;
  #started: Promise<void> | null = null;
  #stopped: Promise<void> | null = null;
  #committedBatches = 0;
  #queue: Array<{ payload: EachBatchPayload; resolve: () => void; reject: (err: unknown) => void }> = [];
  #pumping = false;
  readonly #refuse: Refuse;

  constructor(kafka: Kafka, serde: Serde, options: TransactionalOptions<N>, refuse: Refuse = noRefusals) {
    this.#refuse = refuse;
    this.#consumer = kafka.consumer({
      groupId: options.groupId,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 500,
      maxBytesPerPartition: options.maxBytesPerPartition ?? DEFAULT_PARTITION_FETCH_BYTES,
      maxBytes: 6 * (options.maxBytesPerPartition ?? DEFAULT_PARTITION_FETCH_BYTES),
      // A crashed worker's partitions move to a live one after this long (Kafka's default is 30 s).
      sessionTimeout: options.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: Math.floor((options.sessionTimeoutMs ?? 10_000) / 3),
      retry: { retries: 8 },
    });
    this.#producers = options.exactlyOnce === false
      ? [kafka.producer({ ...PRODUCER_SAFETY })]
      : [options.transactionalId, `${options.transactionalId}${ALTERNATE_SUFFIX}`].map((transactionalId) => kafka.producer({
        ...PRODUCER_SAFETY, transactionalId,
        // Should the markers still be pending (see #producers), retry soon, not after 100+ ms.
        retry: { initialRetryTime: 5, maxRetryTime: 1_000, retries: 12 },
      }));
    this.#serde = serde;
    this.#options = options;
    this.#consumer.on(this.#consumer.events.CRASH, (event) => {
      if (!event.payload.restart) options.logger.error({ groupId: options.groupId, err: describe(event.payload.error) }, 'transactional consumer stopped for good (KafkaJS does not restart it)');
    });
  }

  get committedBatches(): number {
    return this.#committedBatches;
  }

  start(): Promise<void> {
    this.#started ??= (async () => {
      await startAndJoin(this.#consumer, this.#options.groupId, async () => {
        await Promise.all(this.#producers.map((p) => p.connect()));
        await this.#consumer.connect();
        await this.#consumer.subscribe({ topics: this.#options.topics, fromBeginning: this.#options.fromBeginning ?? false });
        await this.#consumer.run({
          autoCommit: false, eachBatchAutoResolve: false, eachBatch: (p) => this.#eachBatch(p),
          // Every partition of a fetch at once, so they share one transaction (see #eachBatch).
          partitionsConsumedConcurrently: PARTITIONS_AT_ONCE,
        });
      }, undefined, { refuse: this.#refuse, topics: this.#options.topics, transactionalId: this.#options.transactionalId });
    })();
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
          group.forEach((g) => g.reject(err));
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  async #processGroup(payloads: EachBatchPayload[]): Promise<void> {
    const batches: Array<{ payload: EachBatchPayload; nextOffset: string }> = [];
    const records: IncomingRecord<N>[] = [];
    const outputs: OutgoingRecord[] = [];
    for (const payload of payloads) {
      const { batch } = payload;
      const decoded = await decodeBatch<N>(this.#serde, batch);
      if (decoded.nextOffset === null) continue;
      batches.push({ payload, nextOffset: decoded.nextOffset });
      for (const poison of decoded.poison) {
        const { record, letter } = deadLetterOf(poison, this.#options.groupId);
        this.#options.logger.warn({ topic: batch.topic, offset: letter.original.offset, reason: letter.reason }, 'record dead-lettered');
        outputs.push(record, ...(this.#options.onDeadLetter?.(letter) ?? []));
      }
      records.push(...decoded.records);
    }
    if (batches.length === 0) return;
    const first = batches[0]!.payload;
    if (records.length > 0) outputs.push(...(await this.#options.transform(records, { heartbeat: first.heartbeat, isRunning: first.isRunning })));
    const messages = await Promise.all(outputs.map(async (r) => ({ topic: r.topic, message: await toKafkaMessage(this.#serde, r) })));
    const offsets = batches.map(({ payload, nextOffset }) => ({ topic: payload.batch.topic, partition: payload.batch.partition, offset: nextOffset }));
    const where = { partitions: offsets.map((o) => `${o.topic}/${o.partition}@${o.offset}`).join(','), records: records.length, outputs: messages.length };
    const resolveAll = () => {
      for (const { payload } of batches) {
        const last = payload.batch.messages.at(-1);
        if (last) payload.resolveOffset(last.offset);
      }
    };

    if (this.#options.exactlyOnce === false) {
      if (messages.length > 0) await this.#producers[0]!.sendBatch({ acks: -1, topicMessages: groupByTopic(messages) });
      await this.#consumer.commitOffsets(offsets);
      resolveAll();
      this.#committedBatches++;
      await this.#afterCommit(records, outputs, where.partitions);
      return;
    }
    this.#options.logger.debug(where, 'transaction: begin');
    const producer = this.#producers[this.#turn]!;
    this.#turn = (this.#turn + 1) % this.#producers.length;
    const txn = await producer.transaction();
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
      await txn.commit();
      this.#committedBatches++;
      this.#options.logger.debug(where, 'transaction: committed');
    } catch (err) {
      await txn.abort().catch((abortErr: unknown) => {
        this.#options.logger.error({ err: describe(abortErr) }, 'transaction abort failed');
      });
      throw (await this.#refuse(err, { action: 'write in a transaction to', topics: [...new Set(outputs.map((o) => o.topic))], transactionalId: this.#producerId(producer) }).catch(() => null))
        ?? new BusError('TRANSACTION_FAILED', `batches ${where.partitions} not committed: ${describe(err)}`, {
        retriable: true, hint: 'The batches were aborted and will be processed again.', cause: err,
      });
    }
    resolveAll();
    await this.#afterCommit(records, outputs, where.partitions);
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
      for (const [what, close] of [['consumer', () => this.#consumer.disconnect()], ['producers', () => Promise.all(this.#producers.map((p) => p.disconnect()))]] as const) {
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
