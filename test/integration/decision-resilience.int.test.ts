// Rule 6 under stress: every intent ends in exactly one final decision when the policy is
// swapped mid-stream, and when the decision worker is killed outright mid-load and restarted.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision, Intent, Receipt } from '@intentgate/contracts';
import { exampleIntent } from '@intentgate/contracts/examples';
import { ContextStore } from '@intentgate/context';
import { DecisionService } from '@intentgate/decision';
import { projectRoot } from '@intentgate/infra';
import type { BuiltBundle } from '@intentgate/policy';
import { activate, connection, eventually, roleEnv, serviceTrust, stack, starterBundle, testBus, testLogger, testTrust, uniqueGroup, variantBundle } from '@intentgate/test';

const AGENT = 'spiffe://example.org/agents/load';
const bus = testBus();
let v1: BuiltBundle;
let v2: BuiltBundle;
let store: ContextStore;
const stoppers: Array<() => Promise<unknown>> = [];

function intent(marker: string): Intent {
  const base = exampleIntent();
  return {
    ...base,
    subject: { type: 'agent', id: AGENT, properties: { autonomy: 'supervised' } },
    delegation: [{ principal: 'alice@example.org', kind: 'human', scope: ['*'] }, { principal: AGENT, kind: 'agent', scope: ['data:*'] }],
    session: { id: `${marker}-${randomUUID().slice(0, 6)}`, workflow_step: 'reconcile', request_source: 'user' },
    action: { name: 'data.query', domain: 'data', reversible: true },
    resource: { type: 'table', id: 'load.table', properties: { sensitivity: 'internal' } },
    context: {},
  };
}

/** Everything decided (and receipted) for this test's intents, read committed. */
async function watch(marker: string) {
  const decisions = new Map<string, Decision[]>();
  const receipts = new Map<string, number>();
  const approved = new Map<string, number>();
  const consumer = bus.consumer<'Decision' | 'Receipt' | 'ApprovedIntent'>({
    groupId: uniqueGroup('resilience-watch'), topics: ['decisions', 'receipts', 'intents.approved.data'],
    handle: async (records) => {
      for (const r of records) {
        if (r.topic === 'decisions' && r.key?.startsWith(marker)) {
          const d = r.value as Decision;
          decisions.set(d.intent_id, [...(decisions.get(d.intent_id) ?? []), d]);
        } else if (r.topic === 'receipts') {
          const receipt = r.value as Receipt;
          if (receipt.kind === 'decision' && receipt.intent_id) receipts.set(receipt.intent_id, (receipts.get(receipt.intent_id) ?? 0) + 1);
        } else if (r.topic === 'intents.approved.data') {
          const id = (r.value as { intent: Intent }).intent.intent_id;
          approved.set(id, (approved.get(id) ?? 0) + 1);
        }
      }
    },
  });
  await consumer.start();
  stoppers.push(() => consumer.stop());
  return { decisions, receipts, approved };
}

async function sendStream(intents: Intent[], onProgress: (sent: number) => Promise<void>, pauseMs = 15): Promise<void> {
  const producer = bus.producer();
  for (let i = 0; i < intents.length; i += 10) {
    await producer.sendMany(intents.slice(i, i + 10).map((value) => ({ topic: 'intents', key: value.session.id, value })));
    await onProgress(Math.min(i + 10, intents.length));
    await new Promise((r) => setTimeout(r, pauseMs));
  }
}

function expectExactlyOnce(ids: string[], seen: { decisions: Map<string, Decision[]>; receipts: Map<string, number>; approved: Map<string, number> }): void {
  const counts = ids.map((id) => seen.decisions.get(id)?.length ?? 0);
  expect(counts.filter((c) => c !== 1), 'intents without exactly one decision').toEqual([]);
  expect(ids.filter((id) => seen.receipts.get(id) !== 1), 'intents without exactly one decision receipt').toEqual([]);
  const allowed = ids.filter((id) => seen.decisions.get(id)![0]!.verdict === 'allow');
  expect(allowed.filter((id) => seen.approved.get(id) !== 1), 'allowed intents not approved exactly once').toEqual([]);
}

beforeAll(async () => {
  v1 = await starterBundle('v1');
  // v2: the same Rego with different data, so its digest (and its recorded policy) differ.
  v2 = await variantBundle((data) => (data.approval.deadline_seconds = 600), 'v2');
  expect(v2.digest).not.toBe(v1.digest);
  store = new ContextStore({ redisUrl: connection('provisioner').redisUrl, freshnessMs: 600_000 });
  await store.connect();
  await store.markSynced();
}, 600_000);

afterAll(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => {});
  await store?.close();
  await bus.close();
});

