// The decision pipeline end to end on the real stack: intents decided by OPA-Wasm with Redis
// context, warrants verified and claimed once by an executor, and every failure a deny.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import type { ApprovedIntent, Decision, ExecutionResult, Intent } from '@intentgate/contracts';
import { exampleIntent } from '@intentgate/contracts/examples';
import { ContextStore } from '@intentgate/context';
import { DecisionService } from '@intentgate/decision';
import { digestOf, type Jwks } from '@intentgate/evidence';
import { startStandaloneRedis } from '@intentgate/infra';
import type { BuiltBundle } from '@intentgate/policy';
import { AgentClient, DecisionTimeout, ExecutorRuntime } from '@intentgate/sdk';
import { activate, approvalsService, bundleFiles, connection, eventually, labelResources, registerAgents, saslFor, serviceTrust, signedBundleOf, stack, starterBundle, testBus, testLogger, testTrust, uniqueGroup } from '@intentgate/test';

const AGENT = 'spiffe://example.org/agents/helper';
const ISSUER = 'intentgate-decision';
const tenant = `tenant-${randomUUID().slice(0, 8)}`;
const bus = testBus();
let bundle: BuiltBundle;
let service: DecisionService;
let agent: AgentClient;
let executor: ExecutorRuntime;
let store: ContextStore;
const executed: ApprovedIntent[] = [];
const results = new Map<string, ExecutionResult[]>();
const watchers: Array<{ stop(): Promise<void> }> = [];

function intent(overrides: { action?: Partial<Intent['action']>; resource?: Partial<Intent['resource']>; context?: Intent['context']; session?: Partial<Intent['session']> } = {}): Intent {
  const base = exampleIntent();
  return {
    ...base,
    subject: { type: 'agent', id: AGENT, properties: { autonomy: 'supervised' } },
    delegation: [
      { principal: 'alice@example.org', kind: 'human', scope: ['*'] },
      { principal: AGENT, kind: 'agent', scope: ['data:*', 'infra:*'] },
    ],
    session: { ...base.session, ...overrides.session },
    action: { name: 'data.query', domain: 'data', reversible: true, ...overrides.action },
    resource: { type: 'table', id: `t-${randomUUID().slice(0, 8)}`, properties: { sensitivity: 'internal' }, ...overrides.resource },
    context: overrides.context ?? {},
  };
}

async function startService(options: { tenant: string; redisUrl?: string; groupId?: string }): Promise<DecisionService> {
  const s = stack();
  return DecisionService.start({
    identity: 'off', // not what this exercises; each start records the mode change
    trust: await serviceTrust('decision'),
    ...connection('provisioner'), ...(options.redisUrl ? { redisUrl: options.redisUrl } : {}),
    tenant: options.tenant, groupId: options.groupId ?? uniqueGroup('decision'), instanceId: randomUUID().slice(0, 8),
    contextFreshnessMs: 60_000, approvalDeadlineCapSeconds: 2, logger: testLogger(),
  });
}

beforeAll(async () => {
  const s = stack();
  await bus.registerSchemas();
  bundle = await starterBundle();
  await activate(bus, bundle, { version: '1.0.0', tenant, by: 'test' });
  store = new ContextStore({ redisUrl: connection('provisioner').redisUrl, freshnessMs: 60_000 });
  await store.connect();
  await store.markSynced();
  await registerAgents([AGENT]);
  service = await startService({ tenant });
  agent = await AgentClient.connect({ ...connection('agent-platform'), trust: { roots: (await testTrust()).roots } });
  executor = await ExecutorRuntime.start({
    ...connection('provisioner'), domain: 'data',
    executorId: 'test-data', issuer: ISSUER, groupId: uniqueGroup('executor'),
    trust: await serviceTrust('executor'),
    handler: async (approved) => {
      executed.push(approved);
      return { detail: { rows: 1 } };
    },
  });
  const watch = bus.consumer<'ExecutionResult'>({
    groupId: uniqueGroup('executions'), topics: ['executions'],
    handle: async (records) => {
      for (const { value } of records) results.set(value.intent_id, [...(results.get(value.intent_id) ?? []), value]);
    },
  });
  await watch.start();
  watchers.push(watch);
}, 600_000);

afterAll(async () => {
  await Promise.allSettled(watchers.map((w) => w.stop()));
  await executor?.stop();
  await agent?.close();
  await service?.stop();
  await store?.close();
  await bus.close();
});

