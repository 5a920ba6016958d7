// The trust model on the real stack: every lie of test/harness/lies.ts (one per caller-written
// field of the trust inventory) goes through a decision worker that verifies identity, with the
// stores saying what the lie contradicts; none is allowed. And the agent registry end to end:
// `intentgate agents register | suspend | resume` publish operator-signed entries, the context
// feeder applies them, decisions follow; an entry nobody trusted signed changes nothing.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceLabelKey, type Decision, type Intent, type Receipt } from '@intentgate/contracts';
import { ContextStore } from '@intentgate/context';
import { ContextFeeder, publishLabel, publishRegistration, readLabels, readRegistry } from '@intentgate/decision';
import { generateSigningKey, generateTrustMaterial, jwksOf, verifyReceiptSigners, type Jwks, type SigningKey } from '@intentgate/evidence';
import { Gateway } from '@intentgate/gateway';
import { AgentClient } from '@intentgate/sdk';
import { startStandaloneRedis } from '@intentgate/infra';
import { withLieCredentials, connection, decisionWorker, eventually, LIES, registerAgents, testBus, testLogger, testTrust, type Lie } from '@intentgate/test';

const TD = 'lies.int.test';
const OTHER = `spiffe://${TD}/agents/trusted-colleague`;
const bus = testBus();
const stoppers: Array<() => Promise<unknown>> = [];
let idKey: SigningKey;
let agent: AgentClient;
let labels: ContextStore;
/** The first decision on `decisions` for each intent: an escalation is a verdict too (the agent client waits for final ones). */
const firstDecisions = new Map<string, Decision>();

async function firstDecision(intent: Intent): Promise<Decision> {
  await agent.submit(intent);
  await eventually(() => firstDecisions.has(intent.intent_id), `a decision for ${intent.intent_id}`);
  return firstDecisions.get(intent.intent_id)!;
}

const credentialsFor = (intent: Intent, lie?: Lie): Promise<Intent> => withLieCredentials(intent, idKey, TD, OTHER, lie);

beforeAll(async () => {
  idKey = await generateSigningKey(`${TD}-1`);
  const trust = new Map<string, Jwks>([[TD, jwksOf([idKey])]]);
  const worker = await decisionWorker(bus, 'lies', { identity: { trust, maxDepth: 4 } });
  stoppers.push(() => worker.stop());
  agent = await AgentClient.connect({ ...connection('agent-platform'), trust: { roots: (await testTrust()).roots } });
  stoppers.push(() => agent.close());
  const watch = bus.consumer<'Decision'>({
    groupId: `test-lies-decisions-${randomUUID().slice(0, 8)}`, topics: ['decisions'],
    handle: async (records) => { for (const r of records) if (!firstDecisions.has(r.value.intent_id)) firstDecisions.set(r.value.intent_id, r.value); },
  });
  await watch.start();
  stoppers.push(() => watch.stop());
  labels = new ContextStore({ redisUrl: connection('context-feeder').redisUrl, freshnessMs: 600_000 });
  await labels.connect();
  stoppers.push(() => labels.close());
}, 600_000);

afterAll(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => {});
  await bus.close();
});

describe('lies through the decision worker (identity on)', () => {
  it.each(LIES.map((l) => [l.field, l] as const))('%s', async (_field, lie) => {
    const liar = `spiffe://${TD}/agents/liar-${randomUUID().slice(0, 8)}`;
    const resource = `lies.${randomUUID().slice(0, 8)}`;
    await registerAgents([liar, OTHER], lie.store.agent ?? {});
    const intent = lie.intent(liar, resource);
    if (lie.store.label) await labels.labelResource(lie.labelType ?? intent.resource.type, resource, lie.store.label.sensitivity, lie.store.label.environment);
    // Honest intents first, where the lie needs the stores to have seen them (the agent's spent budget).
    for (const honest of lie.before?.(liar, resource) ?? []) {
      expect((await agent.decide(await credentialsFor(honest), 30_000)).verdict).toBe('allow');
    }
    const decision = await firstDecision(await credentialsFor(intent, lie));
    expect(lie.verdicts, JSON.stringify(decision.reasons)).toContain(decision.verdict);
    for (const code of lie.codes) expect(decision.reasons.map((r) => r.code)).toContain(code);
    if (lie.anyOf) expect(decision.reasons.map((r) => r.code).filter((c) => lie.anyOf!.includes(c)), JSON.stringify(decision.reasons)).not.toEqual([]);
  });

  it('the same intents told honestly, by a registered agent with its own credentials, are allowed', async () => {
    const honest = `spiffe://${TD}/agents/honest-${randomUUID().slice(0, 8)}`;
    await registerAgents([honest]);
    const query = LIES.find((l) => l.field === 'intent.action.name')!.intent(honest, 'lies.honest');
    const decision = await agent.decide(await credentialsFor({ ...query, action: { name: 'data.query', domain: 'data', reversible: true } }), 30_000);
    expect(decision).toMatchObject({ verdict: 'allow', reasons: [{ code: 'ALL_GUARDS_PASSED' }] });
  });

  it('an intent without an SVID is denied before policy', async () => {
    const honest = `spiffe://${TD}/agents/no-svid-${randomUUID().slice(0, 8)}`;
    await registerAgents([honest]);
    const query = LIES.find((l) => l.field === 'intent.action.name')!.intent(honest, 'lies.no-svid');
    const decision = await agent.decide({ ...query, action: { name: 'data.query', domain: 'data', reversible: true } }, 30_000);
    expect(decision).toMatchObject({ verdict: 'deny', reasons: [{ rule: 'intentgate.identity' }], policy: null });
  });
});

