// Containment on the real pipeline: a bounded, seeded corpus of malformed intents, written raw
// to `intents` as an agent platform can, each class alone and then all of them shuffled among
// valid intents. What must hold: the decision worker never stops, every valid intent gets exactly
// one final decision, every malformed record is in intents.dlq exactly once with its reason code,
// and each malformed record whose intent_id can be read gets exactly one final deny. Then intents
// that are well-formed but fail inside the decision path (their records break the contract or are
// refused by the broker): dead-lettered and denied, in the same transactions as their neighbours.
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import type { DeadLetter, Decision, Intent } from '@intentgate/contracts';
import { exampleIntent } from '@intentgate/contracts/examples';
import type { DecisionService } from '@intentgate/decision';
import { wasmEvaluator, type PolicyEvaluator, type PolicyResult } from '@intentgate/policy';
import { connection, decisionWorker, eventually, saslFor, testBus, uniqueGroup } from '@intentgate/test';
import { prng } from '../../bench/pipeline/intents.ts';

const SEED = Number(process.env.INTENTGATE_FUZZ_SEED ?? 0x1e309);
/** One of the agents every pipeline test acts as (registered wherever the harness registers agents). */
const AGENT = 'spiffe://example.org/agents/load';
/** Per run, so the same stack can run the suite again (ids are the idempotency keys). */
const RUN = randomUUID().slice(0, 8);
const marker = `fuzz${RUN}`;
const bus = testBus();
const stoppers: Array<() => Promise<unknown>> = [];
let service: DecisionService;
let raw: Producer;
let schemaId: number;