describe('decisions', () => {
  it('an allowed intent gets a warrant and is executed exactly once', async () => {
    const i = intent();
    const decision = await agent.decide(i);
    expect(decision).toMatchObject({ verdict: 'allow', final: true, intent_digest: digestOf(i), policy: { bundle_digest: bundle.digest, version: '1.0.0' } });
    expect(decision.warrant).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    await eventually(() => results.has(i.intent_id), 'the execution result');
    expect(results.get(i.intent_id)).toMatchObject([{ status: 'executed', executor: 'test-data' }]);
    expect(executed.filter((a) => a.intent.intent_id === i.intent_id)).toHaveLength(1);
  });

  it('a denied intent is final, names its reason, and never reaches the executor', async () => {
    const i = intent({ action: { name: 'data.export', reversible: false }, resource: { properties: { sensitivity: 'confidential' } }, context: { rows: 5_000 } });
    const decision = await agent.decide(i);
    expect(decision).toMatchObject({ verdict: 'deny', final: true, reasons: [{ code: 'EXPORT_BUDGET_EXCEEDED' }] });
    expect(decision.warrant).toBeUndefined();
    await new Promise((r) => setTimeout(r, 1_000));
    expect(executed.some((a) => a.intent.intent_id === i.intent_id)).toBe(false);
    expect(results.has(i.intent_id)).toBe(false);
  });

  it('session history counts: the second export that crosses the budget is denied', async () => {
    const session = { id: `sess-${randomUUID()}` };
    const table = { properties: { sensitivity: 'confidential' as const } };
    const first = await agent.decide(intent({ session, action: { name: 'data.export', reversible: false }, resource: table, context: { rows: 600 } }));
    expect(first.verdict).toBe('allow');
    const second = await agent.decide(intent({ session, action: { name: 'data.export', reversible: false }, resource: table, context: { rows: 600 } }));
    expect(second).toMatchObject({ verdict: 'deny', reasons: [{ code: 'EXPORT_BUDGET_EXCEEDED' }] });
  });

  it('the store label outranks the caller: a "public" claim on a restricted table is denied', async () => {
    const i = intent({ action: { name: 'data.export', reversible: false }, resource: { properties: { sensitivity: 'public' } }, context: { rows: 1 } });
    await store.labelResource(i.resource.type, i.resource.id, 'restricted');
    const decision = await agent.decide(i);
    expect(decision.verdict).toBe('deny');
    expect(decision.reasons.map((r) => r.code)).toContain('RESTRICTED_DATA');
  });

  it('an irreversible high-impact action escalates, is not executed, and is denied at its deadline', async () => {
    const i = intent({ action: { name: 'data.delete', reversible: false }, resource: { properties: { sensitivity: 'confidential' } }, context: { rows: 3 } });
    const requests: string[] = [];
    const watch = bus.consumer<'ApprovalRequest'>({
      groupId: uniqueGroup('approvals'), topics: ['approvals.requests'],
      handle: async (records) => { for (const r of records) requests.push(r.value.intent_id); },
    });
    await watch.start();
    watchers.push(watch);
    // The approvals service owns deadlines; with nobody answering, it denies at the deadline.
    const approvals = await approvalsService('pipeline');
    watchers.push(approvals);
    await agent.submit(i);
    await eventually(() => requests.includes(i.intent_id), 'the approval request');
    // No final decision yet: the agent's await runs out as a timeout, never as an allow.
    await expect(agent.awaitDecision(i.intent_id, 500)).rejects.toBeInstanceOf(DecisionTimeout);
    // Nobody answers: at the deadline (capped to 2 s here) it becomes a final deny.
    const final = await agent.awaitDecision(i.intent_id, 30_000);
    expect(final).toMatchObject({ verdict: 'deny', final: true, reasons: [{ code: 'APPROVAL_TIMEOUT' }] });
    // Asking again gets that same final deny, not the old escalation.
    expect((await agent.decide(i)).decision_id).toBe(final.decision_id);
    expect(executed.some((a) => a.intent.intent_id === i.intent_id)).toBe(false);
  });

  it('the same intent submitted twice gets the same decision and executes once', async () => {
    const i = intent();
    const first = await agent.decide(i);
    const second = await agent.decide(i);
    expect(second.decision_id).toBe(first.decision_id);
    await eventually(() => results.has(i.intent_id), 'the execution');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(executed.filter((a) => a.intent.intent_id === i.intent_id)).toHaveLength(1);
  });

  it('a poison intent goes to the DLQ and its intent still gets a final deny', async () => {
    const intentId = randomUUID();
    const decision = agent.awaitDecision(intentId, 60_000);
    const header = Buffer.alloc(5);
    header.writeInt32BE(bus.catalog.idFor('intents'), 1);
    const raw = new Kafka({ clientId: 'poison', brokers: stack().kafka.brokers, ...saslFor('provisioner'), logLevel: logLevel.NOTHING }).producer();
    await raw.connect();
    await raw.send({ topic: 'intents', messages: [{ key: 'poison', value: Buffer.concat([header, Buffer.from(JSON.stringify({ intent_id: intentId, action: 'rm -rf' }))]) }] });
    await raw.disconnect();
    expect(await decision).toMatchObject({ verdict: 'deny', final: true, reasons: [{ code: 'INTENT_INVALID' }], policy: null });
  });
});

