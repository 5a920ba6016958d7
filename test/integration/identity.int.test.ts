// Workload identity on the real stack: JWT-SVIDs and delegation chains verified before policy,
// each failure its own code; a three-hop chain within scope executes; revoking a link while
// intents are in flight denies those not yet decided.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision, ExecutionResult, Intent, Receipt } from '@intentgate/contracts';
import { exampleIntent } from '@intentgate/contracts/examples';
import { ContextStore } from '@intentgate/context';
import { generateSigningKey, issueDelegation, issueSvid, jwksOf, type Jwks, type SigningKey } from '@intentgate/evidence';
import { AgentClient, ExecutorRuntime, type AgentCredentials } from '@intentgate/sdk';
import { connection, decisionWorker, eventually, serviceTrust, stack, testBus, testTrust, uniqueGroup } from '@intentgate/test';

const TD = 'acme.test';
const HUMAN = 'carol@acme.test';
const PLANNER = `spiffe://${TD}/agents/planner`;
const WORKER = `spiffe://${TD}/agents/worker`;
const SUB = `spiffe://${TD}/agents/sub-worker`;
const bus = testBus();
const stoppers: Array<() => Promise<unknown>> = [];
let key: SigningKey;
let agent: AgentClient;
let store: ContextStore;
const executed = new Map<string, ExecutionResult>();
const receipts = new Map<string, Receipt>();

async function delegation(from: string, fromKind: 'human' | 'agent', to: string, scope: string[], jti = randomUUID(), signer = key) {
  return issueDelegation(signer, TD, { delegator: from, delegatorKind: fromKind, delegate: to, delegateKind: 'agent', scope, jti });
}

/** human → planner (data:*) → worker (query, export) → sub-worker (query): three hops, narrowing. */
async function threeHops(jtis = [randomUUID(), randomUUID(), randomUUID()]): Promise<AgentCredentials> {
  return {
    svid: await issueSvid(key, SUB),
    delegation: [
      await delegation(HUMAN, 'human', PLANNER, ['data:*'], jtis[0]),
      await delegation(PLANNER, 'agent', WORKER, ['data:data.query', 'data:data.export'], jtis[1]),
      await delegation(WORKER, 'agent', SUB, ['data:data.query'], jtis[2]),
    ],
  };
}

function intent(session = `id-${randomUUID().slice(0, 8)}`): Intent {
  return {
    ...exampleIntent(),
    session: { id: session, workflow_step: 'reconcile', request_source: 'user' },
    action: { name: 'data.query', domain: 'data', reversible: true },
    resource: { type: 'table', id: 'identity.table', properties: { sensitivity: 'internal' } },
    context: {},
  };
}

beforeAll(async () => {
  const s = stack();
  key = await generateSigningKey(`${TD}-1`);
  const trust = new Map<string, Jwks>([[TD, jwksOf([key])]]);
  const service = await decisionWorker(bus, 'identity', { identity: { trust, maxDepth: 3 } });
  store = new ContextStore({ redisUrl: connection('provisioner').redisUrl, freshnessMs: 600_000 });
  await store.connect();
  stoppers.push(() => service.stop());
  agent = await AgentClient.connect({ ...connection('agent-platform'), trust: { roots: (await testTrust()).roots } });
  stoppers.push(() => agent.close());
  const executor = await ExecutorRuntime.start({
    ...connection('provisioner'), domain: 'data', executorId: 'identity-data',
    issuer: 'intentgate-decision', groupId: uniqueGroup('identity-exec'), trust: await serviceTrust('executor'), handler: async () => ({ detail: { ok: true } }),
  });
  stoppers.push(() => executor.stop());
  const watch = bus.consumer<'ExecutionResult'>({
    groupId: uniqueGroup('identity-results'), topics: ['executions'],
    handle: async (records) => { for (const r of records) executed.set(r.value.intent_id, r.value); },
  });
  await watch.start();
  stoppers.push(() => watch.stop());
  const receiptWatch = bus.consumer<'Receipt'>({
    groupId: uniqueGroup('identity-receipts'), topics: ['receipts'],
    handle: async (records) => { for (const r of records) if (r.value.kind === 'decision' && r.value.intent_id) receipts.set(r.value.intent_id, r.value); },
  });
  await receiptWatch.start();
  stoppers.push(() => receiptWatch.stop());
}, 600_000);

afterAll(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => {});
  await store?.close();
  await bus.close();
});