// The benchmark's seeded PRNG: the same corpus on every run.
const rand = prng(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const word = (n = 6) => Array.from({ length: n }, () => 'abcdefghijklmnopqrstuvwxyz'[Math.floor(rand() * 26)]).join('');
let serial = 0;
/** A uuid from the seeded stream and the run: deterministic shape, unique per run. */
function nextId(): string {
  const h = createHash('sha256').update(`${RUN}/${SEED}/${serial++}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((Number.parseInt(h.slice(16, 17), 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function validIntent(session: string, resourceId = `fuzz.${word()}`): Intent {
  return {
    ...exampleIntent(),
    intent_id: nextId(),
    subject: { type: 'agent', id: AGENT, properties: { autonomy: 'supervised' } },
    delegation: [{ principal: 'alice@example.org', kind: 'human', scope: ['*'] }, { principal: AGENT, kind: 'agent', scope: ['data:*'] }],
    session: { id: session, workflow_step: 'reconcile', request_source: 'user' },
    action: { name: 'data.query', domain: 'data', reversible: true },
    resource: { type: 'table', id: resourceId, properties: { sensitivity: 'internal' } },
    context: { note: word(12), rows: Math.floor(rand() * 100) },
  };
}

function framed(json: string | Buffer, id = schemaId, magic = 0): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(magic, 0);
  header.writeInt32BE(id, 1);
  return Buffer.concat([header, typeof json === 'string' ? Buffer.from(json, 'utf8') : json]);
}

/** A valid intent's JSON text with its context replaced by `rawContext` (JSON text that may not survive JSON.stringify). */
function withRawContext(intent: Intent, rawContext: string): string {
  return JSON.stringify({ ...intent, context: '\u0000RAW' }).replace('"\\u0000RAW"', rawContext);
}

interface Poison {
  kind: string;
  key: string;
  value: Buffer | null;
  /** The intent_id a reader can recover from the bytes (then a final deny is owed), or null. */
  intentId: string | null;
  reason: string;
}

type Make = (key: string) => Poison;

/** The malformed classes: what each is, how to make one (seeded), the reason its letter must carry. */
const CLASSES: Record<string, Make> = {
  'not JSON': (key) => ({ kind: 'not JSON', key, value: framed(`{"intent_id":"${nextId()}","action":${pick(['', '{', '[1,', 'tru'])}`), intentId: null, reason: 'UNDECODABLE' }),
  'no framing': (key) => {
    const i = validIntent(key);
    return { kind: 'no framing', key, value: Buffer.from(JSON.stringify(i)), intentId: i.intent_id, reason: 'UNDECODABLE' };
  },
  'wrong magic byte': (key) => {
    const i = validIntent(key);
    return { kind: 'wrong magic byte', key, value: framed(JSON.stringify(i), schemaId, 1 + Math.floor(rand() * 254)), intentId: i.intent_id, reason: 'UNDECODABLE' };
  },
  'unknown schema id': (key) => {
    const i = validIntent(key);
    return { kind: 'unknown schema id', key, value: framed(JSON.stringify(i), 900_000 + Math.floor(rand() * 99_999)), intentId: i.intent_id, reason: 'SCHEMA_UNKNOWN' };
  },
  'negative schema id': (key) => {
    const i = validIntent(key);
    return { kind: 'negative schema id', key, value: framed(JSON.stringify(i), pick([-1, 0, -2_147_483_648])), intentId: i.intent_id, reason: 'SCHEMA_UNKNOWN' };
  },
  'schema-invalid': (key) => {
    const { delegation: _d, ...i } = validIntent(key);
    return { kind: 'schema-invalid', key, value: framed(JSON.stringify(i)), intentId: i.intent_id, reason: 'SCHEMA_INVALID' };
  },
  'wrong types': (key) => {
    const i = validIntent(key);
    const broken = pick([
      { ...i, action: { ...i.action, reversible: 'yes' } },
      { ...i, context: [1, 2, 3] },
      { ...i, delegation: 'alice' },
      { ...i, submitted_at: 1_700_000_000 },
    ]);
    return { kind: 'wrong types', key, value: framed(JSON.stringify(broken)), intentId: i.intent_id, reason: 'SCHEMA_INVALID' };
  },
  'missing intent_id': (key) => {
    const { intent_id: _id, ...i } = validIntent(key);
    return { kind: 'missing intent_id', key, value: framed(JSON.stringify(i)), intentId: null, reason: 'SCHEMA_INVALID' };
  },
  'unreadable intent_id': (key) => {
    const i = { ...validIntent(key), intent_id: pick<unknown>([42, 'not-a-uuid', null, { id: nextId() }, [nextId()]]) };
    return { kind: 'unreadable intent_id', key, value: framed(JSON.stringify(i)), intentId: null, reason: 'SCHEMA_INVALID' };
  },
  'not an object': (key) => ({ kind: 'not an object', key, value: framed(pick(['null', '[1,2]', '"intent"', '42', 'true'])), intentId: null, reason: 'SCHEMA_INVALID' }),
  'empty value': (key) => ({ kind: 'empty value', key, value: pick([null, Buffer.alloc(0), Buffer.from([0])]), intentId: null, reason: 'UNDECODABLE' }),
  'non-finite number': (key) => {
    const i = validIntent(key);
    return { kind: 'non-finite number', key, value: framed(withRawContext(i, `{"amount":${pick(['1e309', '-1e309', '9e999'])}}`)), intentId: i.intent_id, reason: 'NUMBER_NOT_FINITE' };
  },
  'lone surrogate in a string': (key) => {
    const i = validIntent(key);
    return { kind: 'lone surrogate in a string', key, value: framed(withRawContext(i, `{"note":"${word(3)}${pick(['\\ud800', '\\udfff', '\\ud83d'])}"}`)), intentId: i.intent_id, reason: 'LONE_SURROGATE' };
  },
  'lone surrogate in a key': (key) => {
    const i = validIntent(key);
    return { kind: 'lone surrogate in a key', key, value: framed(withRawContext(i, `{"${pick(['\\udc00', '\\ud800'])}${word(3)}":1}`)), intentId: i.intent_id, reason: 'LONE_SURROGATE' };
  },
  'deep nesting': (key) => {
    const i = validIntent(key);
    const depth = 33 + Math.floor(rand() * 2000);
    return { kind: 'deep nesting', key, value: framed(withRawContext(i, `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`)), intentId: i.intent_id, reason: 'NESTING_TOO_DEEP' };
  },
  '__proto__ key': (key) => {
    const i = validIntent(key);
    return { kind: '__proto__ key', key, value: framed(withRawContext(i, '{"__proto__":{"sensitivity":"public"}}')), intentId: i.intent_id, reason: 'KEY_RESERVED' };
  },
  'invalid UTF-8': (key) => {
    const i = validIntent(key);
    const [before, after] = JSON.stringify(i).split('"reconcile"');
    const bad = Buffer.concat([Buffer.from(`${before}"rec`), Buffer.from([pick([0xff, 0xc3, 0xed])]), Buffer.from(`ile"${after}`)]);
    return { kind: 'invalid UTF-8', key, value: framed(bad), intentId: i.intent_id, reason: 'UTF8_INVALID' };
  },
  'huge record': (key) => {
    const i = validIntent(key);
    // 70 KB: over the intent's 64 KiB, kept whole in its letter.
    return { kind: 'huge record', key, value: framed(JSON.stringify({ ...i, context: { blob: word(1).repeat(70_000) } })), intentId: i.intent_id, reason: 'MESSAGE_TOO_LARGE' };
  },
  'huge record, letter truncated': (key) => {
    const i = validIntent(key);
    // 400 KB: too large for a whole dead letter; the letter keeps its digest, the deny still comes.
    return { kind: 'huge record, letter truncated', key, value: framed(JSON.stringify({ ...i, context: { blob: word(1).repeat(400_000) } })), intentId: i.intent_id, reason: 'MESSAGE_TOO_LARGE' };
  },
};

/** How many of each class (the huge ones fewer: every later worker in the run reads them again). */
const PER_CLASS = (kind: string) => (kind.startsWith('huge') ? 1 : 3);

/** What the worker wrote about this suite's records: read committed, from the beginning, filtered. */
const letters = new Map<string, DeadLetter[]>(); // by original key
const decisions = new Map<string, Decision[]>(); // by intent_id
const tracked = new Set<string>();

function keyOf(letter: DeadLetter): string | null {
  return letter.original.key === null ? null : Buffer.from(letter.original.key, 'base64').toString('utf8');
}

async function send(records: Array<{ key: string; value: Buffer | null }>): Promise<void> {
  await raw.send({ topic: 'intents', acks: -1, messages: records.map((r) => ({ key: r.key, value: r.value })) });
}

function expectPoisonHandled(poison: Poison[]): void {
  for (const p of poison) {
    const got = letters.get(p.key) ?? [];
    expect(got.map((l) => l.reason.code), `${p.kind} (${p.key}): one letter with its reason`).toEqual([p.reason]);
    expect(got[0]!.intent_id, `${p.kind}: the intent_id read from it`).toBe(p.intentId);
    if (p.intentId !== null) {
      const denies = decisions.get(p.intentId) ?? [];
      expect(denies.map((d) => [d.verdict, d.final, d.reasons[0]!.code, d.policy]), `${p.kind}: one final deny`).toEqual([['deny', true, 'INTENT_INVALID', null]]);
      expect(denies[0]!.reasons[0]!.message.startsWith(`${p.reason}:`), `${p.kind}: the deny names the letter's reason`).toBe(true);
    }
  }
}

function expectDecidedOnce(intents: Intent[]): void {
  const counts = intents.map((i) => decisions.get(i.intent_id)?.length ?? 0);
  expect(counts.filter((c) => c !== 1), 'valid intents without exactly one decision').toEqual([]);
  // Decided by the policy (it was evaluated and named), final, not denied by the containment around it.
  const notByPolicy = intents.map((i) => decisions.get(i.intent_id)![0]!).filter((d) => d.policy === null || !d.final || d.reasons.some((r) => r.rule === 'intentgate.containment'));
  expect(notByPolicy.map((d) => d.reasons[0])).toEqual([]);
}

/** The worker's containment gauges, read from its /metrics as any operator would. */
async function containment(): Promise<{ failed: number; isolated: number; isolatedRecords: number }> {
  const text = await (await fetch(`${service.httpUrl}/metrics`)).text();
  const value = (name: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    if (line === undefined) throw new Error(`${name} missing from /metrics`);
    return Number(line.slice(name.length + 1));
  };
  return { failed: value('intentgate_decision_batches_failed'), isolated: value('intentgate_decision_batches_isolated'), isolatedRecords: value('intentgate_decision_records_isolated') };
}

const allSettled = (poison: Poison[], valid: Intent[]) => () =>
  poison.every((p) => letters.has(p.key) && (p.intentId === null || decisions.has(p.intentId))) && valid.every((i) => decisions.has(i.intent_id));

/**
 * A policy evaluator that is the Wasm engine, except for intents on resources named fault-*: for
 * those it answers what an evaluator must never answer (obligations that are not JSON, or too
 * large for any record). The decision then cannot be written: the worker's containment is tested
 * on the real bus and broker rather than assumed.
 */
const faulty: PolicyEvaluator = {
  kind: 'wasm-with-faults',
  evaluate: (engine, input, json, timeoutMicros) => {
    const result = wasmEvaluator.evaluate(engine, input, json, timeoutMicros) as PolicyResult;
    const resource = (input as { intent: Intent }).intent.resource.id;
    if (resource.startsWith('fault-bigint')) return { ...result, obligations: { limit: 10n } };
    if (resource.startsWith('fault-code')) return { ...result, reasons: [{ code: 'not a reason code', rule: 'fault', message: 'lower case' }] };
    if (resource.startsWith('fault-huge')) return { ...result, obligations: { blob: 'x'.repeat(1_200_000) } };
    return result;
  },
};

beforeAll(async () => {
  await bus.registerSchemas();
  schemaId = bus.catalog.idFor('intents');
  for (const [topic, sink] of [['intents.dlq', 'letters'], ['decisions', 'decisions']] as const) {
    const watch = bus.consumer<'DeadLetter' | 'Decision'>({
      groupId: uniqueGroup(`fuzz-watch-${sink}`), topics: [topic], fromBeginning: true,
      handle: async (records) => {
        for (const r of records) {
          if (sink === 'letters') {
            const letter = r.value as DeadLetter;
            const key = keyOf(letter);
            if (key?.startsWith(marker)) letters.set(key, [...(letters.get(key) ?? []), letter]);
          } else {
            const d = r.value as Decision;
            if (tracked.has(d.intent_id)) decisions.set(d.intent_id, [...(decisions.get(d.intent_id) ?? []), d]);
          }
        }
      },
    });
    await watch.start();
    stoppers.push(() => watch.stop());
  }
  service = await decisionWorker(bus, 'fuzz', { evaluator: faulty });
  stoppers.push(() => service.stop());
  // As an agent platform: the role that may write intents, and all the bytes it likes.
  const c = connection('agent-platform');
  raw = new Kafka({ clientId: `fuzz-${RUN}`, brokers: c.brokers, ...saslFor('agent-platform'), logLevel: logLevel.NOTHING }).producer();
  await raw.connect();
  stoppers.push(() => raw.disconnect());
}, 300_000);

afterAll(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => {});
  await bus.close();
});

