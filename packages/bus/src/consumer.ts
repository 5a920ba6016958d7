import type { Batch, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { DeadLetter, Message, MessageName } from '@intentgate/contracts';
import { BusError, describe, noRefusals, type Refuse } from './errors.ts';
import type { Logger } from './logger.ts';
import type { BatchingProducer, OutgoingRecord } from './producer.ts';
import type { Serde } from './serde.ts';
import { deadLetterOf, type PoisonRecord } from './dead-letter.ts';
import { consumerHealthConfig, GroupMember, LagProbe, type ConsumerHealth, type ConsumerHealthOptions } from './member.ts';

export interface IncomingRecord<N extends MessageName = MessageName> {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  headers: Record<string, string>;
  timestamp: string;
  schemaId: number;
  value: Message<N>;
}

export interface DecodedBatch<N extends MessageName> {
  records: IncomingRecord<N>[];
  poison: PoisonRecord[];
  /** The offset to commit: one past the last record of the batch. */
  nextOffset: string | null;
}

function headersOf(message: KafkaMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(message.headers ?? {})) {
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) out[k] = Buffer.from(first).toString('utf8');
  }
  return out;
}

/**
 * Decodes a fetched batch. Poison records (undecodable, unknown schema, contract violation) are
 * set aside for the DLQ; a retriable failure (the registry is down) throws, so the batch is
 * fetched again rather than dead-lettered by mistake.
 */
export async function decodeBatch<N extends MessageName>(serde: Serde, batch: Batch): Promise<DecodedBatch<N>> {
  const records: IncomingRecord<N>[] = [];
  const poison: PoisonRecord[] = [];
  for (const message of batch.messages) {
    try {
      const { value, schemaId } = await serde.decode<N>(batch.topic, message.value);
      records.push({
        topic: batch.topic,
        partition: batch.partition,
        offset: message.offset,
        key: message.key ? message.key.toString('utf8') : null,
        headers: headersOf(message),
        timestamp: message.timestamp,
        schemaId,
        value,
      });
    } catch (error) {
      if (error instanceof BusError && error.retriable) throw error;
      poison.push({ topic: batch.topic, partition: batch.partition, message, error });
    }
  }
  const last = batch.messages.at(-1);
  return { records, poison, nextOffset: last ? (BigInt(last.offset) + 1n).toString() : null };
}

export interface BatchContext {
  heartbeat(): Promise<void>;
  /** False once stop() was called: finish the batch, take no new work. */
  isRunning(): boolean;
}

export interface ConsumerOptions<N extends MessageName> {
  groupId: string;
  topics: string[];
  /** Processes a batch's good records; the batch is committed only after this resolves. */
  handle: (records: IncomingRecord<N>[], ctx: BatchContext) => Promise<void>;
  /**
   * Checks each decoded record before it is handled; a refusal (code and message) dead-letters
   * it with that reason instead, in the same step as the batch's poison. Readers of trust
   * material refuse what is not signed by a root they trust: nothing refused is dropped.
   */
  refuse?: (record: IncomingRecord<N>) => Promise<{ code: string; message: string } | null>;
  /** Called for each dead-lettered record after its DLQ write is acknowledged. */
  onDeadLetter?: (letter: DeadLetter) => Promise<void>;
  fromBeginning?: boolean;
  /** How long the group waits for a silent member before reassigning its partitions. */
  sessionTimeoutMs?: number;
  /**
   * How many partitions' batches `handle` may have in hand at once (default 1: one batch at a
   * time). Each batch still commits only its own offsets, after its own records were handled.
   */
  partitionsAtOnce?: number;
  /** When this member counts as stalled, and how it is restarted (defaults: CONSUMER_HEALTH_DEFAULTS). */
  health?: ConsumerHealthOptions;
  logger: Logger;
}

/**
 * A consumer-group member that processes whole batches (eachBatch) and commits each batch's
 * offsets only after its records were handled and its poison records were written to the DLQ.
 * At-least-once: a crash before the commit redelivers the batch, so handlers must be idempotent.
 */
export class BusConsumer<N extends MessageName> {
  readonly #member: GroupMember;
  readonly #serde: Serde;
  readonly #dlq: BatchingProducer;
  readonly #options: ConsumerOptions<N>;
  #started: Promise<void> | null = null;
  #stopped: Promise<void> | null = null;

