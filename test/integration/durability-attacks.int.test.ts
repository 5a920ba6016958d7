// The claim store epoch, the context feeder's restore from receipts, the resource catalog and
// bounded admission, attacked as an outside client holding the credentials the threat model gives
// it (agent-platform; an executor's or gateway's; a receipts writer). Each test asserts the safe
// behaviour; the attacks that first got through (an open transaction stopping the restore short, a
// producer's timestamp steering admission, one client's OVERLOADED holding back every client, a
// gateway's Redis user rewriting another domain's claims or epoch, a same-revision label leaving
// staging, two resources sharing a catalog key) are what their fixes are tested by.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Kafka } from 'kafkajs';
import { Redis } from 'ioredis';
import { ResourceLabel, resourceLabelKey, type Decision, type Intent } from '@intentgate/contracts';
import { exampleIntent, exampleOf } from '@intentgate/contracts/examples';
import { digestOf, generateSigningKey, jwksOf, withSignature, type Jwks, type SigningKey } from '@intentgate/evidence';
import { startStandaloneRedis, type StandaloneServer } from '@intentgate/infra';
import { ContextStore } from '@intentgate/context';
import { ContextFeeder, publishLabel, publishRegistration, readLabels } from '@intentgate/decision';
import { AgentClient, WarrantGuard } from '@intentgate/sdk';
import {
  approvedIntentSignedBy, connection, decisionWorker, eventually, saslFor, serviceTrust, stack, testBus, testLogger, testTrust,
} from '@intentgate/test';

const bus = testBus();
const stoppers: Array<() => Promise<unknown>> = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  await bus.registerSchemas();
});

afterAll(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => {});
  await bus.close();
});