describe(`fuzz corpus (seed ${SEED})`, () => {
  it('each class alone, followed by a valid intent on its partition: letters, denies, and the valid one decided', async () => {
    for (const kind of Object.keys(CLASSES)) {
      const key = `${marker}-alone-${kind.replace(/\W+/g, '-')}`;
      const poison = Array.from({ length: PER_CLASS(kind) }, (_, n) => CLASSES[kind]!(`${key}-${n}`));
      // The valid intent shares the last poison's key, so it sits behind them on their partition.
      const after = validIntent(poison.at(-1)!.key);
      for (const id of [after.intent_id, ...poison.flatMap((p) => (p.intentId ? [p.intentId] : []))]) tracked.add(id);
      await send([...poison, { key: after.session.id, value: framed(JSON.stringify(after)) }]);
      await eventually(allSettled(poison, [after]), `the ${kind} class settled`, 60_000);
      expectPoisonHandled(poison);
      expectDecidedOnce([after]);
    }
    expect(service.ready).toBe(true);
    // No batch was handed back to the consumer (no crash, no restart), and the contract caught
    // every class: none needed isolating.
    expect(await containment()).toEqual({ failed: 0, isolated: 0, isolatedRecords: 0 });
  });

  it('every class shuffled among 120 valid intents over 8 sessions: nothing stops, nothing lost, nothing doubled', async () => {
    const valid = Array.from({ length: 120 }, (_, n) => validIntent(`${marker}-mixed-s${n % 8}`));
    const poison = Object.keys(CLASSES).flatMap((kind) => Array.from({ length: PER_CLASS(kind) }, (_, n) => CLASSES[kind]!(`${marker}-mixed-${kind.replace(/\W+/g, '-')}-${n}`)));
    for (const id of [...valid.map((i) => i.intent_id), ...poison.flatMap((p) => (p.intentId ? [p.intentId] : []))]) tracked.add(id);
    const all: Array<{ key: string; value: Buffer | null }> = [
      ...valid.map((i) => ({ key: i.session.id, value: framed(JSON.stringify(i)) })),
      ...poison,
    ];
    for (let i = all.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    // A few bursts, so poison lands in batches of every size beside valid intents.
    for (let i = 0; i < all.length; i += 40) await send(all.slice(i, i + 40));
    await eventually(allSettled(poison, valid), 'every valid intent decided and every malformed one dead-lettered', 90_000);
    await new Promise((r) => setTimeout(r, 1_000)); // room for a duplicate to show itself
    expectPoisonHandled(poison);
    expectDecidedOnce(valid);
    expect(service.ready).toBe(true);
    expect(await containment()).toEqual({ failed: 0, isolated: 0, isolatedRecords: 0 });
  });
});

describe('well-formed intents that fail inside the decision path', () => {
  it('a decision whose records break the contract or are refused by the broker: dead-lettered and denied, its batch decided', async () => {
    const session = `${marker}-path`;
    const valid = Array.from({ length: 30 }, () => validIntent(session));
    const faults = [
      // Its decision cannot even be signed (no canonical form): the worker dead-letters it itself.
      { intent: validIntent(session, `fault-bigint-${word()}`), reason: 'DECISION_FAILED' },
      // Signed, but 1.2 MB: the broker refuses the records, so the bus isolates the intent that made them.
      { intent: validIntent(session, `fault-huge-${word()}`), reason: 'OUTPUT_REFUSED' },
      // A reason code the Decision contract refuses: caught when the records are encoded, isolated the same way.
      { intent: validIntent(session, `fault-code-${word()}`), reason: 'OUTPUT_INVALID' },
    ];
    for (const i of [...valid, ...faults.map((f) => f.intent)]) tracked.add(i.intent_id);
    // One session key: one partition, so the faults share batches (and transactions) with valid intents.
    const stream = [...valid.slice(0, 10), faults[0]!.intent, ...valid.slice(10, 20), faults[1]!.intent, faults[2]!.intent, ...valid.slice(20)];
    await send(stream.map((i) => ({ key: session, value: framed(JSON.stringify(i)) })));
    await eventually(() => stream.every((i) => decisions.has(i.intent_id)), 'every intent of the stream decided', 90_000);
    await new Promise((r) => setTimeout(r, 1_000));
    expectDecidedOnce(valid);
    const byOffset = [...(letters.get(session) ?? [])];
    expect(byOffset.map((l) => [l.intent_id, l.reason.code]).sort()).toEqual(faults.map((f) => [f.intent.intent_id, f.reason]).sort());
    for (const f of faults) {
      expect(decisions.get(f.intent.intent_id)!.map((d) => [d.verdict, d.final, d.reasons[0]!.code, d.reasons[0]!.rule])).toEqual([['deny', true, 'INTENT_UNPROCESSABLE', 'intentgate.containment']]);
    }
    expect(service.ready).toBe(true);
    // The worker dead-lettered the unsignable one itself; the two whose records failed were
    // bisected out of their batches, and still no batch went back to the consumer.
    const after = await containment();
    expect(after.failed).toBe(0);
    expect(after.isolated).toBeGreaterThanOrEqual(1);
    expect(after.isolatedRecords).toBe(2);
  });
});