describe('identity off is said, and recorded', () => {
  it('a worker started with identity off publishes a signed mode-change receipt a verifier accepts under the roots', async () => {
    const receipts: Receipt[] = [];
    const watch = bus.consumer<'Receipt'>({
      groupId: `test-mode-${randomUUID().slice(0, 8)}`, topics: ['receipts'],
      handle: async (records) => { for (const r of records) if (r.value.kind === 'mode-change') receipts.push(r.value); },
    });
    await watch.start();
    try {
      const worker = await decisionWorker(bus, 'identity-off');
      try {
        const producer = `intentgate-decision/${worker.instanceId}`;
        await eventually(() => receipts.some((r) => r.producer === producer), 'the mode-change receipt');
        const receipt = receipts.find((r) => r.producer === producer)!;
        expect(receipt.body).toMatchObject({ mode: 'identity', value: 'off', instance: worker.instanceId });
        const keys = await readPublishedKeys();
        const verdict = verifyReceiptSigners((await testTrust()).roots, keys, [{ where: 'mode-change', receipt: receipt as Receipt & Record<string, unknown> }]);
        expect(verdict).toMatchObject({ ok: true, receipts: 1 });
      } finally {
        await worker.stop();
      }
    } finally {
      await watch.stop();
    }
  });
});

/** Every key record on warrant.keys so far (certified or not: the verifier decides). */
async function readPublishedKeys(): Promise<unknown[]> {
  const keys: unknown[] = [];
  const ends = await bus.endOffsets('warrant.keys');
  let seen = -1n;
  const c = bus.consumer<'WarrantKey'>({
    groupId: `test-keys-${randomUUID().slice(0, 8)}`, topics: ['warrant.keys'], fromBeginning: true,
    handle: async (records) => { for (const r of records) { keys.push(r.value); seen = BigInt(r.offset); } },
  });
  await c.start();
  try {
    await eventually(() => seen >= (ends.get(0) ?? 0n) - 1n, 'warrant.keys read to its end');
  } finally {
    await c.stop();
  }
  return keys;
}

describe('the AuthZEN gateway in front of a worker that verifies identity', () => {
  it('a request carrying the agent\'s credentials decides; one without is denied IDENTITY_REQUIRED; a lie about reversibility is still caught', async () => {
    const token = `tok-${randomUUID()}`;
    const gateway = await Gateway.start({ roots: (await testTrust()).roots, ...connection('authzen-gateway'), callers: { lies: token } });
    try {
      const caller = `spiffe://${TD}/agents/authzen-${randomUUID().slice(0, 8)}`;
      await registerAgents([caller]);
      const { credentials } = await credentialsFor(LIES.find((l) => l.field === 'intent.action.name')!.intent(caller, 'x'));
      const ask = async (action: string, reversible: boolean, withCredentials: boolean, extra: Record<string, unknown> = {}) => {
        const res = await fetch(`${gateway.url}/access/v1/evaluation`, {
          method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({
            subject: { type: 'agent', id: caller, properties: { autonomy: 'supervised' } },
            action: { name: action, properties: { domain: 'data', reversible } },
            resource: { type: 'table', id: `authzen.${randomUUID().slice(0, 8)}`, properties: { sensitivity: 'internal' } },
            context: {
              session: { id: `authzen-${randomUUID().slice(0, 8)}`, workflow_step: 'reconcile', request_source: 'tool_output' },
              delegation: [{ principal: 'alice@example.org', kind: 'human', scope: ['*'] }, { principal: caller, kind: 'agent', scope: ['*'] }],
              ...(withCredentials ? { credentials } : {}), ...extra,
            },
          }),
        });
        return (await res.json()) as { decision: boolean; context: { reasons: Array<{ code: string }> } };
      };
      expect(await ask('data.query', true, true)).toMatchObject({ decision: true, context: { reasons: [{ code: 'ALL_GUARDS_PASSED' }] } });
      expect(await ask('data.query', true, false)).toMatchObject({ decision: false, context: { reasons: [{ code: 'IDENTITY_REQUIRED' }] } });
      const lie = await ask('data.delete', true, true, { rows: 5 });
      expect(lie.decision).toBe(false);
      expect(lie.context.reasons.map((r) => r.code)).toEqual(['TAINTED_SOURCE', 'REVERSIBLE_CLAIM_OVERRULED']);
    } finally {
      await gateway.stop();
    }
  });
});