describe('executor refusals', () => {
  async function replay(approved: ApprovedIntent): Promise<void> {
    const producer = bus.producer();
    await producer.send({ topic: 'intents.approved.data', key: approved.intent.intent_id, value: approved });
  }

  it('a replayed warrant is refused and the action does not run again', async () => {
    const i = intent();
    await agent.decide(i);
    await eventually(() => results.get(i.intent_id)?.length === 1, 'the first execution');
    const original = executed.find((a) => a.intent.intent_id === i.intent_id)!;
    await replay(original);
    await eventually(() => results.get(i.intent_id)?.length === 2, 'the replay to be reported');
    expect(results.get(i.intent_id)![1]).toMatchObject({ status: 'refused', reason: { code: 'WARRANT_REUSED' } });
    expect(executed.filter((a) => a.intent.intent_id === i.intent_id)).toHaveLength(1);
  });

  it('a warrant moved onto a changed intent is refused (digest mismatch)', async () => {
    const i = intent();
    await agent.decide(i);
    await eventually(() => results.has(i.intent_id), 'the first execution');
    const original = executed.find((a) => a.intent.intent_id === i.intent_id)!;
    const changed = { ...original, intent: { ...original.intent, resource: { ...original.intent.resource, id: 'billing.everything' } } };
    await replay(changed);
    await eventually(() => results.get(i.intent_id)?.length === 2, 'the changed replay to be reported');
    expect(results.get(i.intent_id)![1]).toMatchObject({ status: 'refused', reason: { code: 'WARRANT_DIGEST_MISMATCH' } });
  });

  it('a forged warrant (signed by an unknown key) is refused', async () => {
    const { generateSigningKey, signWarrant } = await import('@intentgate/evidence');
    const i = intent();
    const first = await agent.decide(i);
    await eventually(() => results.has(i.intent_id), 'the first execution');
    const forger = await generateSigningKey('forger');
    const j = intent();
    const forged = await signWarrant(forger, { issuer: ISSUER, decisionId: first.decision_id, intentId: j.intent_id, intentDigest: digestOf(j), domain: 'data', ttlSeconds: 30 });
    const decision: Decision = { ...first, intent_id: j.intent_id, intent_digest: digestOf(j), warrant: forged };
    await replay({ intent: j, decision, warrant: forged });
    await eventually(() => results.has(j.intent_id), 'the forged one to be reported');
    expect(results.get(j.intent_id)).toMatchObject([{ status: 'refused', reason: { code: 'WARRANT_UNKNOWN_KEY' } }]);
    expect(executed.some((a) => a.intent.intent_id === j.intent_id)).toBe(false);
  });
});

