import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs';
import './coordinator-cache.ts';
import './refusal-patch.ts';
import './fast-crc32c.ts';
import { ACCESS, TOPICS, type MessageName, type RoleSpec, type TopicSpec } from '@intentgate/contracts';
import { provisionAcls, type AclReport } from './acls.ts';
import { accessError, BusError, describe, type AccessContext, type Refuse } from './errors.ts';
import { kafkaLogCreator, silentLogger, type Logger } from './logger.ts';
import { SchemaCatalog, type RegisteredSubject } from './registry.ts';
import { Serde } from './serde.ts';
import { ensureTopics, type TopicReport } from './topics.ts';
import { BatchingProducer, PRODUCER_SAFETY, groupByTopic, toKafkaMessage, type BatchingProducerOptions, type OutgoingRecord } from './producer.ts';
import { BusConsumer, type ConsumerOptions } from './consumer.ts';
import { TransactionalProcessor, type TransactionalOptions } from './transactions.ts';
import { LagProbe, type ConsumerHealth, type ConsumerHealthOptions } from './member.ts';

/**
 * SASL credentials for the broker. Optional, so a cluster without authentication still works;
 * the local stack always sets it (each service its own role's user, see the access catalog).
 */
export interface BusSasl {
  mechanism: 'scram-sha-512' | 'scram-sha-256' | 'plain';
  username: string;
  password: string;
}

export interface BusOptions {
  brokers: string[];
  /** Authenticate as this principal (SASL over the listener's transport). */
  sasl?: BusSasl;
  registryUrl: string;
  clientId: string;
  logger?: Logger;
  /** Liveness settings for every consumer made through this bus that sets none of its own. */
  health?: ConsumerHealthOptions;
}

interface Closable {
  stop?(): Promise<void>;
  close?(): Promise<void>;
}

interface Member extends Closable {
  health(): ConsumerHealth;
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
  /** The SASL username this bus authenticates as; null when unauthenticated. */
  readonly principal: string | null;
  readonly #consumers: Member[] = [];
  readonly #lag: LagProbe;
  readonly #health: ConsumerHealthOptions;
  readonly #producers: Closable[] = [];
  #dlqProducer: BatchingProducer | null = null;
  readonly #brokers: string[];
  #saslRequired: Promise<boolean> | null = null;
  #closed: Promise<void> | null = null;

  constructor(options: BusOptions) {
    this.logger = options.logger ?? silentLogger;
    this.clientId = options.clientId;
    this.principal = options.sasl?.username ?? null;
    this.#brokers = options.brokers;
    this.kafka = new Kafka({
      clientId: options.clientId,
      brokers: options.brokers,
      ...(options.sasl ? { sasl: kafkaSasl(options.sasl) } : {}),
      logLevel: logLevel.INFO,
      logCreator: kafkaLogCreator(this.logger),
      retry: { initialRetryTime: 100, retries: 8 },
    });
    this.#lag = new LagProbe(this.kafka);
    this.#health = options.health ?? {};
    this.catalog = new SchemaCatalog(options.registryUrl, { logger: this.logger });
    this.serde = new Serde(this.catalog);
  }

  /** A broker refusal during `action` as a typed BusError (NOT_AUTHORIZED / AUTHENTICATION_FAILED), else null. */
  accessError(err: unknown, context: Omit<AccessContext, 'principal'>): BusError | null {
    return accessError(err, { principal: this.principal, ...context });
  }

