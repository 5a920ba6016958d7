import type { Kafka, Message as KafkaMessage, Producer, TopicMessages } from 'kafkajs';
import { BusError, describe, noRefusals, type Refuse } from './errors.ts';
import type { Serde } from './serde.ts';

export interface OutgoingRecord {
  topic: string;
  key: string | null;
  value: unknown;
  headers?: Record<string, string>;
}

export interface BatchingProducerOptions {
  /** How long a record may wait for company before its batch is sent. */
  lingerMs?: number;
  /** A batch is sent as soon as it holds this many records. */
  maxBatchRecords?: number;
}

interface Pending {
  topic: string;
  message: KafkaMessage;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Settings every IntentGate producer shares: acks all, idempotent, one request in flight (ordering). */
export const PRODUCER_SAFETY = { idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false } as const;

export async function toKafkaMessage(serde: Serde, record: OutgoingRecord): Promise<KafkaMessage> {
  return {
    key: record.key,
    value: await serde.encode(record.topic, record.value),
    ...(record.headers ? { headers: record.headers } : {}),
  };
}

export function groupByTopic(items: ReadonlyArray<{ topic: string; message: KafkaMessage }>): TopicMessages[] {
  const byTopic = new Map<string, KafkaMessage[]>();
  for (const { topic, message } of items) {
    const list = byTopic.get(topic);
    if (list) list.push(message);
    else byTopic.set(topic, [message]);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}

/**
 * Accumulates records and sends them in one request per linger window (acks=all, idempotent).
 * `send` resolves only once the broker has acknowledged the record; a failed batch rejects
 * every record in it, so no caller mistakes an unsent record for a sent one.
 */
export class BatchingProducer {
  readonly #producer: Producer;
  readonly #serde: Serde;
  readonly #lingerMs: number;
  readonly #maxBatch: number;
  #queue: Pending[] = [];
  #timer: NodeJS.Timeout | null = null;
  #inFlight = new Set<Promise<void>>();
  #connected: Promise<void> | null = null;
  #closed: Promise<void> | null = null;
  readonly #refuse: Refuse;

  constructor(kafka: Kafka, serde: Serde, options: BatchingProducerOptions = {}, refuse: Refuse = noRefusals) {
    this.#producer = kafka.producer({ ...PRODUCER_SAFETY });
    this.#refuse = refuse;
    this.#serde = serde;
    this.#lingerMs = options.lingerMs ?? 5;
    this.#maxBatch = options.maxBatchRecords ?? 500;
  }

  connect(): Promise<void> {
    this.#connected ??= this.#producer.connect();
    return this.#connected;
  }

  async send(record: OutgoingRecord): Promise<void> {
    if (this.#closed) {
      throw new BusError('SHUT_DOWN', 'producer is closed', { retriable: false, hint: 'Create a new producer.' });
    }
    // Encode before queueing: a contract violation fails this call alone, not its batch.
    const message = await toKafkaMessage(this.#serde, record);
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ topic: record.topic, message, resolve, reject });
      if (this.#queue.length >= this.#maxBatch) this.#flushNow();
      else this.#timer ??= setTimeout(() => this.#flushNow(), this.#lingerMs);
    });
  }

  sendMany(records: readonly OutgoingRecord[]): Promise<void[]> {
    return Promise.all(records.map((r) => this.send(r)));
  }

  /** Sends whatever is queued and waits for every batch in flight. */
  async flush(): Promise<void> {
    this.#flushNow();
    await Promise.allSettled([...this.#inFlight]);
  }

  #flushNow(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#queue.length === 0) return;
    const batch = this.#queue;
    this.#queue = [];
    const sending = this.connect()
      .then(() => this.#producer.sendBatch({ acks: -1, topicMessages: groupByTopic(batch) }))
      .then(
        () => batch.forEach((p) => p.resolve()),
        async (err: unknown) => {
          // A refusal by the broker (ACL, authentication) is not worth sending again: typed, non-retriable.
          const topics = [...new Set(batch.map((p) => p.topic))];
          const refused = await this.#refuse(err, { action: 'write to', topics }).catch(() => null);
          const error = refused ?? new BusError('PRODUCE_FAILED', `batch of ${batch.length} records not acknowledged: ${describe(err)}`, {
            retriable: true, hint: 'The records were not written; send them again.', cause: err,
          });
          batch.forEach((p) => p.reject(error));
        },
      )
      .finally(() => this.#inFlight.delete(sending));
    this.#inFlight.add(sending);
  }

  /** Idempotent: flushes what was accepted, then disconnects. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.flush();
      await this.#producer.disconnect();
    })();
    return this.#closed;
  }
}