describe('hot swap', () => {
  it('a bundle activated mid-stream: no intent dropped or decided twice, each batch under one bundle', async () => {
    const tenant = `swap-${randomUUID().slice(0, 8)}`;
    const marker = `swap${randomUUID().slice(0, 6)}`;
    await activate(bus, v1, { version: '1', tenant, by: 'test' });
    const s = stack();
    const service = await DecisionService.start({
    identity: 'off', // not what this exercises; each start records the mode change
      trust: await serviceTrust('decision'),
      ...connection('provisioner'), tenant,
      groupId: uniqueGroup('swap'), contextFreshnessMs: 600_000, logger: testLogger(),
    });
    // Stopped at the end of this test: a second deployment on `intents` would decide the next test's intents too.
    stoppers.push(() => service.stop());
    const seen = await watch(marker);
    const intents = Array.from({ length: 300 }, () => intent(marker));
    let activated = false;
    await sendStream(intents, async (sent) => {
      if (!activated && sent >= 150) {
        activated = true;
        await activate(bus, v2, { version: '2', tenant, by: 'test' });
      }
    });
    await eventually(() => intents.every((i) => seen.decisions.has(i.intent_id)), 'all 300 decisions', 120_000);
    await new Promise((r) => setTimeout(r, 1_000)); // room for a duplicate to show itself
    const ids = intents.map((i) => i.intent_id);
    expectExactlyOnce(ids, seen);
    const decided = ids.map((id) => seen.decisions.get(id)![0]!);
    const byBundle = (digest: string) => decided.filter((d) => d.policy?.bundle_digest === digest);
    expect(byBundle(v1.digest).length + byBundle(v2.digest).length).toBe(300);
    expect(byBundle(v1.digest).length).toBeGreaterThan(0);
    expect(byBundle(v2.digest).length).toBeGreaterThan(0);
    // One worker, batches in sequence: once v2 decides, v1 never decides again.
    const lastV1 = Math.max(...byBundle(v1.digest).map((d) => Date.parse(d.decided_at)));
    const firstV2 = Math.min(...byBundle(v2.digest).map((d) => Date.parse(d.decided_at)));
    expect(lastV1).toBeLessThanOrEqual(firstV2);
    await service.stop();
  });
});

describe('crash', () => {
  it('the worker SIGKILLed mid-load and restarted: every intent has exactly one decision, receipt and approval', async () => {
    const tenant = `crash-${randomUUID().slice(0, 8)}`;
    const marker = `crash${randomUUID().slice(0, 6)}`;
    await activate(bus, v1, { version: '1', tenant, by: 'test' });
    const s = stack();
    const env = {
      ...process.env, ...roleEnv('provisioner'), INTENTGATE_IDENTITY: 'off',
      DECISION_TENANT: tenant, DECISION_GROUP: uniqueGroup('crash'), DECISION_INSTANCE_ID: 'crash-1', CONTEXT_FRESHNESS_MS: '600000', LOG_LEVEL: 'warn',
      // One signer across the crash: the restarted worker is the same worker.
      INTENTGATE_TRUST_FILE: (await testTrust()).paths.trustFile, INTENTGATE_SIGNER_FILE: (await serviceTrust('decision')).signerFile,
    };
    const main = join(projectRoot, 'services', 'decision', 'src', 'main.ts');
    const launch = (): { child: ChildProcess; ready: Promise<void> } => {
      const child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', main], { env: { ...env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
      stoppers.push(async () => child.exitCode === null && child.kill('SIGKILL'));
      let out = '';
      const ready = new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('decision service ready')) resolve();
        });
        child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
        child.on('exit', (code) => reject(new Error(`decision worker exited ${code}: ${out.slice(-2000)}`)));
      });
      return { child, ready };
    };
    const seen = await watch(marker);
    const first = launch();
    await first.ready;
    const intents = Array.from({ length: 300 }, () => intent(marker));
    let killed = false;
    const decidedCount = () => intents.filter((i) => seen.decisions.has(i.intent_id)).length;
    await sendStream(intents, async () => {
      if (!killed && decidedCount() >= 60) {
        killed = true;
        first.child.kill('SIGKILL');
      }
    }, 25);
    if (!killed) {
      await eventually(() => decidedCount() >= 60, 'some decisions before the kill');
      first.child.kill('SIGKILL');
    }
    // A killed child has a signalCode, not an exitCode; its exit event may already have fired.
    if (first.child.exitCode === null && first.child.signalCode === null) await new Promise((r) => first.child.once('exit', r));
    const before = decidedCount();
    console.log(`[crash test] ${before} of 300 decided when the worker was killed`);
    expect(before).toBeLessThan(300);
    const second = launch();
    await second.ready;
    const restarted = Date.now();
    await eventually(() => decidedCount() === 300, 'all 300 decisions after the restart', 180_000);
    console.log(`[crash test] the restarted worker finished in ${Date.now() - restarted} ms`);
    await new Promise((r) => setTimeout(r, 1_500));
    expectExactlyOnce(intents.map((i) => i.intent_id), seen);
    second.child.kill('SIGTERM');
    expect(await new Promise((r) => second.child.once('exit', (code) => r(code)))).toBe(0);
  }, 400_000);
});