/** Writes an intent to `intents` as the agent platform, with a Kafka CreateTime of the attacker's choosing. */
async function produceIntentAt(intent: Intent, timestampMs: number): Promise<void> {
  const agentBus = testBus(`agent-raw-${randomUUID().slice(0, 8)}`, 'agent-platform');
  try {
    const value = await agentBus.serde.encode('intents', intent);
    const producer = agentBus.kafka.producer();
    await producer.connect();
    try {
      await producer.send({ topic: 'intents', acks: -1, messages: [{ key: intent.session.id, value, timestamp: String(timestampMs) }] });
    } finally {
      await producer.disconnect();
    }
  } finally {
    await agentBus.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 4. Admission (first in the file: its worker reads `intents` from the beginning, so it must be empty)
// ---------------------------------------------------------------------------------------------
describe('attack-18 admission: OVERLOADED only ever denies, and one client cannot stop the others', () => {
  it('SAFE: a producer\'s CreateTime cannot make an intent look old (intents is stamped at append), and no client is held back by another\'s shed intent', async () => {
    const { roots } = await testTrust();
    const worker = await decisionWorker(bus, 'attack18-admission');
    const attacker = await AgentClient.connect({ ...connection('agent-platform'), trust: { roots } });
    const victim = await AgentClient.connect({ ...connection('agent-platform'), trust: { roots } });
    try {
      // Warm both clients (their decisions consumers join) with an ordinary intent each.
      await victim.decide(exampleIntent(), 30_000);
      await attacker.decide(exampleIntent(), 30_000);
      // The attacker stamps its intents 60 s, and 56 years, in the past: the broker's append time replaces both.
      for (const at of [Date.now() - 60_000, 0]) {
        const forged = exampleIntent();
        const awaited = attacker.awaitDecision(forged.intent_id, 30_000);
        await produceIntentAt(forged, at);
        const decided = await awaited;
        expect(decided.reasons[0]?.code).not.toBe('OVERLOADED');
        expect(decided.policy).not.toBeNull(); // evaluated
      }
      // And the victim, another platform's client, is never held back by what was decided for someone else.
      const answer = await victim.decide(exampleIntent(), 30_000);
      expect(answer.reasons[0]?.code).not.toBe('OVERLOADED');
      expect(answer.policy).not.toBeNull();
    } finally {
      await Promise.all([attacker.close(), victim.close()]);
      await worker.stop();
    }
  });

  it('SAFE: an intent that waited past decisionLagBoundMs is denied OVERLOADED even when its producer stamped it with a future CreateTime', async () => {
    const { roots } = await testTrust();
    const client = await AgentClient.connect({ ...connection('agent-platform'), trust: { roots } });
    try {
      const honest = exampleIntent();
      const future = exampleIntent();
      const honestDecision = client.awaitDecision(honest.intent_id, 60_000);
      const futureDecision = client.awaitDecision(future.intent_id, 60_000);
      // No worker runs: both wait in `intents` past the 3 s bound of the worker started below.
      await produceIntentAt(honest, Date.now());
      await produceIntentAt(future, Date.now() + 3_600_000);
      await sleep(4_500);
      const worker = await decisionWorker(bus, 'attack18-lag', { admission: { decisionLagBoundMs: 3_000 } });
      try {
        expect(await honestDecision).toMatchObject({ reasons: [{ code: 'OVERLOADED' }] });
        const f = await futureDecision;
        expect(f.reasons[0]?.code).toBe('OVERLOADED');
      } finally {
        await worker.stop();
      }
    } finally {
      await client.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 1. The claim store epoch, and what an enforcement point's Redis user may write
// ---------------------------------------------------------------------------------------------
describe('attack-18 claim store: an executor\'s or gateway\'s Redis credential cannot make the store forget', () => {
  const ISSUER = 'attack18-decision';
  let key: SigningKey;
  let jwks: Jwks;
  let guard: WarrantGuard;
  let executorRedis: Redis;
  let attackerRedis: Redis;
  let admin: Redis;

  beforeAll(async () => {
    key = await generateSigningKey('attack18-warrant');
    jwks = jwksOf([key]);
    executorRedis = new Redis(connection('executor-data').redisUrl);
    // The attacker holds the MCP gateway's credential (the agent-facing front door), not the data executor's.
    attackerRedis = new Redis(connection('mcp-gateway').redisUrl);
    admin = new Redis(connection('provisioner').redisUrl);
    guard = new WarrantGuard(executorRedis, { issuer: ISSUER, domain: 'data', holder: 'attack18-executor-data', jwks, clockSkewMs: 1_000 });
    const epoch = await guard.epoch();
    await sleep(Math.max(0, epoch + 2_000 - Date.now()));
  });
  afterAll(async () => {
    await Promise.all([executorRedis.quit(), attackerRedis.quit(), admin.quit()]);
  });

  it('SAFE: a claimed warrant stays claimed when the MCP gateway\'s Redis user rewrites its claim keys (SET … PX 1)', async () => {
    const approved = await approvedIntentSignedBy(key, ISSUER);
    const claims = await guard.verify(approved.intent, approved.decision, approved.warrant);
    expect(await guard.claim(claims)).toBeNull(); // the data executor runs it once
    const attempts: string[] = [];
    for (const k of [`ig:claim:data:warrant:${claims.jti}`, `ig:claim:data:executed:${claims.sub}`]) {
      attempts.push(await attackerRedis.set(k, 'forgotten', 'PX', 1).then((r) => `${k}: ${r}`, (e: Error) => `${k}: ${e.message}`));
    }
    await sleep(50);
    console.log(`[attack-18] mcp-gateway user on the data executor's claim keys: ${attempts.join('; ')}`);
    // SAFE: the second claim of the same warrant is refused.
    expect(await guard.claim(claims)).toMatchObject({ code: 'WARRANT_REUSED' });
  });

  it('SAFE: after the store lost its data, the MCP gateway\'s Redis user cannot move the epoch backwards to get a pre-loss warrant claimed again', async () => {
    const approved = await approvedIntentSignedBy(key, ISSUER);
    const claims = await guard.verify(approved.intent, approved.decision, approved.warrant);
    expect(await guard.claim(claims)).toBeNull(); // ran before the loss
    // The store loses its data (as the provisioner: this warrant's claims and the epoch).
    await admin.del(`ig:claim:data:warrant:${claims.jti}`, `ig:claim:data:executed:${claims.sub}`, 'ig:claim:data:epoch');
    const newEpoch = await guard.epoch();
    expect(await guard.claim(claims)).toMatchObject({ code: 'CLAIM_STORE_RESET' }); // the mechanism works
    const set = await attackerRedis.set('ig:claim:data:epoch', '0').then((r) => String(r), (e: Error) => e.message);
    console.log(`[attack-18] mcp-gateway user SET ig:claims:epoch 0: ${set}`);
    try {
      // SAFE: still refused.
      expect(await guard.claim(claims)).toMatchObject({ code: 'CLAIM_STORE_RESET' });
    } finally {
      await admin.set('ig:claim:data:epoch', String(newEpoch));
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 3. The resource catalog
// ---------------------------------------------------------------------------------------------
describe('attack-18 resource catalog: only operator-signed labels, newest revision, stricter on a tie', () => {
  let redis: StandaloneServer;
  let probe: ContextStore;
  let feeder: ContextFeeder;
  let operatorBus: ReturnType<typeof testBus>;

  beforeAll(async () => {
    const { roots } = await testTrust();
    redis = await startStandaloneRedis();
    stoppers.push(() => redis.stop());
    const feederStore = new ContextStore({ redisUrl: redis.url, freshnessMs: 5_000 });
    const feederBus = testBus(`feeder-${randomUUID().slice(0, 8)}`, 'context-feeder');
    operatorBus = testBus(`intentgate-operator-a18-${randomUUID().slice(0, 8)}`, 'operator');
    feeder = await ContextFeeder.start({ bus: feederBus, store: feederStore, trust: roots, logger: testLogger(), freshnessMs: 5_000 });
    probe = new ContextStore({ redisUrl: redis.url, freshnessMs: 5_000 });
    await probe.connect();
    stoppers.push(() => feeder.stop(), () => feederStore.close(), () => feederBus.close(), () => operatorBus.close(), () => probe.close());
  });

  /** A signed label with a revision of the test's choosing (what two operators at once, or a replay, put on the topic). */
  async function signedLabel(label: Omit<ResourceLabel, 'changed_at' | 'changed_by' | 'signature'>, signer?: SigningKey): Promise<ResourceLabel> {
    const operator = signer ?? (await testTrust()).operator;
    return withSignature(operator, 'ResourceLabel', ResourceLabel.parse({
      ...label, changed_at: new Date().toISOString(), changed_by: `operator:${operator.kid}`, signature: 'a.b.c',
    }) as unknown as Record<string, unknown>) as unknown as ResourceLabel;
  }
  let labelProducer: ReturnType<typeof bus.producer> | null = null;
  const writeLabel = (label: ResourceLabel) => (labelProducer ??= bus.producer()).send({ topic: 'resources.labels', key: resourceLabelKey(label), value: label });

  it('unsigned labels and labels signed by a non-operator key are refused; an older signed label replayed does not declassify', async () => {
    const id = `billing.a18-${randomUUID().slice(0, 6)}`;
    const { operator } = await testTrust();
    const v1 = await publishLabel(operatorBus, { type: 'table', id, sensitivity: 'public', reason: 'first' }, operator, undefined);
    const v2 = await publishLabel(operatorBus, { type: 'table', id, sensitivity: 'restricted', reason: 'second' }, operator, v1);
    let labels: Awaited<ReturnType<ContextStore['resourceLabels']>> = { sensitivity: null, environment: null, revision: null };
    await eventually(() => labels.revision === 2, 'revision 2 applied', 30_000, async () => {
      labels = await probe.resourceLabels('table', id);
    });
    const refusedBefore = feeder.counts.refused;
    // (a) unsigned, higher revision: the signature field of another label, so it parses
    const unsigned = { ...v2, revision: 9, sensitivity: 'public' as const, signature: v1.signature };
    // (b) signed by the decision worker's certified key (a key the roots know, but not an operator's)
    const decisionKey = (await serviceTrust('decision')).signer.key;
    const wrongKey = await signedLabel({ type: 'table', id, sensitivity: 'public', revision: 10, reason: 'not an operator' }, decisionKey);
    // (c) a fresh key nobody configured
    const stranger = await signedLabel({ type: 'table', id, sensitivity: 'public', revision: 11, reason: 'stranger' }, await generateSigningKey('stranger'));
    for (const l of [unsigned, wrongKey, stranger]) await writeLabel(l);
    // (d) the older operator-signed label, replayed
    await writeLabel(v1);
    await eventually(() => feeder.counts.refused >= refusedBefore + 3, 'three labels refused', 30_000);
    await sleep(1_000);
    expect(await probe.resourceLabels('table', id)).toMatchObject({ sensitivity: 'restricted', revision: 2 });
  });

  it('SAFE: two operator-signed labels under one revision leave the stricter environment (production) as well as the stricter sensitivity', async () => {
    const id = `payments-a18-${randomUUID().slice(0, 6)}`;
    const first = await signedLabel({ type: 'service', id, sensitivity: 'internal', environment: 'production', revision: 1, reason: 'operator one' });
    const second = await signedLabel({ type: 'service', id, sensitivity: 'confidential', environment: 'staging', revision: 1, reason: 'operator two' });
    await writeLabel(first);
    let labels: Awaited<ReturnType<ContextStore['resourceLabels']>> = { sensitivity: null, environment: null, revision: null };
    await eventually(() => labels.revision === 1, 'the first label applied', 30_000, async () => {
      labels = await probe.resourceLabels('service', id);
    });
    await writeLabel(second);
    await eventually(() => labels.sensitivity === 'confidential', 'the second (stricter sensitivity) applied', 30_000, async () => {
      labels = await probe.resourceLabels('service', id);
    });
    console.log(`[attack-18] same-revision labels {internal, production} then {confidential, staging}: store holds ${JSON.stringify(labels)}`);
    // SAFE: the tie may raise the sensitivity, but never take the resource out of production.
    expect(labels.environment).toBe('production');
  });

  it('SAFE: a label for ("table", "x/y") and one for ("table/x", "y") are two resources on the catalog topic too (distinct compaction keys, each shown by `resources show`)', async () => {
    const { operator } = await testTrust();
    const n = randomUUID().slice(0, 6);
    const a = { type: 'table', id: `a18${n}/ledger` };
    const b = { type: `table/a18${n}`, id: 'ledger' };
    const la = await publishLabel(operatorBus, { ...a, sensitivity: 'restricted', reason: 'the real table' }, operator, undefined);
    // The CLI's `resources label` for b looks up b's previous label by its topic key, as here.
    const before = await readLabels(operatorBus, (await testTrust()).roots, { groupPrefix: 'intentgate-operator-' });
    const previousOfB = before.get(resourceLabelKey(b));
    const lb = await publishLabel(operatorBus, { ...b, sensitivity: 'public', reason: 'another resource' }, operator, previousOfB);
    let sa: Awaited<ReturnType<ContextStore['resourceLabels']>> = { sensitivity: null, environment: null, revision: null };
    let sb = sa;
    await eventually(() => sa.sensitivity !== null && sb.sensitivity !== null, 'both labels applied', 30_000, async () => {
      [sa, sb] = await Promise.all([probe.resourceLabels(a.type, a.id), probe.resourceLabels(b.type, b.id)]);
    });
    // The context store keeps them apart (its key encodes type and id).
    expect(sa).toMatchObject({ sensitivity: 'restricted' });
    expect(sb).toMatchObject({ sensitivity: 'public' });
    const after = await readLabels(operatorBus, (await testTrust()).roots, { groupPrefix: 'intentgate-operator-' });
    console.log(`[attack-18] topic keys: a=${resourceLabelKey(la)} b=${resourceLabelKey(lb)}; b published as revision ${lb.revision} (its "previous" was ${previousOfB ? `${previousOfB.type}|${previousOfB.id}` : 'none'}); readLabels(a) = ${JSON.stringify(after.get(resourceLabelKey(a)) && { type: after.get(resourceLabelKey(a))!.type, id: after.get(resourceLabelKey(a))!.id, sensitivity: after.get(resourceLabelKey(a))!.sensitivity })}`);
    // SAFE: distinct resources have distinct keys on the compacted topic (else compaction keeps only
    // the newer, and a store replayed after a loss loses the restricted label), and the catalog as
    // the CLI reads it shows a's own label.
    expect(resourceLabelKey(la)).not.toBe(resourceLabelKey(lb));
    expect(after.get(resourceLabelKey(a))).toMatchObject({ type: a.type, id: a.id, sensitivity: 'restricted' });
  });
});

// ---------------------------------------------------------------------------------------------
// 2. The context feeder's restore from receipts
// ---------------------------------------------------------------------------------------------
describe('attack-18 restore: what a receipts writer can do to decision memory and budgets after a Redis loss', () => {
  let rigStoppers: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    // Each rig's worker and feeder stop with its test: a worker left running decides every later intent too.
    for (const stop of rigStoppers.reverse()) await stop().catch(() => {});
    rigStoppers = [];
  });
  async function restoreRig(name: string) {
    const stoppers = rigStoppers;
    const { roots, operator } = await testTrust();
    const redis = await startStandaloneRedis();
    stoppers.push(() => redis.stop());
    const feederStore = new ContextStore({ redisUrl: redis.url, freshnessMs: 2_000 });
    const feederBus = testBus(`feeder-${randomUUID().slice(0, 8)}`, 'context-feeder');
    const operatorBus = testBus(`intentgate-operator-a18-${randomUUID().slice(0, 8)}`, 'operator');
    stoppers.push(() => feederStore.close(), () => feederBus.close(), () => operatorBus.close());
    const agentId = `spiffe://example.org/agents/a18-${name}-${randomUUID().slice(0, 8)}`;
    await publishRegistration(operatorBus, { agent: agentId, owner: 'alice@example.org', autonomy: 'assisted', domains: ['data'], actions: ['*'], status: 'active', reason: 'test' }, operator, undefined);
    const table = `billing.a18-${randomUUID().slice(0, 6)}`;
    await publishLabel(operatorBus, { type: 'table', id: table, sensitivity: 'confidential', reason: 'test' }, operator, undefined);
    const feeder = await ContextFeeder.start({ bus: feederBus, store: feederStore, trust: roots, logger: testLogger(), freshnessMs: 2_000 });
    stoppers.push(() => feeder.stop());
    // Not about admission: the lag bound is off, so the earlier tests' intents, read again from the
    // topic's beginning by this worker's new group, do not make OVERLOADED decisions.
    const worker = await decisionWorker(bus, `a18-${name}`, { redisUrl: redis.url, contextFreshnessMs: 2_000, admission: { decisionLagBoundMs: 0 } });
    stoppers.push(() => worker.stop());
    const agent = await AgentClient.connect({ ...connection('agent-platform'), trust: { roots } });
    stoppers.push(() => agent.close());
    const probe = new ContextStore({ redisUrl: redis.url, freshnessMs: 2_000 });
    stoppers.push(() => probe.close());
    const session = `a18-${name}-${randomUUID()}`;
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
    const loseAndRestore = async () => {
      const restoredBefore = feeder.counts.replays;
      await redis.kill();
      await redis.restart({ empty: true });
      await eventually(() => feeder.counts.replays > restoredBefore, 'the feeder noticed the loss', 60_000);
      let synced: string | null = null;
      await eventually(() => synced !== null, 'the store restored and marked synced', 120_000, async () => {
        synced = await probe.redis.get('ig:context:synced_at').catch(() => null);
      });
      await sleep(500);
    };
    return { redis, feeder, worker, agent, probe, exportOf, loseAndRestore, session, agentId };
  }

  it('SAFE: decisions no decider signed (an executor\'s own certified key, no signature, a tampered input) restore nothing', async () => {
    const rig = await restoreRig('forged');
    // The attacker holds an executor's credentials: it may write receipts, and its key is certified (for receipts).
    const executorBus = testBus(`executor-a18-${randomUUID().slice(0, 8)}`, 'executor-data');
    stoppers.push(() => executorBus.close());
    const executorSigner = (await serviceTrust('executor')).signer;
    const target = rig.exportOf(5_000); // over the 1,000-row budget: policy denies it
    const forgedAllow: Decision = {
      ...exampleOf('Decision'), decision_id: randomUUID(), intent_id: target.intent_id, intent_digest: digestOf(target),
      verdict: 'allow', final: true, decided_at: new Date().toISOString(),
    };
    const { signature: _s, ...unsignedAllow } = forgedAllow as Decision & { signature?: string };
    const bySigner = withSignature(executorSigner.key, 'Decision', unsignedAllow as unknown as Record<string, unknown>, executorSigner.certificate);
    const receiptOf = (decision: unknown) => withSignature(executorSigner.key, 'Receipt', {
      receipt_id: randomUUID(), kind: 'decision', intent_id: target.intent_id, body: { decision, input: null },
      producer: executorSigner.principal, produced_at: new Date().toISOString(),
    }, executorSigner.certificate);
    const producer = executorBus.producer();
    await producer.sendMany([bySigner, unsignedAllow].map((d) => ({ topic: 'receipts', key: target.intent_id, value: receiptOf(d) })));

    // A real allow, then a copy of its receipt whose recorded input says 1 row (bound by input_digest: it must not count as 1).
    const spent = rig.exportOf(600);
    const real = await rig.agent.decide(spent);
    expect(real).toMatchObject({ verdict: 'allow' });
    const { credentials: _c, ...recorded } = spent;
    const tampered = withSignature(executorSigner.key, 'Receipt', {
      receipt_id: randomUUID(), kind: 'decision', intent_id: spent.intent_id,
      body: { decision: real, input: { intent: { ...recorded, context: { rows: 1 } } } },
      producer: executorSigner.principal, produced_at: new Date().toISOString(),
    }, executorSigner.certificate);
    await producer.send({ topic: 'receipts', key: spent.intent_id, value: tampered });

    const unverifiedBefore = rig.feeder.counts.unverified;
    await rig.loseAndRestore();
    expect(rig.feeder.counts.unverified).toBeGreaterThanOrEqual(unverifiedBefore + 2);
    // The real decision is restored, and with it its 600 rows (the tampered copy's input is not bound by the signed input_digest).
    expect(await rig.probe.redis.get(`ig:decision:${target.intent_id}`)).toBeNull();
    const d = await rig.agent.decide(target);
    expect(d.decision_id).not.toBe(forgedAllow.decision_id);
    expect(d).toMatchObject({ verdict: 'deny' });
    expect(await rig.agent.decide(rig.exportOf(600))).toMatchObject({ verdict: 'deny', reasons: [{ code: 'EXPORT_BUDGET_EXCEEDED' }] });
  });

  it('SAFE: a receipts writer holding an open transaction (approvals\' credential, transactional id approvals-…) cannot make the restore stop short: a spent budget is still spent and a decided intent keeps its decision', async () => {
    const rig = await restoreRig('stall');
    // The attacker: the approvals service's credential. It opens a transaction on every receipts
    // partition and never ends it; read_committed readers cannot read past its first offset.
    const s = stack();
    const kafka = new Kafka({ clientId: `a18-approvals-${randomUUID().slice(0, 8)}`, brokers: s.kafka.brokers, ...saslFor('approvals'), logLevel: 0 });
    const admin = bus.kafka.admin();
    await admin.connect();
    const partitions = (await admin.fetchTopicOffsets('receipts')).map((o) => o.partition);
    await admin.disconnect();
    const txProducer = kafka.producer({ transactionalId: `approvals-a18-${randomUUID()}`, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 300_000 });
    await txProducer.connect();
    const txn = await txProducer.transaction();
    stoppers.push(async () => {
      await txn.abort().catch(() => {});
      await txProducer.disconnect();
    });
    // (aborted below, once the restore has been shown to wait for it)
    await txn.send({ topic: 'receipts', acks: -1, messages: partitions.map((partition) => ({ partition, value: Buffer.from('held open') })) });

    // The agent exports 600 of its session's 1,000 confidential rows; its receipt sits behind the open transaction.
    const spent = rig.exportOf(600);
    const first = await rig.agent.decide(spent);
    expect(first).toMatchObject({ verdict: 'allow' });

    // While the transaction is open, the restore cannot read past it: the store is not marked
    // synced, so every intent is denied CONTEXT_UNAVAILABLE rather than decided on a partial store.
    const restoredBefore = rig.feeder.counts.replays;
    await rig.redis.kill();
    await rig.redis.restart({ empty: true });
    await eventually(() => rig.feeder.counts.replays > restoredBefore, 'the feeder noticed the loss', 60_000);
    await sleep(8_000);
    let mark: string | null | undefined;
    await eventually(() => mark !== undefined, 'the probe reconnected', 30_000, async () => {
      mark = await rig.probe.redis.get('ig:context:synced_at').catch(() => undefined);
    });
    expect(mark).toBeNull();
    expect(await rig.agent.decide(rig.exportOf(1))).toMatchObject({ verdict: 'deny', reasons: [{ code: 'CONTEXT_UNAVAILABLE' }] });
    // The transaction ends (its writer aborts, or the broker times it out): the restore reads through.
    await txn.abort();
    let synced: string | null = null;
    await eventually(() => synced !== null, 'the store restored and marked synced', 120_000, async () => {
      synced = await rig.probe.redis.get('ig:context:synced_at').catch(() => null);
    });
    await sleep(500);
    const remembered = await rig.probe.redis.get(`ig:decision:${spent.intent_id}`);
    console.log(`[attack-18] decision memory of the spent intent after the restore: ${remembered === null ? 'absent' : 'present'}`);
    console.log(`[attack-18] restore behind an open transaction: ${JSON.stringify(rig.feeder.lastReadThrough)}, ${rig.feeder.counts.restored} decisions restored in all`);
    // A fresh 600-row export first (the resubmission below would count the 600 again if re-decided).
    const over = await rig.agent.decide(rig.exportOf(600));
    const again = await rig.agent.decide(spent);
    console.log(`[attack-18] after the restore: resubmitted intent ${again.decision_id === first.decision_id ? 'kept its decision' : `got a new decision (${again.verdict})`}; a second 600-row export: ${over.verdict} ${over.reasons[0]?.code}`);
    // SAFE: the store is not marked synced until the receipts are read through: the decided intent
    // keeps its decision and the spent budget is spent.
    expect.soft(again.decision_id).toBe(first.decision_id);
    expect.soft(over).toMatchObject({ verdict: 'deny', reasons: [{ code: 'EXPORT_BUDGET_EXCEEDED' }] });
  });
});
