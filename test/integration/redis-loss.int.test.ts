// Redis SIGKILLed mid-stream, restarted with its append-only file or empty: nothing that rested on
// Redis remembering is lost in the loosening direction. Claims: a warrant issued before the store
// lost its data is refused, never executed a second time. (The decision memory, the budgets, the
// labels, the registry and the revocations: below, restored before any allow.)
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvedTopic, type ApprovedIntent, type Decision, type ExecutionResult, type Intent } from '@intentgate/contracts';
import { exampleIntent } from '@intentgate/contracts/examples';
import { generateSigningKey, jwksOf, type Jwks, type SigningKey } from '@intentgate/evidence';
import { startStandaloneRedis, type StandaloneServer } from '@intentgate/infra';
import { Redis } from 'ioredis';
import { ContextStore } from '@intentgate/context';
import { ContextFeeder, publishLabel, publishRegistration } from '@intentgate/decision';
import { AgentClient, ExecutorRuntime } from '@intentgate/sdk';
import { approvedIntentSignedBy, connection, decisionWorker, eventually, serviceTrust, testBus, testLogger, testTrust, uniqueGroup } from '@intentgate/test';

const ISSUER = 'redis-loss-decision';
const SKEW_MS = 1_000;
const bus = testBus();
const producer = bus.producer();
const results: ExecutionResult[] = [];
const stoppers: Array<() => Promise<unknown>> = [];
let key: SigningKey;
let jwks: Jwks;

beforeAll(async () => {
  await bus.registerSchemas();
  key = await generateSigningKey('redis-loss-1');
  jwks = jwksOf([key]);
  const watch = bus.consumer<'ExecutionResult'>({
    groupId: uniqueGroup('redis-loss-executions'), topics: ['executions'], fromBeginning: true,
    handle: async (records) => {
      for (const { value } of records) results.push(value);
    },
  });
  await watch.start();
  stoppers.push(() => watch.stop());
});

afterAll(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => {});
  await bus.close();
});

const approvedIntent = () => approvedIntentSignedBy(key, ISSUER);

const publishAll = (approved: ApprovedIntent[]) => producer.sendMany(approved.map((a) => ({ topic: approvedTopic('data'), key: a.intent.intent_id, value: a })));

/** An executor of this test's intents on its own Redis; every handler call is counted. */
async function executorOn(redis: StandaloneServer, executorId: string, ran: string[]): Promise<void> {
  const executor = await ExecutorRuntime.start({
    ...connection('provisioner'), redisUrl: redis.url, domain: 'data', executorId, groupId: uniqueGroup('redis-loss-executor'),
    issuer: ISSUER, jwks, trust: await serviceTrust('executor'), logger: testLogger(), clockSkewMs: SKEW_MS,
    handler: async (a) => {
      ran.push(a.intent.intent_id);
      return {};
    },
  });
  stoppers.push(() => executor.stop());
}

/**
 * Waits until a warrant issued now counts as issued after the claim store's epoch: a store's
 * memory begins when an enforcement point first reaches it, and warrants from just before are refused.
 */
async function pastEpoch(redis: StandaloneServer): Promise<void> {
  const client = new Redis(redis.url);
  let epoch = 0;
  try {
    await eventually(() => epoch > 0, 'the claim store epoch set', 30_000, async () => {
      epoch = Number(await client.get('ig:claim:data:epoch'));
    });
  } finally {
    await client.quit();
  }
  await new Promise((r) => setTimeout(r, Math.max(0, epoch + SKEW_MS + 1_000 - Date.now())));
}

const reportsOf = (executorId: string, ids: readonly string[]) => results.filter((r) => r.executor === executorId && ids.includes(r.intent_id));

/** Runs five approved intents, kills Redis, restarts it, re-publishes the same five records. */
async function executeKillRepublish(empty: boolean) {
  const redis = await startStandaloneRedis();
  stoppers.push(() => redis.stop());
  const executorId = `redis-loss-${randomUUID().slice(0, 8)}`;
  const ran: string[] = [];
  await executorOn(redis, executorId, ran);
  await pastEpoch(redis);
  const approved = await Promise.all(Array.from({ length: 5 }, approvedIntent));
  const ids = approved.map((a) => a.intent.intent_id);
  await publishAll(approved);
  await eventually(() => reportsOf(executorId, ids).length === 5, 'five executions reported');
  expect(reportsOf(executorId, ids).map((r) => r.status)).toEqual(Array(5).fill('executed'));

  await redis.kill();
  await redis.restart({ empty });
  // Within the warrants' 120 s, the same records again (an agent or anyone who kept them).
  await publishAll(approved);
  await eventually(() => reportsOf(executorId, ids).length === 10, 'the re-published records reported', 90_000);
  const again = reportsOf(executorId, ids).slice(5);
  return { redis, executorId, ran, ids, again };
}

