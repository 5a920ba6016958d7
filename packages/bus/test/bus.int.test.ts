// The bus on a real broker and registry: contracts round-trip, poison goes to the DLQ with its
// reason, the registry refuses incompatible schemas, transactions commit outputs with offsets.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import {
  TOPICS, jsonSchemaText, parseMessage, type DeadLetter, type Message, type MessageName,
} from '@intentgate/contracts';
import { exampleIntent, exampleOf } from '@intentgate/contracts/examples';
import { Bus, BusError, ensureTopics, type IncomingRecord } from '@intentgate/bus';
import { eventually, stack, testBus, uniqueGroup, saslFor } from '@intentgate/test';

let bus: Bus;
let raw: Producer;
let rawKafka: Kafka;

beforeAll(async () => {
  bus = testBus();
  await bus.registerSchemas();
  rawKafka = new Kafka({ clientId: 'test-raw', brokers: stack().kafka.brokers, ...saslFor('provisioner'), logLevel: logLevel.NOTHING });
  raw = rawKafka.producer();
  await raw.connect();
});

afterAll(async () => {
  await raw?.disconnect();
  await bus?.close();
});

/** A framed value exactly as the registry's wire format has it, but with any JSON we like. */
function framed(schemaId: number, json: string): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(0, 0);
  header.writeInt32BE(schemaId, 1);
  return Buffer.concat([header, Buffer.from(json)]);
}

describe('contracts on the wire', () => {
  it('every message type of every topic round-trips through Kafka and the registry', async () => {
    const runKey = `roundtrip-${randomUUID()}`;
    const sent = new Map<string, unknown>();
    const received = new Map<string, unknown>();
    const consumer = bus.consumer<MessageName>({
      groupId: uniqueGroup('roundtrip'),
      topics: TOPICS.map((t) => t.name),
      fromBeginning: true,
      handle: async (records) => {
        for (const r of records) if (r.key === runKey) received.set(r.topic, r.value);
      },
    });
    await consumer.start();
    const producer = bus.producer();
    for (const spec of TOPICS) {
      const value = exampleOf(spec.value);
      sent.set(spec.name, value);
      await producer.send({ topic: spec.name, key: runKey, value });
    }
    await eventually(() => received.size === TOPICS.length, `${TOPICS.length} topics to deliver`);
    for (const spec of TOPICS) {
      expect(received.get(spec.name), spec.name).toEqual(sent.get(spec.name));
      expect(() => parseMessage(spec.value, received.get(spec.name))).not.toThrow();
    }
    await consumer.stop();
  });

  it('a value that breaks its contract is refused at send, before anything is written', async () => {
    const producer = bus.producer();
    const bad = { ...exampleIntent(), delegation: [] };
    await expect(producer.send({ topic: 'intents', key: 'k', value: bad })).rejects.toMatchObject({
      code: 'SCHEMA_INVALID', retriable: false,
    });
    await expect(producer.send({ topic: 'intents', key: 'k', value: bad })).rejects.toThrow(/delegation/);
  });
});