  /**
   * accessError, and for a client without credentials whose connection the broker closed: a
   * probe of whether the listener demands SASL (then AUTHENTICATION_FAILED, not a retriable
   * "connection closed" that looks like a broker going away).
   */
  readonly refusal: Refuse = async (err, context) => {
    const direct = this.accessError(err, context);
    if (direct !== null || this.principal !== null || !isConnectionClosed(err)) return direct;
    this.#saslRequired ??= listenerRequiresSasl(this.#brokers);
    if (!(await this.#saslRequired)) return null;
    return new BusError('AUTHENTICATION_FAILED', `the broker at ${this.#brokers.join(',')} requires authentication (SASL) and this client (${this.clientId}) has none; it closed the connection`, {
      retriable: false, cause: err,
      hint: 'Give the client a role\'s credentials: BusOptions.sasl, or KAFKA_USERNAME / KAFKA_PASSWORD / KAFKA_CREDENTIALS_FILE for the services and the CLI (npm start writes them under .intentgate/credentials).',
    });
  };

  /** Creates missing topics, checks existing ones, registers every topic's schema. */
  async provision(topics: readonly TopicSpec[] = TOPICS): Promise<{ topics: TopicReport[]; subjects: RegisteredSubject[] }> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      const report = await ensureTopics(admin, topics);
      const subjects = await this.catalog.register(topics);
      return { topics: report, subjects };
    } catch (err) {
      throw (await this.refusal(err, { action: 'create or describe', topics: topics.map((t) => t.name) })) ?? err;
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /** Creates the access catalog's ACLs that are missing (idempotent); needs a principal that may create ACLs. */
  async provisionAcls(catalog: readonly RoleSpec[] = ACCESS): Promise<AclReport> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      return await provisionAcls(admin, catalog);
    } catch (err) {
      throw (await this.refusal(err, { action: 'create ACLs on', topics: [] })) ?? err;
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
      const refused = await this.refusal(err, { action: 'read offsets of', group: groupId, topics: [topic] });
      if (refused) throw refused;
      throw new BusError('OFFSETS_NOT_PINNED', `could not pin ${groupId} on ${topic}: ${describe(err)}`, {
        retriable: true, hint: 'Start the first instance of a group alone, or start at the earliest offset.', cause: err,
      });
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /**
   * Commits, for a group that has never read `topic`, the offset of the first record at or after
   * `sinceMs` on each partition (its end where there is none): the group then reads only what was
   * appended since. For a reader that needs a window of a long topic, not all of it.
   */
  async startGroupAt(groupId: string, topic: string, sinceMs: number): Promise<void> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      const offsets = await admin.fetchTopicOffsetsByTimestamp(topic, sinceMs);
      const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, o.high]));
      await admin.setOffsets({
        groupId, topic,
        partitions: offsets.map((o) => ({ partition: o.partition, offset: Number(o.offset) < 0 ? ends.get(o.partition) ?? '0' : o.offset })),
      });
    } catch (err) {
      const refused = await this.refusal(err, { action: 'read offsets of', group: groupId, topics: [topic] });
      if (refused) throw refused;
      throw new BusError('OFFSETS_NOT_PINNED', `could not start ${groupId} on ${topic} at ${new Date(sinceMs).toISOString()}: ${describe(err)}`, {
        retriable: true, hint: 'Check the brokers answer; use a group no member is in.', cause: err,
      });
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  /**
   * The log end (high watermark) of each partition of `topic`: past the last stable offset (which
   * is all `endOffsets` reports) while a transaction is open. Found by a read-uncommitted probe,
   * in the consumer group `probeGroupId` (the caller's own, never joined before), that reads
   * from the last stable offsets for `probeMs`: a partition that delivers nothing in that time has
   * nothing past its stable offset. Offsets only: nothing uncommitted is ever handed to anyone.
   */
  async highWatermarks(topic: string, probeGroupId: string, probeMs = 1_500): Promise<Map<number, bigint>> {
    const stable = await this.endOffsets(topic);
    const highs = new Map(stable);
    const probe = this.kafka.consumer({ groupId: probeGroupId, readUncommitted: true, allowAutoTopicCreation: false, maxWaitTimeInMs: 200, sessionTimeout: 10_000, heartbeatInterval: 3_000, retry: { retries: 2 } });
    try {
      // Positioned by seek, not by committing offsets for the group first (a new group's first
      // commit waits seconds for its coordinator): from each partition's stable offset.
      const joined = new Promise<void>((resolve) => probe.on(probe.events.GROUP_JOIN, () => resolve()));
      await probe.connect();
      await probe.subscribe({ topics: [topic], fromBeginning: false });
      await probe.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const high = BigInt(batch.highWatermark);
          if (high > (highs.get(batch.partition) ?? 0n)) highs.set(batch.partition, high);
        },
      });
      await joined;
      for (const [partition, offset] of stable) probe.seek({ topic, partition, offset: String(offset) });
      await new Promise((r) => setTimeout(r, probeMs));
      return highs;
    } catch (err) {
      const refused = await this.refusal(err, { action: 'read offsets of', group: probeGroupId, topics: [topic] });
      if (refused) throw refused;
      throw new BusError('BROKER_UNAVAILABLE', `could not read the log end of ${topic}: ${describe(err)}`, {
        retriable: true, hint: 'Check the brokers answer; try again.', cause: err,
      });
    } finally {
      await probe.disconnect().catch(() => {});
    }
  }

  /**
   * How many records of `topic` a consumer group has yet to commit past, summed over partitions;
   * null when the group has committed nothing on it (no such consumer, or it never started).
   */
  async groupLag(groupId: string, topic: string): Promise<bigint | null> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const partitions = (committed?.partitions ?? []).filter((p) => Number(p.offset) >= 0);
      if (partitions.length === 0) return null;
      const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]));
      return partitions.reduce((sum, p) => sum + ((ends.get(p.partition) ?? 0n) > BigInt(p.offset) ? (ends.get(p.partition) ?? 0n) - BigInt(p.offset) : 0n), 0n);
    } catch (err) {
      const refused = await this.refusal(err, { action: 'read offsets of', group: groupId, topics: [topic] });
      if (refused) throw refused;
      throw new BusError('BROKER_UNAVAILABLE', `could not read the lag of ${groupId} on ${topic}: ${describe(err)}`, {
        retriable: true, hint: 'Check the brokers answer; try again.', cause: err,
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
    const producer = new BatchingProducer(this.kafka, this.serde, options, this.refusal);
    this.#producers.push(producer);
    return producer;
  }

  consumer<N extends MessageName>(options: Omit<ConsumerOptions<N>, 'logger'> & { logger?: Logger }): BusConsumer<N> {
    this.#assertOpen();
    this.#dlqProducer ??= this.producer();
    const consumer = new BusConsumer<N>(this.kafka, this.serde, this.#dlqProducer, { logger: this.logger, health: this.#health, ...options }, this.refusal, this.#lag);
    this.#consumers.push(consumer);
    return consumer;
  }

  transactional<N extends MessageName>(options: Omit<TransactionalOptions<N>, 'logger'> & { logger?: Logger }): TransactionalProcessor<N> {
    this.#assertOpen();
    const processor = new TransactionalProcessor<N>(this.kafka, this.serde, { logger: this.logger, health: this.#health, ...options }, this.refusal, this.#lag);
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
    const context = { action: 'write atomically to', topics: [...new Set(records.map((r) => r.topic))], transactionalId };
    try {
      await producer.connect();
      const txn = await producer.transaction();
      try {
        await txn.sendBatch({ acks: -1, topicMessages: groupByTopic(messages) });
        await txn.commit();
      } catch (err) {
        await txn.abort().catch(() => {});
        throw (await this.refusal(err, context)) ?? new BusError('TRANSACTION_FAILED', `atomic send of ${records.length} records failed: ${describe(err)}`, {
          retriable: true, hint: 'Nothing was written; send again.', cause: err,
        });
      }
    } catch (err) {
      throw (await this.refusal(err, context)) ?? err;
    } finally {
      await producer.disconnect().catch(() => {});
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new BusError('SHUT_DOWN', 'bus is closed', { retriable: false, hint: 'Create a new Bus.' });
  }

  /** The health of every consumer-group member made through this bus (for /readyz and /metrics). */
  consumerHealth(): ConsumerHealth[] {
    return this.#consumers.map((c) => c.health());
  }

  /** Idempotent graceful shutdown: drain consumers (their batches commit), then flush producers. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.all(this.#consumers.map((c) => c.stop?.()));
      await Promise.all(this.#producers.map((p) => p.close?.()));
      await this.#lag.close();
    })();
    return this.#closed;
  }
}

export function kafkaSasl(sasl: BusSasl): NonNullable<KafkaConfig['sasl']> {
  return { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password } as NonNullable<KafkaConfig['sasl']>;
}

/**
 * Waits until a broker answers a metadata request, or fails with BROKER_UNAVAILABLE. A refused
 * authentication is not waited out: it fails at once with AUTHENTICATION_FAILED.
 */
export async function waitForBroker(brokers: string[], timeoutMs = 60_000, sasl?: BusSasl): Promise<{ clusterId: string; brokers: number }> {
  const kafka = new Kafka({ clientId: 'intentgate-probe', brokers, logLevel: logLevel.NOTHING, retry: { retries: 0 }, ...(sasl ? { sasl: kafkaSasl(sasl) } : {}) });
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    const admin = kafka.admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      return { clusterId: cluster.clusterId, brokers: cluster.brokers.length };
    } catch (err) {
      const refused = accessError(err, { principal: sasl?.username ?? null, action: 'describe', topics: [] });
      if (refused) throw refused;
      if (sasl === undefined && isConnectionClosed(err) && (await listenerRequiresSasl(brokers))) {
        throw new BusError('AUTHENTICATION_FAILED', `the broker at ${brokers.join(',')} requires authentication (SASL) and no credentials were given`, {
          retriable: false, cause: err, hint: 'Pass the credentials of a role (KAFKA_USERNAME / KAFKA_PASSWORD / KAFKA_CREDENTIALS_FILE).',
        });
      }
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

function isConnectionClosed(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== null && e !== undefined && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const { name, message } = e as { name?: string; message?: string };
    if (name === 'KafkaJSConnectionClosedError' || /closed connection|connection closed/i.test(message ?? '')) return true;
  }
  return false;
}

/**
 * Whether the brokers' listener demands SASL: a handshake with a made-up SCRAM user is answered
 * (and refused) only by a SASL listener; a plaintext one does not speak SASL at all.
 */
async function listenerRequiresSasl(brokers: string[]): Promise<boolean> {
  const probe = new Kafka({
    clientId: 'intentgate-sasl-probe', brokers, logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 3_000,
    sasl: { mechanism: 'scram-sha-512', username: `intentgate-probe-${randomUUID()}`, password: randomUUID() },
  });
  const admin = probe.admin();
  try {
    await admin.connect();
    return false;
  } catch (err) {
    return accessError(err, { principal: 'probe', action: 'connect', topics: [] })?.code === 'AUTHENTICATION_FAILED';
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