describe('identity', () => {
  it('a three-hop chain within scope is allowed and executes; the receipt records the verified chain', async () => {
    const i = intent();
    const decision = await agent.decide(i, 30_000, await threeHops());
    expect(decision).toMatchObject({ verdict: 'allow' });
    await eventually(() => executed.has(i.intent_id), 'the execution');
    expect(executed.get(i.intent_id)!.status).toBe('executed');
    await eventually(() => receipts.has(i.intent_id), 'the decision receipt');
    const identity = (receipts.get(i.intent_id)!.body as { input: { identity: { subject: string; chain: Array<{ principal: string; scope: string[]; key_id: string | null }> } } }).input.identity;
    expect(identity.subject).toBe(SUB);
    expect(identity.chain.map((h) => h.principal)).toEqual([HUMAN, PLANNER, WORKER, SUB]);
    expect(identity.chain.map((h) => h.scope)).toEqual([['data:*'], ['data:data.query', 'data:data.export'], ['data:data.query'], ['data:data.query']]);
    expect(identity.chain.slice(1).every((h) => h.key_id === key.kid)).toBe(true);
  });

  const deniedWith = async (credentials: AgentCredentials, code: string, adjust: (x: Intent) => Intent = (x) => x) => {
    const { withCredentials } = await import('@intentgate/sdk');
    const decision = await agent.decide(adjust(withCredentials(intent(), credentials)));
    expect(decision, code).toMatchObject({ verdict: 'deny', reasons: [{ code, rule: 'intentgate.identity' }], policy: null });
    return decision;
  };

  it('a forged SVID signature, an expired SVID and a wrong audience each deny with their own code', async () => {
    const good = await threeHops();
    const forger = await generateSigningKey(`${TD}-1`);
    await deniedWith({ ...good, svid: await issueSvid(forger, SUB) }, 'SVID_BAD_SIGNATURE');
    await deniedWith({ ...good, svid: await issueSvid(key, SUB, 60, Math.floor(Date.now() / 1000) - 3600) }, 'SVID_EXPIRED');
    const { SignJWT } = await import('jose');
    const wrongAud = await new SignJWT({}).setProtectedHeader({ alg: 'EdDSA', kid: key.kid }).setSubject(SUB).setAudience('not-intentgate')
      .setExpirationTime(Math.floor(Date.now() / 1000) + 300).sign(key.privateKey);
    await deniedWith({ ...good, svid: wrongAud }, 'SVID_WRONG_AUDIENCE');
  });

  it('a scope-widening hop, a chain over the maximum depth, a subject mismatch and a misstated chain each deny with their own code', async () => {
    const good = await threeHops();
    const widened = [good.delegation[0]!, good.delegation[1]!, await delegation(WORKER, 'agent', SUB, ['data:data.delete'])];
    await deniedWith({ ...good, delegation: widened }, 'DELEGATION_SCOPE_WIDENED');
    const deep = [await delegation(HUMAN, 'human', `spiffe://${TD}/agents/root`, ['*']), await delegation(`spiffe://${TD}/agents/root`, 'agent', HUMAN, ['*']), ...good.delegation];
    await deniedWith({ ...good, delegation: deep }, 'DELEGATION_TOO_DEEP');
    await deniedWith(good, 'SUBJECT_MISMATCH', (x) => ({ ...x, subject: { ...x.subject, id: WORKER } }));
    await deniedWith(good, 'DELEGATION_MISMATCH', (x) => ({ ...x, delegation: x.delegation.map((h) => ({ ...h, scope: ['*'] })) }));
  });

  it('a revoked middle link denies at once', async () => {
    const jtis = [randomUUID(), randomUUID(), randomUUID()];
    const creds = await threeHops(jtis);
    expect((await agent.decide(intent(), 30_000, creds)).verdict).toBe('allow');
    await store.revoke(jtis[1]!);
    try {
      await deniedWith(creds, 'DELEGATION_REVOKED');
    } finally {
      await store.unrevoke(jtis[1]!);
    }
  });

  it('revoking a link while intents are in flight denies those not yet decided', async () => {
    const jtis = [randomUUID(), randomUUID(), randomUUID()];
    const creds = await threeHops(jtis);
    const { withCredentials } = await import('@intentgate/sdk');
    const intents = Array.from({ length: 200 }, () => withCredentials(intent(`flight-${randomUUID().slice(0, 8)}`), creds));
    const decisions = new Map<string, Decision>();
    const waits = intents.map((i) => agent.awaitDecision(i.intent_id, 120_000).then((d) => decisions.set(i.intent_id, d)));
    let revokedAt = 0;
    let revokeStartedAt = 0;
    for (let k = 0; k < intents.length; k += 10) {
      await Promise.all(intents.slice(k, k + 10).map((i) => agent.submit(i)));
      if (!revokedAt && k >= 60) {
        await eventually(() => decisions.size >= 20, 'some decisions before the revocation');
        // The revocation takes effect somewhere inside this await: "before" is before it began.
        revokeStartedAt = Date.now();
        await store.revoke(jtis[1]!);
        revokedAt = Date.now();
      }
      // Slower after the revocation, so some intents are still undecided well after it.
      await new Promise((r) => setTimeout(r, revokedAt ? 120 : 30));
    }
    await Promise.all(waits);
    await store.unrevoke(jtis[1]!);
    const all = [...decisions.values()];
    const before = all.filter((d) => Date.parse(d.decided_at) < revokeStartedAt);
    // A batch reads its context once, so allow a moment for the batch in hand at the revocation.
    const after = all.filter((d) => Date.parse(d.decided_at) > revokedAt + 1_000);
    expect(before.length).toBeGreaterThan(0);
    expect(before.filter((d) => d.verdict !== 'allow').map((d) => `${d.decided_at} ${d.reasons[0]!.code}`), `revocation began at ${new Date(revokeStartedAt).toISOString()}`).toEqual([]);
    expect(after.length).toBeGreaterThan(0);
    expect(after.map((d) => d.reasons[0]!.code).filter((c) => c !== 'DELEGATION_REVOKED')).toEqual([]);
  });
});