describe('dead-letter queue', () => {
  it('poison records land in intents.dlq with their reason; good records in the same batch are handled', async () => {
    const marker = randomUUID();
    const intentSchemaId = bus.catalog.idFor('intents');
    const validIntent = exampleIntent({ session: { id: marker, workflow_step: 's', request_source: 'user' } });
    const invalidIntentId = randomUUID();
    const { delegation: _dropped, ...noDelegation } = exampleIntent({ intent_id: invalidIntentId });

    // The DLQ watcher starts first and reads from the end, so it sees only this test's letters.
    const letters: DeadLetter[] = [];
    const dlqWatcher = bus.consumer<'DeadLetter'>({
      groupId: uniqueGroup('dlq-watch'),
      topics: ['intents.dlq'],
      handle: async (records) => {
        for (const r of records) if (r.key === marker) letters.push(r.value);
      },
    });
    await dlqWatcher.start();

    const handled: IncomingRecord<'Intent'>[] = [];
    const hooked: DeadLetter[] = [];
    const group = uniqueGroup('dlq');
    const consumer = bus.consumer<'Intent'>({
      groupId: group,
      topics: ['intents'],
      fromBeginning: true,
      handle: async (records) => {
        handled.push(...records.filter((r) => r.key === marker));
      },
      onDeadLetter: async (letter) => {
        if (Buffer.from(letter.original.key ?? '', 'base64').toString() === marker) hooked.push(letter);
      },
    });
    await consumer.start();

    await raw.send({
      topic: 'intents',
      messages: [
        { key: marker, value: Buffer.from('{not framed, not json') },
        { key: marker, value: framed(intentSchemaId, JSON.stringify(noDelegation)) },
        { key: marker, value: framed(987_654_321, JSON.stringify(validIntent)) },
        { key: marker, value: framed(intentSchemaId, '{"truncated": ') },
        { key: marker, value: await bus.serde.encode('intents', validIntent) },
      ],
    });

    await eventually(() => letters.length === 4 && handled.length === 1, '4 dead letters and 1 handled intent');
    expect(handled[0]!.value).toEqual(validIntent);
    const byOffset = [...letters].sort((a, b) => Number(a.original.offset) - Number(b.original.offset));
    expect(byOffset.map((l) => l.reason.code)).toEqual(['UNDECODABLE', 'SCHEMA_INVALID', 'SCHEMA_UNKNOWN', 'UNDECODABLE']);
    expect(byOffset[1]!.reason.message).toMatch(/delegation/);
    expect(byOffset[1]!.intent_id).toBe(invalidIntentId);
    expect(byOffset[2]!.intent_id).toBe(validIntent.intent_id);
    expect(byOffset[0]!.intent_id).toBeNull();
    for (const l of letters) {
      expect(l.original.topic).toBe('intents');
      expect(l.consumer_group).toBe(group);
      expect(l.original.value).not.toBeNull();
    }
    // The original bytes are kept whole, so nothing about the poison record is lost.
    expect(Buffer.from(byOffset[0]!.original.value!, 'base64').toString()).toBe('{not framed, not json');
    expect(hooked).toHaveLength(4);
    await consumer.stop();
    await dlqWatcher.stop();
  });

  it('a graceful stop commits what was processed: the group does not see it again', async () => {
    const marker = randomUUID();
    const group = uniqueGroup('commit');
    const seen: string[] = [];
    const make = () =>
      bus.consumer<'Intent'>({
        groupId: group,
        topics: ['intents'],
        handle: async (records) => {
          for (const r of records) if (r.key === marker) seen.push(r.value.intent_id);
        },
      });
    const first = make();
    await first.start();
    const producer = bus.producer();
    const firstBatch = [exampleIntent(), exampleIntent(), exampleIntent()];
    await producer.sendMany(firstBatch.map((value) => ({ topic: 'intents', key: marker, value })));
    await eventually(() => seen.length === 3, 'first three intents');
    await first.stop();

    const second = make();
    await second.start();
    const later = exampleIntent();
    await producer.send({ topic: 'intents', key: marker, value: later });
    await eventually(() => seen.length >= 4, 'the fourth intent');
    // Give a redelivery of the first three every chance to show up before we conclude it does not.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(seen).toEqual([...firstBatch.map((i) => i.intent_id), later.intent_id]);
    await second.stop();
  });
});

