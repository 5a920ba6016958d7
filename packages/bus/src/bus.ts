import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import './coordinator-cache.ts';
import './fast-crc32c.ts';
import { TOPICS, type MessageName, type TopicSpec } from '@intentgate/contracts';
import { BusError, describe } from './errors.ts';
import { kafkaLogCreator, silentLogger, type Logger } from './logger.ts';
import { SchemaCatalog, type RegisteredSubject } from './registry.ts';
import { Serde } from './serde.ts';
import { ensureTopics, type TopicReport } from './topics.ts';
import { BatchingProducer, PRODUCER_SAFETY, groupByTopic, toKafkaMessage, type BatchingProducerOptions, type OutgoingRecord } from './producer.ts';
import { BusConsumer, type ConsumerOptions } from './consumer.ts';
import { TransactionalProcessor, type TransactionalOptions } from './transactions.ts';

export interface BusOptions {
  brokers: string[];
  registryUrl: string;
  clientId: string;
  logger?: Logger;
}

interface Closable {
  stop?(): Promise<void>;
  close?(): Promise<void>;
}

/**
 * One process's connection to the IntentGate bus. Everything created through it is stopped by
 * close(), consumers first (so their last batch can still use the producers), then producers.
 */
export class Bus {
  readonly kafka: Kafka;
  readonly catalog: SchemaCatalog;
  readonly serde: Serde;
  readonly logger: Logger;
  readonly clientId: string;
  readonly #consumers: Closable[] = [];
  readonly #producers: Closable[] = [];
  #dlqProducer: BatchingProducer | null = null;
  #closed: Promise<void> | null = null;

  constructor(options: BusOptions) {
    this.logger = options.logger ?? silentLogger;
    this.clientId = options.clientId;
    this.kafka = new Kafka({
      clientId: options.clientId,
      brokers: options.brokers,
      logLevel: logLevel.INFO,
      logCreator: kafkaLogCreator(this.logger),
      retry: { initialRetryTime: 100, retries: 8 },
    });
    this.catalog = new SchemaCatalog(options.registryUrl, { logger: this.logger });
    this.serde = new Serde(this.catalog);
  }

  /** Creates missing topics, checks existing ones, registers every topic's schema. */
  async provision(topics: readonly TopicSpec[] = TOPICS): Promise<{ topics: TopicReport[]; subjects: RegisteredSubject[] }> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      const report = await ensureTopics(admin, topics);
      const subjects = await this.catalog.register(topics);
      return { topics: report, subjects };
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /**
   * Commits the current end offset for every partition of `topic` on which `groupId` has no
   * committed offset. A group that starts "at the latest" then means latest as of its first
   * start: a partition it has not read from yet is not skipped again after a restart.
   * Returns the partitions pinned. Fails (retriable) while members of the group are active.
   */
  async pinUncommittedToEnd(groupId: string, topic: string): Promise<number[]> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const open = new Set((committed?.partitions ?? []).filter((p) => Number(p.offset) < 0).map((p) => p.partition));
      if (open.size === 0) return [];
      const ends = (await admin.fetchTopicOffsets(topic)).filter((p) => open.has(p.partition));
      await admin.setOffsets({ groupId, topic, partitions: ends.map((p) => ({ partition: p.partition, offset: p.high })) });
      return ends.map((p) => p.partition);
    } catch (err) {
      throw new BusError('OFFSETS_NOT_PINNED', `could not pin ${groupId} on ${topic}: ${describe(err)}`, {
        retriable: true, hint: 'Start the first instance of a group alone, or start at the earliest offset.', cause: err,
      });
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /** The end offset (high watermark) of each partition of a topic, as of now. */
  async endOffsets(topic: string): Promise<Map<number, bigint>> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      return new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]));
    } catch (err) {
      throw new BusError('BROKER_UNAVAILABLE', `could not read the end offsets of ${topic}: ${describe(err)}`, {
        retriable: true, hint: 'Check the brokers answer; try again.', cause: err,
      });
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /** Registers schemas only (for processes that must not create topics). */
  registerSchemas(topics: readonly TopicSpec[] = TOPICS): Promise<RegisteredSubject[]> {
    return this.catalog.register(topics);
  }

  producer(options?: BatchingProducerOptions): BatchingProducer {
    this.#assertOpen();
    const producer = new BatchingProducer(this.kafka, this.serde, options);
    this.#producers.push(producer);
    return producer;
  }

  consumer<N extends MessageName>(options: Omit<ConsumerOptions<N>, 'logger'> & { logger?: Logger }): BusConsumer<N> {
    this.#assertOpen();
    this.#dlqProducer ??= this.producer();
    const consumer = new BusConsumer<N>(this.kafka, this.serde, this.#dlqProducer, { logger: this.logger, ...options });
    this.#consumers.push(consumer);
    return consumer;
  }

  transactional<N extends MessageName>(options: Omit<TransactionalOptions<N>, 'logger'> & { logger?: Logger }): TransactionalProcessor<N> {
    this.#assertOpen();
    const processor = new TransactionalProcessor<N>(this.kafka, this.serde, { logger: this.logger, ...options });
    this.#consumers.push(processor);
    return processor;
  }

  /**
   * Sends records all-or-nothing in one Kafka transaction (e.g. a policy activation with its
   * receipt). A short-lived transactional producer per call: this is for rare, important writes.
   */
  async sendAtomically(records: readonly OutgoingRecord[], transactionalId = `${this.clientId}-atomic-${randomUUID()}`): Promise<void> {
    this.#assertOpen();
    const messages = await Promise.all(records.map(async (r) => ({ topic: r.topic, message: await toKafkaMessage(this.serde, r) })));
    const producer = this.kafka.producer({ ...PRODUCER_SAFETY, transactionalId });
    await producer.connect();
    try {
      const txn = await producer.transaction();
      try {
        await txn.sendBatch({ acks: -1, topicMessages: groupByTopic(messages) });
        await txn.commit();
      } catch (err) {
        await txn.abort().catch(() => {});
        throw new BusError('TRANSACTION_FAILED', `atomic send of ${records.length} records failed: ${describe(err)}`, {
          retriable: true, hint: 'Nothing was written; send again.', cause: err,
        });
      }
    } finally {
      await producer.disconnect().catch(() => {});
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new BusError('SHUT_DOWN', 'bus is closed', { retriable: false, hint: 'Create a new Bus.' });
  }

  /** Idempotent graceful shutdown: drain consumers (their batches commit), then flush producers. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.all(this.#consumers.map((c) => c.stop?.()));
      await Promise.all(this.#producers.map((p) => p.close?.()));
    })();
    return this.#closed;
  }
}

/** Waits until a broker answers a metadata request, or fails with BROKER_UNAVAILABLE. */
export async function waitForBroker(brokers: string[], timeoutMs = 60_000): Promise<{ clusterId: string; brokers: number }> {
  const kafka = new Kafka({ clientId: 'intentgate-probe', brokers, logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    const admin = kafka.admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      return { clusterId: cluster.clusterId, brokers: cluster.brokers.length };
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 250));
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }
  throw new BusError('BROKER_UNAVAILABLE', `no Kafka broker answered at ${brokers.join(',')} within ${timeoutMs} ms: ${describe(last)}`, {
    retriable: true, hint: 'Start the stack with `npm start`, or set KAFKA_BROKERS to running brokers.',
  });
}
