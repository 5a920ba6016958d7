// Issue 18: the broker SIGKILLed mid-stream and restarted on the same data and port. The decision
// worker and an executor, left running, resume on their own: intents published after the restart
// are decided, executed and reported, and no intent has two committed final decisions.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bus } from '@intentgate/bus';
import type { Decision, ExecutionResult, Intent } from '@intentgate/contracts';
import { exampleIntent } from '@intentgate/contracts/examples';
import type { DecisionService } from '@intentgate/decision';
import { ExecutorRuntime } from '@intentgate/sdk';
import { decisionWorker, eventually, labelResources, privateBroker, serviceTrust, testLogger, uniqueGroup, type PrivateBroker } from '@intentgate/test';

const AGENT = 'spiffe://example.org/agents/load';
const TABLE = 'restart.table';
const marker = `restart${randomUUID().slice(0, 6)}`;
let broker: PrivateBroker;
let bus: Bus;
let service: DecisionService;
let executor: ExecutorRuntime;
/** Intent ids the executor's handler ran, in order. */
const executed: string[] = [];
const stoppers: Array<() => Promise<unknown>> = [];

function intent(): Intent {
  const base = exampleIntent();
  return {
    ...base,
    subject: { type: 'agent', id: AGENT, properties: { autonomy: 'supervised' } },
    delegation: [{ principal: 'alice@example.org', kind: 'human', scope: ['*'] }, { principal: AGENT, kind: 'agent', scope: ['data:*'] }],
    session: { id: `${marker}-${randomUUID().slice(0, 6)}`, workflow_step: 'reconcile', request_source: 'user' },
    action: { name: 'data.query', domain: 'data', reversible: true },
    // One resource: the executor runs its intents one after another, so the stream is still going when the broker dies.
    resource: { type: 'table', id: TABLE, properties: { sensitivity: 'internal' } },
    context: {},
  };
}

/** Sends until the broker acknowledges (it may be down or just back): the test's own producer is not what is tested. */
async function publish(intents: Intent[]): Promise<void> {
  const producer = bus.producer();
  for (let i = 0; i < intents.length; i += 20) {
    const slice = intents.slice(i, i + 20).map((value) => ({ topic: 'intents', key: value.session.id, value }));
    for (let attempt = 0; ; attempt++) {
      try {
        await producer.sendMany(slice);
        break;
      } catch (err) {
        if (attempt > 60) throw err;
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  }
}

/** What is on `decisions` and `executions` for this test's intents, read committed, by a reader started after the restart. */
async function readBack() {
  const decisions = new Map<string, Decision[]>();
  const executions = new Map<string, ExecutionResult[]>();
  const consumer = bus.consumer<'Decision' | 'ExecutionResult'>({
    groupId: uniqueGroup('restart-watch'), topics: ['decisions', 'executions'], fromBeginning: true,
    handle: async (records) => {
      for (const r of records) {
        if (r.topic === 'decisions' && r.key?.startsWith(marker)) {
          const d = r.value as Decision;
          decisions.set(d.intent_id, [...(decisions.get(d.intent_id) ?? []), d]);
        } else if (r.topic === 'executions') {
          const e = r.value as ExecutionResult;
          if (e.executor === 'restart-data') executions.set(e.intent_id, [...(executions.get(e.intent_id) ?? []), e]);
        }
      }
    },
  });
  await consumer.start();
  stoppers.push(() => consumer.stop());
  return { decisions, executions };
}

beforeAll(async () => {
  broker = await privateBroker();
  stoppers.push(() => broker.stop());
  bus = broker.bus();
  stoppers.push(() => bus.close());
  await labelResources([{ type: 'table', id: TABLE, sensitivity: 'internal' }]);
  // Warrants outlive the outage here: what is tested is that the stream resumes, not expiry (a refusal, as it should be).
  service = await decisionWorker(bus, 'restart', { ...broker.connection('provisioner'), instanceId: randomUUID().slice(0, 8), warrantTtlSeconds: 600 });
  stoppers.push(() => service.stop());
  executor = await ExecutorRuntime.start({
    ...broker.connection('provisioner'), domain: 'data', executorId: 'restart-data', issuer: 'intentgate-decision',
    groupId: uniqueGroup('restart-executor'), trust: await serviceTrust('executor'), logger: testLogger(),
    health: { stallAfterMs: 10_000, lagCheckEveryMs: 1_000, restartInitialBackoffMs: 500 },
    handler: async (approved) => {
      executed.push(approved.intent.intent_id);
      await new Promise((r) => setTimeout(r, 10));
    },
  });
  stoppers.push(() => executor.stop());
}, 600_000);

afterAll(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => {});
});