describe('schema registry', () => {
  it('refuses an incompatible schema change and accepts a compatible one', async () => {
    const subject = `test-compat-${randomUUID()}-value`;
    const v1 = jsonSchemaText('Intent');
    const id1 = await bus.catalog.registerSchema(subject, v1);
    expect(id1).toBeGreaterThan(0);
    // Same content again: same id (idempotent registration).
    expect(await bus.catalog.registerSchema(subject, v1)).toBe(id1);

    const schema = JSON.parse(v1) as { properties: Record<string, unknown>; required: string[] };
    const incompatible = {
      ...schema,
      properties: { ...schema.properties, tenant: { type: 'string' } },
      required: [...schema.required, 'tenant'],
    };
    const refusal = await bus.catalog.registerSchema(subject, JSON.stringify(incompatible)).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(BusError);
    expect(refusal).toMatchObject({ code: 'SCHEMA_INCOMPATIBLE', retriable: false });

    const compatible = { ...schema, properties: { ...schema.properties, tenant: { type: 'string' } } };
    const id2 = await bus.catalog.registerSchema(subject, JSON.stringify(compatible));
    expect(id2).not.toBe(id1);
  });
});

describe('topics', () => {
  it('provisioning is idempotent and refuses a topic with too few partitions', async () => {
    const admin = bus.kafka.admin();
    await admin.connect();
    try {
      const again = await ensureTopics(admin, TOPICS);
      expect(again.every((t) => !t.created)).toBe(true);
      expect(again.find((t) => t.name === 'receipts')?.partitions).toBe(3);

      const name = `test-mismatch-${randomUUID()}`;
      const spec = { ...TOPICS[0]!, name, partitions: 1 };
      expect((await ensureTopics(admin, [spec]))[0]).toMatchObject({ created: true, partitions: 1 });
      await expect(ensureTopics(admin, [{ ...spec, partitions: 3 }])).rejects.toMatchObject({ code: 'TOPIC_MISMATCH' });
      await admin.deleteTopics({ topics: [name] });
    } finally {
      await admin.disconnect();
    }
  });
});

describe('transactions', () => {
  it('outputs, dead letters and offsets commit together; a restart does not process twice', async () => {
    const marker = randomUUID();
    const group = uniqueGroup('txn');
    const outputsSeen: Message<'Decision'>[] = [];
    const watcher = bus.consumer<'Decision'>({
      groupId: uniqueGroup('txn-watch'),
      topics: ['decisions'],
      handle: async (records) => {
        for (const r of records) if (r.key === marker) outputsSeen.push(r.value);
      },
    });
    await watcher.start();

    const transformed: string[] = [];
    const denyFor = (intentId: string, code: string): Message<'Decision'> => ({
      decision_id: randomUUID(), intent_id: intentId, intent_digest: 'c'.repeat(64), verdict: 'deny', final: true,
      reasons: [{ code, rule: 'test', message: 'test deny' }], obligations: {}, policy: null, input_digest: null,
      decided_at: new Date().toISOString(),
    });
    const make = (instance: string) =>
      bus.transactional<'Intent'>({
        groupId: group,
        topics: ['intents'],
        fromBeginning: true,
        transactionalId: `${group}-${instance}`,
        transform: async (records) =>
          records
            .filter((r) => r.key === marker)
            .map((r) => {
              transformed.push(r.value.intent_id);
              return { topic: 'decisions', key: marker, value: denyFor(r.value.intent_id, 'TEST_DENY') };
            }),
        // Only this test's poison: the topic also holds earlier tests' records.
        onDeadLetter: (letter) =>
          letter.intent_id && Buffer.from(letter.original.key ?? '', 'base64').toString() === marker
            ? [{ topic: 'decisions', key: marker, value: denyFor(letter.intent_id, 'INTENT_INVALID') }]
            : [],
      });

    const first = make('a');
    await first.start();
    const producer = bus.producer();
    const intents = [exampleIntent(), exampleIntent()];
    await producer.sendMany(intents.map((value) => ({ topic: 'intents', key: marker, value })));
    const poisonId = randomUUID();
    const { delegation: _d, ...invalid } = exampleIntent({ intent_id: poisonId });
    await raw.send({ topic: 'intents', messages: [{ key: marker, value: framed(bus.catalog.idFor('intents'), JSON.stringify(invalid)) }] });

    await eventually(() => outputsSeen.length === 3, 'three decisions (two transformed, one final deny for the poison)');
    expect(outputsSeen.filter((d) => d.reasons[0]!.code === 'TEST_DENY').map((d) => d.intent_id).sort()).toEqual(intents.map((i) => i.intent_id).sort());
    expect(outputsSeen.find((d) => d.reasons[0]!.code === 'INTENT_INVALID')?.intent_id).toBe(poisonId);
    await first.stop();

    const second = make('b');
    await second.start();
    await new Promise((r) => setTimeout(r, 2_000));
    expect(transformed.sort()).toEqual(intents.map((i) => i.intent_id).sort());
    expect(outputsSeen).toHaveLength(3);
    await second.stop();
    await watcher.stop();
  });
});