describe('the resource catalog, from resources.labels to the store', () => {
  it('a label reaches the store through the context feeder; one signed by no configured operator, or an older revision replayed, never declassifies', async () => {
    const { roots, operator } = await testTrust();
    const feederStore = new ContextStore({ redisUrl: connection('context-feeder').redisUrl, freshnessMs: 600_000 });
    const feederBus = testBus(`feeder-${randomUUID().slice(0, 8)}`, 'context-feeder');
    const operatorBus = testBus(`intentgate-operator-test-${randomUUID().slice(0, 8)}`, 'operator');
    const feeder = await ContextFeeder.start({ bus: feederBus, store: feederStore, trust: roots, logger: testLogger(), freshnessMs: 600_000 });
    try {
      const table = { type: 'table', id: `lies.labels-${randomUUID().slice(0, 8)}` };
      let held = await feederStore.resourceLabels(table.type, table.id);
      const revisionApplied = (revision: number) => eventually(() => held.revision === revision, `revision ${revision} applied`, 60_000, async () => {
        held = await feederStore.resourceLabels(table.type, table.id);
      });
      const first = await publishLabel(operatorBus, { ...table, sensitivity: 'public', reason: 'test data' }, operator, undefined);
      await revisionApplied(1);
      const restricted = await publishLabel(operatorBus, { ...table, sensitivity: 'restricted', environment: 'production', reason: 'it holds secrets now' }, operator, first);
      await revisionApplied(2);
      expect(held).toEqual({ sensitivity: 'restricted', environment: 'production', revision: 2 });

      // An attacker with the operator's bus rights but not its key: "public" again, as revision 3.
      const forger = (await generateTrustMaterial('forger')).operator;
      const refusedBefore = feeder.counts.refused;
      await publishLabel(operatorBus, { ...table, sensitivity: 'public', reason: 'declassified by nobody' }, forger, restricted);
      await eventually(() => feeder.counts.refused > refusedBefore, 'the forged label refused');
      // The operator's own first label, published again: a real signature, an old revision.
      const staleBefore = feeder.counts.stale;
      await operatorBus.producer().send({ topic: 'resources.labels', key: resourceLabelKey(table), value: first });
      await eventually(() => feeder.counts.stale > staleBefore, 'the replayed label found stale');
      expect(await feederStore.resourceLabels(table.type, table.id)).toEqual({ sensitivity: 'restricted', environment: 'production', revision: 2 });
      // What an operator reads back is the newest verified label.
      expect((await readLabels(operatorBus, roots)).get(resourceLabelKey(table))).toMatchObject({ sensitivity: 'restricted', revision: 2 });
    } finally {
      await feeder.stop();
      await Promise.all([feederBus.close(), operatorBus.close()]);
      await feederStore.close();
    }
  });
});