describe('the claim store (warrants and intents executed once) loses its data', () => {
  it('restarted empty: the re-published warrants, issued before its memory began, are refused CLAIM_STORE_RESET and never run twice; a warrant issued after runs', async () => {
    const { redis, executorId, ran, ids, again } = await executeKillRepublish(true);
    expect(again.map((r) => [r.status, r.reason?.code])).toEqual(Array(5).fill(['refused', 'CLAIM_STORE_RESET']));
    expect(again[0]!.reason!.message).toMatch(/submit the action again as a new intent/);
    expect(ran.filter((id) => ids.includes(id))).toHaveLength(5); // each ran once, before the loss

    // The store's new epoch is Redis's own clock at its return; a warrant issued after it (and the skew) runs.
    await pastEpoch(redis);
    const fresh = await approvedIntent();
    await publishAll([fresh]);
    await eventually(() => reportsOf(executorId, [fresh.intent.intent_id]).length === 1, 'the fresh warrant reported');
    expect(reportsOf(executorId, [fresh.intent.intent_id])[0]).toMatchObject({ status: 'executed' });
  });

  it('restarted from its append-only file (fsync on every write): every claim survived, so the re-published warrants are refused as used', async () => {
    const { ran, ids, again } = await executeKillRepublish(false);
    expect(again.map((r) => [r.status, r.reason?.code])).toEqual(Array(5).fill(['refused', 'WARRANT_REUSED']));
    expect(ran.filter((id) => ids.includes(id))).toHaveLength(5);
  });
});

describe('the context store (decision memory, budgets, registry, revocations) loses its data', () => {
  it('restarted empty: nothing is allowed until the feeder has restored it from the topics; then a resubmitted intent gets its first decision again and a spent budget is still spent', async () => {
    const { roots, operator } = await testTrust();
    const redis = await startStandaloneRedis();
    stoppers.push(() => redis.stop());
    const feederStore = new ContextStore({ redisUrl: redis.url, freshnessMs: 2_000 });
    const feederBus = testBus(`feeder-${randomUUID().slice(0, 8)}`, 'context-feeder');
    const operatorBus = testBus(`intentgate-operator-test-${randomUUID().slice(0, 8)}`, 'operator');
    stoppers.push(() => feederStore.close(), () => feederBus.close(), () => operatorBus.close());
    const agentId = `spiffe://example.org/agents/redis-loss-${randomUUID().slice(0, 8)}`;
    await publishRegistration(operatorBus, { agent: agentId, owner: 'alice@example.org', autonomy: 'assisted', domains: ['data'], actions: ['*'], status: 'active', reason: 'test' }, operator, undefined);
    const table = `billing.redis-loss-${randomUUID().slice(0, 6)}`;
    await publishLabel(operatorBus, { type: 'table', id: table, sensitivity: 'confidential', reason: 'test' }, operator, undefined);
    const feeder = await ContextFeeder.start({ bus: feederBus, store: feederStore, trust: roots, logger: testLogger(), freshnessMs: 2_000 });
    stoppers.push(() => feeder.stop());
    const worker = await decisionWorker(bus, 'redis-loss', { redisUrl: redis.url, contextFreshnessMs: 2_000 });
    stoppers.push(() => worker.stop());
    const agent = await AgentClient.connect({ ...connection('agent-platform'), trust: { roots } });
    stoppers.push(() => agent.close());

    const session = `redis-loss-${randomUUID()}`;
    const exportOf = (rows: number): Intent => {
      const base = exampleIntent();
      return {
        ...base, intent_id: randomUUID(),
        subject: { type: 'agent', id: agentId, properties: { autonomy: 'supervised' } },
        delegation: [{ principal: 'alice@example.org', kind: 'human', scope: ['*'] }, { principal: agentId, kind: 'agent', scope: ['data:*'] }],
        session: { id: session, workflow_step: 'reconcile', request_source: 'user' },
        action: { name: 'data.export', domain: 'data', reversible: false },
        resource: { type: 'table', id: table, properties: { sensitivity: 'confidential' } },
        context: { rows },
      };
    };
    // The session's confidential budget is 1,000 rows: 600 leaves 400.
    const spent = exportOf(600);
    const first = await agent.decide(spent);
    expect(first).toMatchObject({ verdict: 'allow' });

    await redis.kill();
    const lostAt = Date.now();
    await redis.restart({ empty: true });
    const probe = new ContextStore({ redisUrl: redis.url, freshnessMs: 2_000 });
    stoppers.push(() => probe.close());

    // Until the feeder has read the topics through, nothing is allowed.
    const during = await agent.decide(exportOf(300));
    let synced: string | null = null;
    await eventually(() => synced !== null, 'the store restored and marked synced', 120_000, async () => {
      synced = await probe.redis.get('ig:context:synced_at').catch(() => null);
    });
    const restoredMs = Date.now() - lostAt;
    if (Number(synced) > Date.parse(during.decided_at)) expect(during).toMatchObject({ verdict: 'deny', reasons: [{ code: 'CONTEXT_UNAVAILABLE' }] });
    // The label came back with the registry: a table without one would be another sensitivity to the policy.
    expect(await probe.resourceLabels('table', table)).toMatchObject({ sensitivity: 'confidential', revision: 1 });
    expect(await probe.agentFacts(agentId)).toMatchObject({ registered: true, status: 'active' });
    expect(feeder.lastReadThrough).toMatchObject({ restored: true });
    expect(feeder.counts.restored).toBeGreaterThanOrEqual(1);
    console.log(`[redis-loss] context store restored ${restoredMs} ms after the loss (read-through ${feeder.lastReadThrough!.ms} ms, ${feeder.counts.restored} decisions)`);

    // The resubmitted intent: its first decision, not a second one.
    const again = await agent.decide(spent);
    expect(again.decision_id).toBe(first.decision_id);
    // The budget spent before the loss is still spent: 600 + 600 is over 1,000.
    const over: Decision = await agent.decide(exportOf(600));
    expect(over).toMatchObject({ verdict: 'deny', reasons: [{ code: 'EXPORT_BUDGET_EXCEEDED' }] });
    // And what is left of it is still there to use.
    expect(await agent.decide(exportOf(300))).toMatchObject({ verdict: 'allow' });
    // Stopped here: the next test's worker (another group) reads the same intents.
    await worker.stop();
  });
});