describe('containment in transactions', () => {
  const denyFor = (intentId: string, code: string): Message<'Decision'> => ({
    decision_id: randomUUID(), intent_id: intentId, intent_digest: 'c'.repeat(64), verdict: 'deny', final: true,
    reasons: [{ code, rule: 'test', message: 'test deny' }], obligations: {}, policy: null, input_digest: null,
    decided_at: new Date().toISOString(),
  });

  async function watchDecisions(marker: string): Promise<{ seen: Message<'Decision'>[]; letters: DeadLetter[]; stop(): Promise<void> }> {
    const seen: Message<'Decision'>[] = [];
    const letters: DeadLetter[] = [];
    const watchers = [
      bus.consumer<'Decision'>({ groupId: uniqueGroup('contain-watch'), topics: ['decisions'], fromBeginning: true, handle: async (records) => {
        for (const r of records) if (r.key === marker) seen.push(r.value);
      } }),
      bus.consumer<'DeadLetter'>({ groupId: uniqueGroup('contain-dlq'), topics: ['intents.dlq'], fromBeginning: true, handle: async (records) => {
        for (const r of records) if (r.key === marker) letters.push(r.value);
      } }),
    ];
    await Promise.all(watchers.map((w) => w.start()));
    return { seen, letters, stop: async () => void (await Promise.all(watchers.map((w) => w.stop()))) };
  }

  it('a transform that throws for one record: the batch is bisected, that record dead-lettered with its extra output, every other committed once', async () => {
    const marker = randomUUID();
    const group = uniqueGroup('contain');
    const watch = await watchDecisions(marker);
    const intents = Array.from({ length: 9 }, () => exampleIntent());
    const poisonId = intents[4]!.intent_id;
    const processor = bus.transactional<'Intent'>({
      groupId: group, topics: ['intents'], fromBeginning: true, transactionalId: `${group}-p`,
      transform: async (records) => records.filter((r) => r.key === marker).map((r) => {
        if (r.value.intent_id === poisonId) throw new TypeError('cannot process this one');
        return { topic: 'decisions', key: marker, value: denyFor(r.value.intent_id, 'TEST_DENY') };
      }),
      onDeadLetter: (letter) => (letter.intent_id === poisonId ? [{ topic: 'decisions', key: marker, value: denyFor(poisonId, 'TEST_DEAD_LETTER') }] : []),
    });
    await processor.start();
    // One send, one key: the nine share a partition and, most likely, a batch.
    await bus.producer().sendMany(intents.map((value) => ({ topic: 'intents', key: marker, value })));
    await eventually(() => watch.seen.length >= intents.length && watch.letters.length >= 1, 'nine decisions and one letter');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(watch.seen.map((d) => [d.intent_id, d.reasons[0]!.code]).sort()).toEqual(
      intents.map((i) => [i.intent_id, i.intent_id === poisonId ? 'TEST_DEAD_LETTER' : 'TEST_DENY']).sort(),
    );
    expect(watch.letters.map((l) => [l.intent_id, l.reason.code])).toEqual([[poisonId, 'PROCESSING_FAILED']]);
    expect(watch.letters[0]!.reason.message).toMatch(/cannot process this one/);
    await processor.stop();
    await watch.stop();
  });

  it('a retriable failure (the registry down) is retried, never blamed on a record', async () => {
    const marker = randomUUID();
    const group = uniqueGroup('contain-transient');
    const watch = await watchDecisions(marker);
    const intents = [exampleIntent(), exampleIntent()];
    let failures = 0;
    const processor = bus.transactional<'Intent'>({
      groupId: group, topics: ['intents'], fromBeginning: true, transactionalId: `${group}-p`,
      transform: async (records) => {
        const mine = records.filter((r) => r.key === marker);
        if (mine.length > 0 && failures < 2) {
          failures++;
          throw new BusError('REGISTRY_UNAVAILABLE', 'the registry did not answer', { retriable: true, hint: 'retry' });
        }
        return mine.map((r) => ({ topic: 'decisions', key: marker, value: denyFor(r.value.intent_id, 'TEST_DENY') }));
      },
    });
    await processor.start();
    await bus.producer().sendMany(intents.map((value) => ({ topic: 'intents', key: marker, value })));
    await eventually(() => watch.seen.length >= 2, 'both decided after the retries');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(failures).toBe(2);
    expect(watch.seen.map((d) => d.intent_id).sort()).toEqual(intents.map((i) => i.intent_id).sort());
    expect(watch.letters).toEqual([]);
    await processor.stop();
    await watch.stop();
  });
});

