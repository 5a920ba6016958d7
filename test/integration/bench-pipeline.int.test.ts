// The pipeline benchmark's harness at a tiny scale on the shared stack, so `npm run bench` keeps
// working: the pass-through floor, the Wasm worker (with executors) and the OPA-server peer each
// decide a few dozen intents of the seeded mix; every intent is decided on every path, the Wasm
// path and the peer agree intent by intent, allowed intents are executed. No time is asserted.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContextStore } from '@intentgate/context';
import { jwksOf, type SigningKey } from '@intentgate/evidence';
import { projectRoot } from '@intentgate/infra';
import { activate, connection, freshContext, serviceTrust, stack, starterBundle, testBus, testLogger, testTrust, uniqueGroup } from '@intentgate/test';
import { agreement, LoadGenerator, startExecutors, startOpaServer, startWorkers, type OpaServer, type StepResult, type WorkerSet } from '../../bench/pipeline/harness.ts';
import { seedContext } from '../../bench/pipeline/intents.ts';
import type { WorkerConfig } from '../../bench/pipeline/worker.ts';
import { latencyThroughputSvg } from '../../bench/pipeline/plot.ts';
import { measureMachine } from '../../bench/pipeline/calibrate.ts';

const bus = testBus();
const tenant = `bench-${randomUUID().slice(0, 8)}`;
const groupId = uniqueGroup('bench-decision'); // shared by the three paths, as in the benchmark
const stops: Array<() => Promise<unknown>> = [];
let gen: LoadGenerator;
let opa: OpaServer;
let key: SigningKey;
let trustFile: string;
let signerFile: string;
let executorSignerFile: string;
const results = new Map<string, StepResult>();

beforeAll(async () => {
  const s = stack();
  await activate(bus, await starterBundle(), { version: '1', tenant, by: 'test' });
  await freshContext();
  const store = new ContextStore({ redisUrl: connection('provisioner').redisUrl, freshnessMs: 600_000 });
  await store.connect();
  await seedContext(store);
  await store.close();
  opa = await startOpaServer(s.opa.path, join(projectRoot, 'policies'));
  stops.push(() => opa.stop());
  trustFile = (await testTrust()).paths.trustFile;
  const worker = await serviceTrust('decision');
  key = worker.signer.key;
  signerFile = worker.signerFile;
  executorSignerFile = (await serviceTrust('executor')).signerFile;
  gen = await LoadGenerator.start({ ...connection('provisioner'), logger: testLogger() });
  stops.push(() => gen.close());
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  await bus.close();
});

async function workers(mode: WorkerConfig['mode']): Promise<WorkerSet> {
  const s = stack();
  return startWorkers({
    mode, ...connection('provisioner'), tenant, groupId,
    trustFile, signerFile, opaUrl: opa.url, exactlyOnce: true, policyTimeoutMicros: 10_000_000, logLevel: process.env.INTENTGATE_TEST_LOG ?? 'silent',
  });
}

async function run(path: string, mode: WorkerConfig['mode'], withExecutors = false): Promise<StepResult> {
  const s = stack();
  const set = await workers(mode);
  const executors = withExecutors
    ? await startExecutors({ ...connection('provisioner'), jwks: jwksOf([key]), trustFile, signerFile: executorSignerFile, groupPrefix: uniqueGroup('bench-exec'), sessionPrefix: gen.runId })
    : null;
  try {
    // Generous drain: the group starts at the beginning of `intents`, which earlier tests filled.
    const result = await gen.step({ path, rate: 20, seconds: 2, seedKey: 'tiny', drainMs: 90_000, expectExecutions: withExecutors, rss: () => set.maxRss() });
    results.set(path, result);
    return result;
  } finally {
    await executors?.stop();
    await set.stop();
  }
}

describe('pipeline benchmark harness, tiny scale', () => {
  it('floor: a pass-through worker decides every intent, without policy', async () => {
    const r = await run('floor', 'floor');
    expect(r.decided).toBe(r.sent);
    expect(r.verdicts).toEqual({ deny: r.sent });
    expect([...gen.outcomes.get('floor')!.values()].every((v) => v === 'deny|PASS_THROUGH')).toBe(true);
  });

  it('wasm: the decision worker decides every intent of the mix and executors run the allowed ones', async () => {
    const r = await run('wasm', 'wasm', true);
    expect(r.decided).toBe(r.sent);
    expect(r.verdicts.allow).toBeGreaterThan(0);
    expect(r.verdicts.deny).toBeGreaterThan(0);
    expect(r.executed).toBe(r.verdicts.allow);
    expect(r.workerRssMax).toBeGreaterThan(0);
  });

  it('peer: opa run --server decides the same intents exactly as the Wasm path', async () => {
    const r = await run('opa', 'opa');
    expect(r.decided).toBe(r.sent);
    const cmp = agreement(gen.outcomes.get('wasm'), gen.outcomes.get('opa'));
    expect(cmp.compared).toBe(r.sent);
    expect(cmp.differences).toEqual([]);
    expect(cmp.agreed).toBe(cmp.compared);
  });

  it('the plot draws the three paths', () => {
    const svg = latencyThroughputSvg('tiny', [...results].map(([name, s], i) => ({
      name, color: ['#777', '#17c', '#c22'][i]!, points: [{ x: s.throughput, p50: s.decision.p50, p99: s.decision.p99 }],
    })));
    expect(svg.startsWith('<svg')).toBe(true);
    for (const name of ['floor', 'wasm', 'opa']) expect(svg).toContain(`>${name}</text>`);
  });

  it('measures the machine reference figures the report starts with', async () => {
    const machine = await measureMachine();
    expect(machine.sha256OneKiBMicros).toBeGreaterThan(0);
    expect(Number.isFinite(machine.sha256OneKiBMicros)).toBe(true);
    expect(machine.loopbackRoundTripMicros.p50).toBeGreaterThan(0);
    expect(machine.loopbackRoundTripMicros.p99).toBeGreaterThanOrEqual(machine.loopbackRoundTripMicros.p50);
  });
});
