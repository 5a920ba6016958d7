// The trust model on the real stack: every lie of test/harness/lies.ts (one per caller-written
// field of the trust inventory) goes through a decision worker that verifies identity, with the
// stores saying what the lie contradicts; none is allowed. And the agent registry end to end:
// `intentgate agents register | suspend | resume` publish operator-signed entries, the context
// feeder applies them, decisions follow; an entry nobody trusted signed changes nothing.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Intent } from '@intentgate/contracts';
import { ContextStore } from '@intentgate/context';
import { ContextFeeder, publishRegistration, readRegistry } from '@intentgate/decision';
import { generateSigningKey, generateTrustMaterial, issueDelegation, issueSvid, jwksOf, type Jwks, type SigningKey } from '@intentgate/evidence';
import { AgentClient } from '@intentgate/sdk';
import { connection, decisionWorker, eventually, LIES, registerAgents, testBus, testLogger, testTrust, type Lie } from '@intentgate/test';

const TD = 'lies.int.test';
const OTHER = `spiffe://${TD}/agents/trusted-colleague`;
const bus = testBus();
const stoppers: Array<() => Promise<unknown>> = [];
let idKey: SigningKey;
let agent: AgentClient;
let labels: ContextStore;

async function credentialsFor(intent: Intent, lie?: Lie): Promise<Intent> {
  const grantTo = lie?.identity === 'names-another-agent' ? OTHER : intent.subject.id;
  const scope = lie?.identity === 'wider-scope-than-tokens' ? ['data:data.query'] : ['*'];
  const link = await issueDelegation(idKey, TD, { delegator: 'alice@example.org', delegatorKind: 'human', delegate: grantTo, delegateKind: 'agent', scope, jti: randomUUID() });
  return { ...intent, credentials: { svid: await issueSvid(idKey, grantTo), delegation: [link] } };
}

beforeAll(async () => {
  idKey = await generateSigningKey(`${TD}-1`);
  const trust = new Map<string, Jwks>([[TD, jwksOf([idKey])]]);
  const worker = await decisionWorker(bus, 'lies', { identity: { trust, maxDepth: 4 } });
  stoppers.push(() => worker.stop());
  agent = await AgentClient.connect({ ...connection('agent-platform'), trust: { roots: (await testTrust()).roots } });
  stoppers.push(() => agent.close());
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
    if (lie.store.label) await labels.labelResource(intent.resource.type, resource, lie.store.label.sensitivity, lie.store.label.environment);
    const decision = await agent.decide(await credentialsFor(intent, lie), 30_000);
    expect(lie.verdicts, JSON.stringify(decision.reasons)).toContain(decision.verdict);
    for (const code of lie.codes) expect(decision.reasons.map((r) => r.code)).toContain(code);
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
});