  constructor(kafka: Kafka, serde: Serde, dlq: BatchingProducer, options: ConsumerOptions<N>, refuse: Refuse = noRefusals, lag: LagProbe = new LagProbe(kafka)) {
    // A short fetch wait keeps shutdown quick: disconnect waits for the fetch in flight.
    const sessionTimeout = options.sessionTimeoutMs ?? 10_000;
    this.#member = new GroupMember(kafka, {
      groupId: options.groupId, topics: options.topics, fromBeginning: options.fromBeginning ?? false, logger: options.logger, refuse, lag,
      health: consumerHealthConfig(options.health),
      consumer: {
        groupId: options.groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 500, retry: { retries: 8 },
        // A crashed member's partitions move to a live one after this long (Kafka's default is 30 s).
        sessionTimeout, heartbeatInterval: Math.floor(sessionTimeout / 3),
      },
      run: {
        autoCommit: false, eachBatchAutoResolve: false, eachBatch: (p) => this.#eachBatch(p),
        partitionsConsumedConcurrently: options.partitionsAtOnce ?? 1,
      },
    });
    this.#serde = serde;
    this.#dlq = dlq;
    this.#options = options;
  }

  get groupId(): string {
    return this.#options.groupId;
  }

  /** True once the member is down and will not be restarted (the broker refuses it): it reads nothing more. */
  get stoppedForGood(): boolean {
    return this.#member.state === 'dead';
  }

  /** Lag, progress and state of this member: whether its service may call itself ready. */
  health(): ConsumerHealth {
    return this.#member.health();
  }

  /** Resolves once the member has joined its group and is fetching. */
  start(): Promise<void> {
    this.#started ??= this.#member.start();
    return this.#started;
  }

  /**
   * Whether a fetched batch failed (decoding, a refusal's lookup, the handler, the commit) and
   * has not yet gone through on its retry.
   */
  get failing(): boolean {
    return this.#failing.size > 0;
  }

  /**
   * Whether a batch is in hand or failed and not yet through: a reader that judges "read
   * through" by silence must not take a batch being worked on, or retried, for a quiet tail (a
   * registry that hangs holds a batch longer than any silence window).
   */
  get settling(): boolean {
    return this.#inHand.size > 0 || this.#failing.size > 0;
  }

  /** topic:partition of each batch that failed and has not gone through since. */
  readonly #failing = new Set<string>();
  /** topic:partition of each batch in hand. */
  readonly #inHand = new Set<string>();

  async #eachBatch(payload: EachBatchPayload): Promise<void> {
    const where = `${payload.batch.topic}:${payload.batch.partition}`;
    this.#inHand.add(where);
    try {
      await this.#processBatch(payload);
      this.#failing.delete(where);
    } catch (err) {
      this.#failing.add(where);
      throw err;
    } finally {
      this.#inHand.delete(where);
    }
  }

  async #processBatch({ batch, resolveOffset, heartbeat, isRunning }: EachBatchPayload): Promise<void> {
    const decoded = await decodeBatch<N>(this.#serde, batch);
    if (decoded.nextOffset === null) return;
    const refuse = this.#options.refuse;
    if (refuse) {
      const messages = new Map(batch.messages.map((m) => [m.offset, m]));
      const kept: IncomingRecord<N>[] = [];
      for (const record of decoded.records) {
        await heartbeat(); // a refusal may wait on a lookup: the member keeps its place meanwhile
        const reason = await refuse(record);
        if (reason === null) kept.push(record);
        else decoded.poison.push({ topic: record.topic, partition: record.partition, message: messages.get(record.offset)!, error: null, reason });
      }
      decoded.records = kept;
    }
    const letters = decoded.poison.map((p) => deadLetterOf(p, this.#options.groupId));
    await this.#dlq.sendMany(letters.map((l) => l.record));
    for (const { letter } of letters) {
      this.#options.logger.warn({ topic: batch.topic, offset: letter.original.offset, reason: letter.reason }, 'record dead-lettered');
      await this.#options.onDeadLetter?.(letter);
    }
    if (decoded.records.length > 0) await this.#options.handle(decoded.records, { heartbeat, isRunning });
    const last = batch.messages.at(-1);
    if (last) resolveOffset(last.offset);
    await this.#member.consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: decoded.nextOffset }]);
  }

  /** Idempotent. Lets the batch in hand finish and commit, then leaves the group. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      try {
        await this.#member.stop();
      } catch (err) {
        this.#options.logger.warn({ err: describe(err) }, 'consumer disconnect failed');
      }
    })();
    return this.#stopped;
  }
}

export type { OutgoingRecord };