describe('the agent registry, from agents.registry to the decision', () => {
  it('register, suspend and resume reach decisions through the context feeder; an entry signed by no configured operator is refused', async () => {
    const { roots, operator } = await testTrust();
    const feederStore = new ContextStore({ redisUrl: connection('context-feeder').redisUrl, freshnessMs: 600_000 });
    const feederBus = testBus(`feeder-${randomUUID().slice(0, 8)}`, 'context-feeder');
    const feeder = await ContextFeeder.start({ bus: feederBus, store: feederStore, trust: roots, logger: testLogger(), freshnessMs: 600_000, groupPrefix: 'intentgate-context-feeder-' });
    try {
      const operatorBus = testBus(`intentgate-operator-test-${randomUUID().slice(0, 8)}`, 'operator');
      stoppers.push(() => operatorBus.close());
      const id = `spiffe://${TD}/agents/registered-${randomUUID().slice(0, 8)}`;
      const ask = async () => {
        const q = LIES.find((l) => l.field === 'intent.action.name')!.intent(id, 'lies.registry');
        return agent.decide(await credentialsFor({ ...q, action: { name: 'data.query', domain: 'data', reversible: true } }), 30_000);
      };
      expect((await ask()).reasons.map((r) => r.code)).toContain('AGENT_UNKNOWN');

      const change = { agent: id, owner: 'alice@example.org', autonomy: 'supervised' as const, domains: ['data' as const], actions: ['data.query'], status: 'active' as const, reason: 'test' };
      const first = await publishRegistration(operatorBus, change, operator, undefined);
      await eventually(() => feeder.counts.applied >= 1, 'the registration applied');
      expect((await ask()).verdict).toBe('allow');

      // An attacker with the operator's bus rights but not its key: a "resume" signed by its own key.
      const forger = (await generateTrustMaterial('forger')).operator;
      const suspended = await publishRegistration(operatorBus, { ...change, status: 'suspended' }, operator, first);
      await eventually(() => feeder.counts.applied >= 2, 'the suspension applied');
      const refusedBefore = feeder.counts.refused;
      await publishRegistration(operatorBus, { ...change, status: 'active', reason: 'lifted by nobody' }, forger, suspended);
      await eventually(() => feeder.counts.refused > refusedBefore, 'the forged entry refused');
      const denied = await ask();
      expect(denied.verdict).toBe('deny');
      expect(denied.reasons.map((r) => r.code)).toContain('AGENT_SUSPENDED');

      const registry = await readRegistry(operatorBus, roots);
      expect(registry.get(id)).toMatchObject({ status: 'suspended', revision: 2 });
      await publishRegistration(operatorBus, { ...change, status: 'active' }, operator, registry.get(id));
      await eventually(() => feeder.counts.applied >= 3, 'the resumption applied');
      expect((await ask()).verdict).toBe('allow');
      // The registry's facts are part of the recorded input: what the decision saw is replayable.
      expect((await feederStore.agentFacts(id))).toMatchObject({ registered: true, status: 'active', revision: 3, domains: ['data'], actions: ['data.query'] });
    } finally {
      await feeder.stop();
      await feederBus.close();
      await feederStore.close();
    }
  });

  it('a context store that lost its data (emptied, as Redis restarted without persistence) is refilled from agents.registry, the suspension included, and then marked synced again', async () => {
    const { roots, operator } = await testTrust();
    const redis = await startStandaloneRedis();
    const store = new ContextStore({ redisUrl: redis.url, freshnessMs: 600_000 });
    const feederBus = testBus(`feeder-${randomUUID().slice(0, 8)}`, 'context-feeder');
    const operatorBus = testBus(`intentgate-operator-test-${randomUUID().slice(0, 8)}`, 'operator');
    let feeder: ContextFeeder | null = null;
    try {
      const id = `spiffe://${TD}/agents/survivor-${randomUUID().slice(0, 8)}`;
      const change = { agent: id, owner: 'alice@example.org', autonomy: 'supervised' as const, domains: ['data' as const], actions: ['*'], status: 'active' as const, reason: 'test' };
      const first = await publishRegistration(operatorBus, change, operator, undefined);
      await publishRegistration(operatorBus, { ...change, status: 'suspended', reason: 'incident' }, operator, first);
      // A revocation too: it must come back with the store, not only at the next worker start.
      const revokedLink = `spiffe://${TD}/agents/revoked-${randomUUID().slice(0, 8)}`;
      await operatorBus.producer().send({ topic: 'identity.revocations', key: revokedLink, value: { link: revokedLink, kind: 'principal', revoked_by: 'test', reason: 'lost key', revoked_at: new Date().toISOString() } });
      feeder = await ContextFeeder.start({ bus: feederBus, store, trust: roots, logger: testLogger(), freshnessMs: 400 });
      expect(await store.agentFacts(id)).toMatchObject({ registered: true, status: 'suspended', revision: 2 });
      expect(await store.redis.sismember('ig:revoked', revokedLink)).toBe(1);
      await store.redis.flushall();
      await eventually(() => feeder!.counts.replays >= 1, 'the feeder to notice the lost store');
      let facts = await store.agentFacts(id);
      await eventually(() => facts.registered, 'the registry replayed', 30_000, async () => {
        facts = await store.agentFacts(id);
      });
      // The suspension and the revocation came back with it: a lost store never reads as a lifted one.
      expect(facts).toMatchObject({ status: 'suspended', revision: 2 });
      let synced: string | null = null;
      await eventually(() => synced !== null, 'the sync mark renewed', 30_000, async () => {
        synced = await store.redis.get('ig:context:synced_at');
      });
      // The mark is set only once both topics are read through again.
      expect(await store.redis.sismember('ig:revoked', revokedLink)).toBe(1);
    } finally {
      await feeder?.stop();
      await Promise.all([feederBus.close(), operatorBus.close()]);
      await store.close();
      await redis.stop();
    }
  });
});
