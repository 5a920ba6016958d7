// Containment on the real pipeline: a bounded, seeded corpus of malformed intents, written raw
// to `intents` as an agent platform can, each class alone and then all of them shuffled among
// valid intents. What must hold: the decision worker never stops, every valid intent gets exactly
// one final decision, every malformed record is in intents.dlq exactly once with its reason code,
// and each malformed record whose intent_id can be read gets exactly one final deny. Then intents
// that are well-formed but fail inside the decision path (their records break the contract or are
// refused by the broker): dead-lettered and denied, in the same transactions as their neighbours.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import type { DeadLetter, Decision, Intent } from '@intentgate/contracts';
import type { DecisionService } from '@intentgate/decision';
import { wasmEvaluator, type PolicyEvaluator, type PolicyResult } from '@intentgate/policy';
import { connection, decisionWorker, eventually, poisonCorpus, saslFor, testBus, uniqueGroup, type Poison } from '@intentgate/test';

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

const corpus = poisonCorpus({ seed: SEED, run: RUN, agent: AGENT, schemaId: () => schemaId });
const { validIntent, framed, rand, word } = corpus;
const CLASSES = corpus.classes;
const PER_CLASS = corpus.perClass;

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