describe('transactions take turns between two producers', () => {
  it('every round commits once and in order; a successor with the same transactional id fences both producers', async () => {
    const marker = randomUUID();
    const group = uniqueGroup('txn-turns');
    const transactionalId = `${group}-p`;
    const seen: string[] = [];
    const watcher = bus.consumer<'Decision'>({
      groupId: uniqueGroup('txn-turns-watch'), topics: ['decisions'], fromBeginning: true,
      handle: async (records) => {
        for (const r of records) if (r.key === marker) seen.push(r.value.intent_id);
      },
    });
    await watcher.start();
    const processor = bus.transactional<'Intent'>({
      groupId: group, topics: ['intents'], fromBeginning: true, transactionalId,
      transform: async (records) => records.filter((r) => r.key === marker).map((r) => ({
        topic: 'decisions', key: marker,
        value: {
          decision_id: randomUUID(), intent_id: r.value.intent_id, intent_digest: 'c'.repeat(64), verdict: 'deny' as const, final: true,
          reasons: [{ code: 'TEST_DENY', rule: 'test', message: 'test deny' }], obligations: {}, policy: null, input_digest: null,
          decided_at: new Date().toISOString(),
        },
      })),
    });
    await processor.start();
    const producer = bus.producer();
    const sent: string[] = [];
    // Rounds one after another: each is its own fetch and transaction, so both producers take part.
    for (let round = 0; round < 4; round++) {
      const intents = [exampleIntent(), exampleIntent(), exampleIntent()];
      await producer.sendMany(intents.map((value) => ({ topic: 'intents', key: marker, value })));
      sent.push(...intents.map((i) => i.intent_id));
      await eventually(() => seen.length === sent.length, `round ${round} committed`);
    }
    expect(processor.committedBatches).toBeGreaterThanOrEqual(4);
    expect(seen).toEqual(sent); // one partition (one key): committed in the order consumed, none twice

    // A successor initialising the same two transactional ids fences this instance entirely:
    // neither of its producers can commit anything more.
    const successors = [transactionalId, `${transactionalId}.alt`].map((id) => rawKafka.producer({ transactionalId: id, idempotent: true, maxInFlightRequests: 1 }));
    for (const s of successors) {
      await s.connect();
      await (await s.transaction()).abort(); // InitProducerId bumps the epoch: the old one is fenced
    }
    const late = [exampleIntent(), exampleIntent()];
    await producer.sendMany(late.map((value) => ({ topic: 'intents', key: marker, value })));
    await new Promise((r) => setTimeout(r, 4_000));
    expect(seen).toEqual(sent); // nothing of the fenced instance became visible
    await processor.stop(10_000);
    await Promise.all(successors.map((s) => s.disconnect()));
    await watcher.stop();
  });
});