describe('the broker killed and restarted mid-stream', { timeout: 600_000 }, () => {
  it('the decision worker and the executor resume on their own; every intent has one committed decision and one execution', async () => {
    const before = Array.from({ length: 400 }, intent);
    await publish(before);
    await eventually(() => executed.length >= 50, 'the executor to be running through the stream', 120_000);
    await broker.kafka.kill();
    const killedAt = Date.now();
    expect(executed.length).toBeLessThan(before.length); // killed mid-stream
    await new Promise((r) => setTimeout(r, 3_000));
    await broker.kafka.restart();
    const restartedAt = Date.now();

    const after = Array.from({ length: 100 }, intent);
    await publish(after);
    const afterIds = new Set(after.map((i) => i.intent_id));
    await eventually(() => executed.some((id) => afterIds.has(id)), 'an intent published after the restart to be executed', 240_000);
    const firstAfter = Date.now();
    const ids = [...before, ...after].map((i) => i.intent_id);
    const seen = await readBack();
    await eventually(() => ids.every((id) => seen.executions.has(id)), 'every intent to be executed and reported', 240_000);
    const allDone = Date.now();
    await new Promise((r) => setTimeout(r, 2_000)); // room for a duplicate to show itself
    console.log(`[broker-restart] down ${restartedAt - killedAt} ms; first execution of a new intent ${firstAfter - restartedAt} ms after the broker answered; all ${ids.length} reported ${allDone - restartedAt} ms after`);

    expect(ids.filter((id) => seen.decisions.get(id)?.length !== 1), 'intents without exactly one committed decision').toEqual([]);
    expect(ids.filter((id) => seen.decisions.get(id)![0]!.verdict !== 'allow'), 'intents not allowed').toEqual([]);
    const notExecuted = ids.flatMap((id) => seen.executions.get(id)!.filter((e) => e.status !== 'executed').map((e) => `${id}: ${e.status} ${e.reason?.code}`));
    expect(notExecuted, 'execution results other than executed').toEqual([]);
    expect(new Set(executed).size).toBe(executed.length); // never run twice
    await eventually(() => executor.health().every((h) => h.ready && h.lag === 0), 'the executor\'s consumers to be ready and caught up', 60_000);
    console.log(`[broker-restart] executor consumers: ${JSON.stringify(executor.health().map(({ groupId, state, restarts, lag }) => ({ groupId, state, restarts, lag })))}`);
  });

  it('intents streaming into the decision worker as the broker dies: no intent gets two committed decisions', async () => {
    const acked: string[] = [];
    const unsure: string[] = [];
    const producer = bus.producer();
    let restarted: Promise<void> | null = null;
    const stream = (async () => {
      for (let sent = 0; sent < 1_500; sent += 20) {
        const chunk = Array.from({ length: 20 }, intent);
        try {
          await producer.sendMany(chunk.map((value) => ({ topic: 'intents', key: value.session.id, value })));
          acked.push(...chunk.map((i) => i.intent_id));
        } catch {
          // Not sent again: a chunk that failed may still have been written once, never twice.
          unsure.push(...chunk.map((i) => i.intent_id));
          await new Promise((r) => setTimeout(r, 500));
        }
        if (restarted === null && sent >= 400) restarted = broker.kafka.kill().then(() => broker.kafka.restart());
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await stream;
    await restarted;
    const seen = await readBack();
    await eventually(() => acked.every((id) => seen.decisions.has(id)), `decisions for all ${acked.length} acknowledged intents`, 240_000);
    await new Promise((r) => setTimeout(r, 3_000)); // room for a duplicate to show itself
    console.log(`[broker-restart] streaming: ${acked.length} acknowledged, ${unsure.length} unsure, ${[...seen.decisions.values()].filter((d) => d.length > 1).length} with two decisions`);
    expect(acked.filter((id) => seen.decisions.get(id)!.length !== 1), 'acknowledged intents without exactly one committed decision').toEqual([]);
    expect(unsure.filter((id) => (seen.decisions.get(id)?.length ?? 0) > 1), 'unsure intents decided twice').toEqual([]);
  });
});