describe('executor concurrency', () => {
  it('runs approved intents on different resources at once, those on one resource one at a time, each once', async () => {
    const s = stack();
    const shared = `svc-${randomUUID().slice(0, 8)}`;
    const restart = (id: string) => intent({
      action: { name: 'infra.restart', domain: 'infra', reversible: true },
      resource: { type: 'service', id, properties: { sensitivity: 'internal', environment: 'staging' } },
    });
    const apart = Array.from({ length: 6 }, () => restart(`svc-${randomUUID().slice(0, 8)}`));
    const together = Array.from({ length: 3 }, () => restart(shared));
    // Staging in the context store: unlabelled, a service is production (outside the change window, a deny).
    await labelResources([...apart, ...together].map((i) => ({ type: 'service', id: i.resource.id, sensitivity: 'internal' as const, environment: 'staging' })));
    const ours = new Set([...apart, ...together].map((i) => i.intent_id));
    let running = 0;
    let peak = 0;
    let sharedBusy = false;
    let sharedOverlapped = false;
    const ran: string[] = [];
    const infra = await ExecutorRuntime.start({
      ...connection('provisioner'), domain: 'infra',
      executorId: 'test-infra', issuer: ISSUER, groupId: uniqueGroup('executor-infra'), concurrency: 4,
      trust: await serviceTrust('executor'),
      accept: (approved) => ours.has(approved.intent.intent_id), // other files' infra intents are not ours to claim
      handler: async (approved) => {
        const onShared = approved.intent.resource.id === shared;
        if (onShared) {
          if (sharedBusy) sharedOverlapped = true;
          sharedBusy = true;
        }
        running++;
        peak = Math.max(peak, running);
        // Hold until three have run at once (what a concurrent executor reaches) or 5 s passed (a
        // sequential one never gets there, so it fails the assertion below rather than hanging).
        const until = Date.now() + 5_000;
        while (peak < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
        await new Promise((r) => setTimeout(r, 50));
        running--;
        if (onShared) sharedBusy = false;
        ran.push(approved.intent.intent_id);
      },
    });
    try {
      const decisions = await Promise.all([...apart, ...together].map((i) => agent.decide(i)));
      expect(decisions.map((d) => d.verdict)).toEqual(Array(9).fill('allow'));
      await eventually(() => [...ours].every((id) => results.get(id)?.length === 1), 'all nine executions reported', 60_000);
      expect([...ours].map((id) => results.get(id)![0]!.status)).toEqual(Array(9).fill('executed'));
      expect(ran.sort()).toEqual([...ours].sort()); // each exactly once
      expect(peak).toBeGreaterThanOrEqual(3);
      expect(peak).toBeLessThanOrEqual(4); // the concurrency limit
      expect(sharedOverlapped).toBe(false);
    } finally {
      await infra.stop();
    }
  });
});

describe('failing closed', () => {
  it('no active bundle for the tenant: every intent is denied NO_ACTIVE_BUNDLE', async () => {
    await service.stop();
    const other = await startService({ tenant: `empty-${randomUUID().slice(0, 8)}` });
    try {
      expect(await agent.decide(intent())).toMatchObject({ verdict: 'deny', reasons: [{ code: 'NO_ACTIVE_BUNDLE' }], policy: null });
    } finally {
      await other.stop();
    }
  });

  it('a corrupt bundle activated, signed by the publisher: denied BUNDLE_CORRUPT, never the old policy', async () => {
    const t = `corrupt-${randomUUID().slice(0, 8)}`;
    await activate(bus, bundle, { version: '1', tenant: t, by: 'test' });
    // The publisher signed it, so it is the publisher's policy; it cannot load, so nothing is allowed.
    const files = bundleFiles(bundle);
    files.set('policy.wasm', files.get('policy.wasm')!.subarray(0, 4096));
    await activate(bus, signedBundleOf(files, (await testTrust()).publisherKey), { version: '2-broken', tenant: t, by: 'test' });
    const other = await startService({ tenant: t });
    try {
      expect(await agent.decide(intent())).toMatchObject({ verdict: 'deny', reasons: [{ code: 'BUNDLE_CORRUPT' }] });
    } finally {
      await other.stop();
    }
  });

  it('Redis killed: denied CONTEXT_UNAVAILABLE', async () => {
    const redis = await startStandaloneRedis();
    const own = new ContextStore({ redisUrl: redis.url, freshnessMs: 60_000 });
    await own.connect();
    await own.markSynced();
    await own.applyRegistration({ agent: AGENT, owner: 'alice@example.org', autonomy: 'assisted', domains: ['data'], actions: ['*'], status: 'active', revision: 1, changed_at: new Date().toISOString(), changed_by: 'test', reason: 'own Redis' });
    await own.close();
    const other = await startService({ tenant, redisUrl: redis.url });
    try {
      expect((await agent.decide(intent())).verdict).toBe('allow');
      await redis.kill();
      expect(await agent.decide(intent())).toMatchObject({ verdict: 'deny', reasons: [{ code: 'CONTEXT_UNAVAILABLE' }], policy: null });
    } finally {
      await other.stop();
      await redis.stop();
    }
  });

  it('stale context: denied CONTEXT_UNAVAILABLE', async () => {
    const redis = await startStandaloneRedis();
    const own = new ContextStore({ redisUrl: redis.url, freshnessMs: 60_000 });
    await own.connect();
    await own.markSynced(Date.now() - 10 * 60_000);
    const other = await startService({ tenant, redisUrl: redis.url });
    try {
      expect(await agent.decide(intent())).toMatchObject({ verdict: 'deny', reasons: [{ code: 'CONTEXT_UNAVAILABLE', message: expect.stringMatching(/freshness/) }] });
    } finally {
      await other.stop();
      await own.close();
      await redis.stop();
    }
  });
});