describe('a store that lost its data and was not provisioned again (the functions went with it)', () => {
  it('every decision denies CONTEXT_UNAVAILABLE and every claim is refused CLAIM_UNAVAILABLE, each saying to provision; provisioned again, both work', async () => {
    const { roots } = await testTrust();
    const redis = await startStandaloneRedis();
    stoppers.push(() => redis.stop());
    const worker = await decisionWorker(bus, 'redis-unprovisioned', { redisUrl: redis.url });
    stoppers.push(() => worker.stop());
    const executorId = `redis-unprovisioned-${randomUUID().slice(0, 8)}`;
    const ran: string[] = [];
    await executorOn(redis, executorId, ran);
    const agent = await AgentClient.connect({ ...connection('agent-platform'), trust: { roots } });
    stoppers.push(() => agent.close());
    const query = (): Intent => ({ ...exampleIntent(), intent_id: randomUUID(), session: { id: `redis-unprovisioned-${randomUUID()}`, workflow_step: 'reconcile', request_source: 'user' } });

    await redis.kill();
    await redis.restart({ empty: true, provision: false });
    // The sync mark is there (a plain write): only the missing functions stand in the way.
    const store = new ContextStore({ redisUrl: redis.url, freshnessMs: 600_000 });
    stoppers.push(() => store.close());
    await store.connect();
    await store.markSynced();
    const denied = await agent.decide(query());
    expect(denied).toMatchObject({ verdict: 'deny', reasons: [{ code: 'CONTEXT_UNAVAILABLE' }] });
    expect(denied.reasons[0]!.message).toMatch(/Function not found.*run provisioning/s);
    const refusedWarrant = await approvedIntent();
    await publishAll([refusedWarrant]);
    await eventually(() => reportsOf(executorId, [refusedWarrant.intent.intent_id]).length === 1, 'the claim refused');
    const refusal = reportsOf(executorId, [refusedWarrant.intent.intent_id])[0]!;
    expect([refusal.status, refusal.reason?.code]).toEqual(['refused', 'CLAIM_UNAVAILABLE']);
    expect(refusal.reason!.message).toMatch(/Function not found.*run provisioning/s);
    expect(ran).not.toContain(refusedWarrant.intent.intent_id);

    // Provisioned again, as an operator does after restoring a store.
    const { provisionRedis } = await import('@intentgate/infra');
    await provisionRedis(redis.url);
    await store.markSynced();
    const decided = await agent.decide(query());
    expect(decided.reasons.map((r) => r.code)).not.toContain('CONTEXT_UNAVAILABLE');
    await pastEpoch(redis);
    const fresh = await approvedIntent();
    await publishAll([fresh]);
    await eventually(() => reportsOf(executorId, [fresh.intent.intent_id]).length === 1, 'the fresh warrant reported');
    expect(reportsOf(executorId, [fresh.intent.intent_id])[0]).toMatchObject({ status: 'executed' });
  });
});
