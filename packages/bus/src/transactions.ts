import type { Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import type { DeadLetter, MessageName } from '@intentgate/contracts';
import { BusError, describe } from './errors.ts';
import type { Logger } from './logger.ts';
import { groupByTopic, PRODUCER_SAFETY, toKafkaMessage, type OutgoingRecord } from './producer.ts';
import type { Serde } from './serde.ts';
import { decodeBatch, type BatchContext, type IncomingRecord } from './consumer.ts';
import { deadLetterOf } from './dead-letter.ts';

export interface TransactionalOptions<N extends MessageName> {
  groupId: string;
  topics: string[];
  /** Stable per worker instance: it fences a zombie predecessor with the same id. */
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
  /** Attempts for a transaction step the broker answers CONCURRENT_TRANSACTIONS to (KafkaJS does not retry it). */
  concurrentRetries?: number;
}

function isConcurrentTransactions(err: unknown): boolean {
  return (err as { type?: string }).type === 'CONCURRENT_TRANSACTIONS';
}

async function backoff(attempt: number): Promise<void> {
  const base = Math.min(1000, 50 * 2 ** attempt);
  await new Promise((r) => setTimeout(r, base / 2 + Math.random() * base));
}

/**
 * Consume-transform-produce with exactly-once semantics on Kafka: outputs, dead letters and the
 * consumed offsets are written in one transaction per batch, read back with read_committed.
 */
export class TransactionalProcessor<N extends MessageName> {
  readonly #consumer: Consumer;
  readonly #producer: Producer;
  readonly #serde: Serde;
  readonly #options: TransactionalOptions<N>;
  #started: Promise<void> | null = null;
  #stopped: Promise<void> | null = null;
  #committedBatches = 0;

  constructor(kafka: Kafka, serde: Serde, options: TransactionalOptions<N>) {
    this.#consumer = kafka.consumer({
      groupId: options.groupId,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 500,
      // A crashed worker's partitions move to a live one after this long (Kafka's default is 30 s).
      sessionTimeout: options.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: Math.floor((options.sessionTimeoutMs ?? 10_000) / 3),
      retry: { retries: 8 },
    });
    this.#producer = kafka.producer({ ...PRODUCER_SAFETY, transactionalId: options.transactionalId });
    this.#serde = serde;
    this.#options = options;
  }

  get committedBatches(): number {
    return this.#committedBatches;
  }

  start(): Promise<void> {
    this.#started ??= (async () => {
      const joined = new Promise<void>((resolve) => {
        const off = this.#consumer.on(this.#consumer.events.GROUP_JOIN, () => {
          off();
          resolve();
        });
      });
      await this.#producer.connect();
      await this.#consumer.connect();
      await this.#consumer.subscribe({ topics: this.#options.topics, fromBeginning: this.#options.fromBeginning ?? false });
      await this.#consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (p) => this.#eachBatch(p) });
      await joined;
    })();
    return this.#started;
  }

  async #eachBatch({ batch, resolveOffset, heartbeat, isRunning }: EachBatchPayload): Promise<void> {
    const decoded = await decodeBatch<N>(this.#serde, batch);
    if (decoded.nextOffset === null) return;
    const outputs: OutgoingRecord[] = [];
    for (const poison of decoded.poison) {
      const { record, letter } = deadLetterOf(poison, this.#options.groupId);
      this.#options.logger.warn({ topic: batch.topic, offset: letter.original.offset, reason: letter.reason }, 'record dead-lettered');
      outputs.push(record, ...(this.#options.onDeadLetter?.(letter) ?? []));
    }
    if (decoded.records.length > 0) outputs.push(...(await this.#options.transform(decoded.records, { heartbeat, isRunning })));
    const messages = await Promise.all(outputs.map(async (r) => ({ topic: r.topic, message: await toKafkaMessage(this.#serde, r) })));

    const where = { topic: batch.topic, partition: batch.partition, first: batch.firstOffset(), next: decoded.nextOffset, outputs: messages.length };
    this.#options.logger.debug(where, 'transaction: begin');
    const txn = await this.#producer.transaction();
    let committed = false;
    try {
      if (messages.length > 0) await txn.sendBatch({ acks: -1, topicMessages: groupByTopic(messages) });
      const offsets = {
        consumerGroupId: this.#options.groupId,
        topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: decoded.nextOffset }] }],
      };
      const attempts = this.#options.concurrentRetries ?? 8;
      for (let attempt = 0; ; attempt++) {
        try {
          await txn.sendOffsets(offsets);
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
      committed = true;
    } catch (err) {
      await txn.abort().catch((abortErr: unknown) => {
        this.#options.logger.error({ err: describe(abortErr) }, 'transaction abort failed');
      });
      throw new BusError('TRANSACTION_FAILED', `batch ${batch.topic}/${batch.partition}@${batch.firstOffset()} not committed: ${describe(err)}`, {
        retriable: true, hint: 'The batch was aborted and will be processed again.', cause: err,
      });
    }
    const last = batch.messages.at(-1);
    if (last) resolveOffset(last.offset);
    if (committed && this.#options.onCommitted) {
      try {
        await this.#options.onCommitted(decoded.records, outputs);
      } catch (err) {
        // The batch is committed; what follows it must not make it run again.
        this.#options.logger.error({ err: describe(err), topic: batch.topic, partition: batch.partition }, 'after-commit step failed');
      }
    }
  }

  /** Idempotent: lets the batch in hand commit or abort, leaves the group, closes the producer. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      for (const close of [() => this.#consumer.disconnect(), () => this.#producer.disconnect()]) {
        try {
          await close();
        } catch (err) {
          this.#options.logger.warn({ err: describe(err) }, 'transactional processor shutdown step failed');
        }
      }
    })();
    return this.#stopped;
  }
}
