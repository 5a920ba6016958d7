// The bus has doors: on the local stack (SASL/SCRAM, ACLs from the access catalog, Redis ACL
// users), a client holding an agent platform's credentials may write `intents` and read
// `decisions`, and the broker refuses everything else with a typed, non-retriable BusError.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bus, BusError, type BusConsumer } from '@intentgate/bus';
import { ContextStore, CONTEXT_FUNCTIONS } from '@intentgate/context';
import { ACCESS, roleSpec, TOPICS, topicSpec, type Decision, type MessageName } from '@intentgate/contracts';
import { exampleIntent, exampleOf } from '@intentgate/contracts/examples';
import { AgentClient, CLAIM_FUNCTIONS } from '@intentgate/sdk';
import { withSignature } from '@intentgate/evidence';
import { connection, serviceTrust, stack, testLogger, testTrust } from '@intentgate/test';

const AGENT = roleSpec('agent-platform');
const others = (allowed: readonly string[]) => TOPICS.map((t) => t.name).filter((name) => !allowed.includes(name));

function busAs(sasl: ConstructorParameters<typeof Bus>[0]['sasl'] | undefined, clientId: string): Bus {
  const { brokers, registryUrl } = connection('provisioner');
  return new Bus({ brokers, ...(sasl ? { sasl } : {}), registryUrl, clientId, logger: testLogger() });
}

/** What a call threw (it must throw): the assertions below name the exact code. */
async function refusal(call: () => Promise<unknown>): Promise<BusError> {
  const err = await call().then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(BusError);
  return err as BusError;
}

const buses: Bus[] = [];
function track(bus: Bus): Bus {
  buses.push(bus);
  return bus;
}

beforeAll(() => {
  // These tests are about the local stack's doors; a stack from the environment without credentials has none.
  expect(stack().credentials, 'the test stack runs with credentials (SASL and ACLs)').not.toBeNull();
});

afterAll(async () => {
  await Promise.all(buses.map((b) => b.close().catch(() => {})));
});

describe('the access catalog on the broker', () => {
  it('an agent platform may write only intents: every other topic of the catalog is refused with NOT_AUTHORIZED', async () => {
    const refusedTopics = others(AGENT.kafka.produce);
    expect(refusedTopics).toEqual(expect.arrayContaining(['decisions', 'warrant.keys', 'policy.bundles', 'policy.activations', 'approvals.requests', 'receipts', 'intents.approved.app', 'identity.revocations', 'ledger.checkpoints', 'bus.dlq']));
    for (const topic of refusedTopics) {
      // A producer of its own per topic: a refused send leaves nothing behind for the next one.
      const bus = track(busAs(connection('agent-platform').sasl, `access-agent-${topic}`));
      const value = exampleOf(topicSpec(topic).value as MessageName);
      const err = await refusal(() => bus.producer({ lingerMs: 1 }).send({ topic, key: 'k', value }));
      expect(err, topic).toMatchObject({ code: 'NOT_AUTHORIZED', retriable: false });
      expect(err.message).toContain(`User:agent-platform may not write to topic ${topic}`);
      expect(err.hint).toContain('npm run provision');
      await bus.close();
    }
  });

  it('an agent platform may read only decisions: subscribing to any other topic fails its start with NOT_AUTHORIZED', async () => {
    const bus = track(busAs(connection('agent-platform').sasl, 'access-agent-reader'));
    for (const topic of others(AGENT.kafka.consume)) {
      const consumer = bus.consumer({ groupId: `intentgate-agent-agent-platform-${randomUUID()}`, topics: [topic], handle: async () => {} });
      const err = await refusal(() => consumer.start());
      expect(err, topic).toMatchObject({ code: 'NOT_AUTHORIZED', retriable: false });
      expect(err.message).toContain(`User:agent-platform may not read topic ${topic}`);
      await consumer.stop();
    }
  });

  it('an agent platform may not use a consumer group outside its prefix, nor a transaction', async () => {
    const bus = track(busAs(connection('agent-platform').sasl, 'access-agent-group'));
    const consumer = bus.consumer({ groupId: `intentgate-decision-${randomUUID()}`, topics: ['decisions'], handle: async () => {} });
    const group = await refusal(() => consumer.start());
    expect(group).toMatchObject({ code: 'NOT_AUTHORIZED', retriable: false });
    expect(group.message).toMatch(/User:agent-platform may not read consumer group intentgate-decision-/);
    expect(group.message).toContain('GROUP_AUTHORIZATION_FAILED');
    await consumer.stop();
    const txn = await refusal(() => bus.sendAtomically([{ topic: 'intents', key: 's', value: exampleIntent() }]));
    expect(txn).toMatchObject({ code: 'NOT_AUTHORIZED', retriable: false });
    expect(txn.message).toContain('TRANSACTIONAL_ID_AUTHORIZATION_FAILED');
  });

  it('an agent platform submits an intent and reads its decision (the decision role reading intents and writing decisions)', async () => {
    const agent = await AgentClient.connect({ ...connection('agent-platform'), trust: { roots: (await testTrust()).roots }, clientId: 'access-agent', logger: testLogger() });
    const decision = track(busAs(connection('decision').sasl, 'access-decision'));
    const intent = { ...exampleIntent(), intent_id: randomUUID(), session: { ...exampleIntent().session, id: `access-${randomUUID()}` } };
    const seen: string[] = [];
    const reader: BusConsumer<'Intent'> = decision.consumer<'Intent'>({
      groupId: `intentgate-decision-access-${randomUUID()}`, topics: ['intents'],
      handle: async (records) => {
        for (const r of records) seen.push(r.value.intent_id);
      },
    });
    await reader.start();
    try {
      const answer = agent.awaitDecision(intent.intent_id, 60_000);
      await agent.submit(intent);
      await expect.poll(() => seen.includes(intent.intent_id), { timeout: 60_000, interval: 100 }).toBe(true);
      const final: Decision = { ...exampleOf('Decision'), intent_id: intent.intent_id, decision_id: randomUUID(), verdict: 'deny', final: true, reasons: [{ code: 'TEST', rule: 'access.test', message: 'access test' }] };
      delete (final as { warrant?: string }).warrant;
      delete (final as { signature?: string }).signature;
      // Signed as the decision worker signs, its certificate in the signature (agents take no other decision).
      const { signer } = await serviceTrust('decision');
      await decision.producer({ lingerMs: 1 }).send({ topic: 'decisions', key: intent.session.id, value: withSignature(signer.key, 'Decision', final, signer.certificate) });
      expect(await answer).toMatchObject({ intent_id: intent.intent_id, decision_id: final.decision_id, verdict: 'deny', final: true });
    } finally {
      await reader.stop();
      await agent.close();
    }
  });

  it('a wrong password is AUTHENTICATION_FAILED, for a producer and for a consumer', async () => {
    const wrong = { ...connection('agent-platform').sasl!, password: 'not-the-password' };
    const bus = track(busAs(wrong, 'access-wrong-password'));
    const send = await refusal(() => bus.producer({ lingerMs: 1 }).send({ topic: 'intents', key: 's', value: exampleIntent() }));
    expect(send).toMatchObject({ code: 'AUTHENTICATION_FAILED', retriable: false });
    expect(send.message).toContain('User:agent-platform');
    const consumer = bus.consumer({ groupId: `intentgate-agent-agent-platform-${randomUUID()}`, topics: ['decisions'], handle: async () => {} });
    expect(await refusal(() => consumer.start())).toMatchObject({ code: 'AUTHENTICATION_FAILED', retriable: false });
    await consumer.stop();
  });

  it('a client without credentials is refused: AUTHENTICATION_FAILED, not a broker that seems down', async () => {
    const bus = track(busAs(undefined, 'access-anonymous'));
    const err = await refusal(() => bus.producer({ lingerMs: 1 }).send({ topic: 'intents', key: 's', value: exampleIntent() }));
    expect(err).toMatchObject({ code: 'AUTHENTICATION_FAILED', retriable: false });
    expect(err.message).toContain('requires authentication (SASL)');
  });

  it('provisioning the ACLs again creates none (idempotent) and every role has its bindings', async () => {
    const admin = track(busAs(connection('provisioner').sasl, 'access-provisioner'));
    const report = await admin.provisionAcls();
    expect(report.created).toBe(0);
    for (const spec of ACCESS.filter((r) => !r.superUser && r.kafka.produce.length + r.kafka.consume.length > 0)) {
      expect(report.bindings.some((b) => b.principal === `User:${spec.role}`), spec.role).toBe(true);
    }
  });
});

describe('the access catalog in Redis', () => {
  const clients: Redis[] = [];
  const as = (role: Parameters<typeof connection>[0]) => {
    const redis = new Redis(connection(role).redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    redis.on('error', () => {});
    clients.push(redis);
    return redis;
  };
  afterAll(() => clients.forEach((c) => c.disconnect()));

  it('an executor may claim its own domain\'s warrants but not another domain\'s, nor write the context, directly or inside a script', async () => {
    const executor = as('executor-data');
    await executor.connect();
    expect(await executor.set(`ig:claim:data:warrant:${randomUUID()}`, 'access-test', 'EX', 60, 'NX')).toBe('OK');
    // Another domain's claims and epoch are out of its reach: it cannot make them forget.
    await expect(executor.set(`ig:claim:infra:warrant:${randomUUID()}`, 'x', 'PX', 1)).rejects.toThrow(/^NOPERM/);
    await expect(executor.set('ig:claim:ai:epoch', '0')).rejects.toThrow(/^NOPERM/);
    await expect(executor.set(`ig:run:infra:x`, 'x')).rejects.toThrow(/^NOPERM/);
    await expect(executor.set('ig:context:synced_at', String(Date.now()))).rejects.toThrow(/^NOPERM/);
    await expect(executor.hset('ig:resource:table:access', { sensitivity: 'public' })).rejects.toThrow(/^NOPERM/);
    await expect(executor.sadd('ig:revoked', 'someone')).rejects.toThrow(/^NOPERM/);
    // A provisioned function that writes the context, called with a context key: refused for its keys.
    await expect(executor.fcall(CONTEXT_FUNCTIONS.name('apply_label'), 1, 'ig:resource:table:access', 99, 0, 'public', '', new Date().toISOString())).rejects.toThrow(/^NOPERM/);
    // Called with a claim key it may write, the function's own HSET is refused: Redis checks a function's commands too.
    await expect(executor.fcall(CONTEXT_FUNCTIONS.name('apply_label'), 1, `ig:claim:data:x${randomUUID()}`, 99, 0, 'public', '', new Date().toISOString())).rejects.toThrow(/can't run this command/);
    // Its own claim function works.
    expect(Number(await executor.fcall(CLAIM_FUNCTIONS.name('epoch'), 1, 'ig:claim:data:epoch'))).toBeGreaterThan(0);
  });

  it('no role but the provisioner may run a script or load a function (a script that loops after a write stops Redis until a restart)', async () => {
    const loop = "redis.call('SET', KEYS[1], '1') while true do end";
    // Each with a key its role may write.
    const roles = { 'executor-data': 'ig:claim:data:x', 'executor-infra': 'ig:claim:infra:x', 'mcp-gateway': 'ig:claim:ai:x', decision: 'ig:decision:x', approvals: 'ig:decision:x', 'context-feeder': 'ig:decision:x' } as const;
    for (const [role, key] of Object.entries(roles) as Array<[keyof typeof roles, string]>) {
      const redis = as(role);
      await redis.connect();
      await expect(redis.eval(loop, 1, key), role).rejects.toThrow(/^NOPERM/);
      await expect(redis.call('EVAL_RO', 'return 1', 0), role).rejects.toThrow(/^NOPERM/);
      await expect(redis.call('FUNCTION', 'LOAD', 'REPLACE', `#!lua name=intentgate_claims\nredis.register_function('${CLAIM_FUNCTIONS.name('claim')}', function() return 0 end)`), role).rejects.toThrow(/^NOPERM/);
      await expect(redis.call('FUNCTION', 'DELETE', 'intentgate_claims'), role).rejects.toThrow(/^NOPERM/);
      await expect(redis.call('SCRIPT', 'LOAD', 'return 1'), role).rejects.toThrow(/^NOPERM/);
    }
    // The claim function is still the provisioned one: a claim of a fresh warrant id succeeds once, then not again.
    const executor = as('executor-data');
    await executor.connect();
    const jti = randomUUID();
    const claim = () => executor.fcall(CLAIM_FUNCTIONS.name('claim'), 3, `ig:claim:data:warrant:${jti}`, `ig:claim:data:executed:${jti}`, 'ig:claim:data:epoch', 'access-test', jti, 60, Date.now() + 60_000, 0);
    expect(await claim()).toBe(0);
    expect(await claim()).toBe(1);
  });

  it('the decision worker reads the context and writes its own memory, but not the context', async () => {
    const decision = new ContextStore({ redisUrl: connection('decision').redisUrl, freshnessMs: 600_000 });
    const feeder = new ContextStore({ redisUrl: connection('context-feeder').redisUrl, freshnessMs: 600_000 });
    await decision.connect();
    await feeder.connect();
    try {
      await feeder.markSynced();
      await feeder.labelResource('table', 'access.table', 'confidential');
      const intent = { ...exampleIntent(), intent_id: randomUUID(), resource: { type: 'table', id: 'access.table', properties: { sensitivity: 'internal' as const } } };
      const read = await decision.readBatch([intent]);
      expect(read.snapshots.get(intent.intent_id)?.resource.sensitivity).toBe('confidential');
      await decision.recordOutcomes([{ intent, verdict: 'allow', exportedRows: 0 }]);
      await expect(decision.markSynced()).rejects.toThrow(/^NOPERM/);
      await expect(decision.labelResource('table', 'access.table', 'public')).rejects.toThrow(/^NOPERM/);
    } finally {
      await decision.close();
      await feeder.close();
    }
  });

  it('a function call of more keys than the limit is refused before it runs (one call holds every other client while it runs)', async () => {
    const mcp = as('mcp-gateway');
    await mcp.connect();
    const keys = Array.from({ length: 9_000 }, (_, i) => `ig:claim:ai:flood-${i}`);
    await expect(mcp.fcall(CONTEXT_FUNCTIONS.name('remember_decisions'), keys.length, ...keys, 60, ...keys.map(() => 'x'))).rejects.toThrow(/at most 8192 keys/);
    expect(await mcp.get(keys[0]!)).toBeNull();
  });

  it('a connection without a user is refused (the default user is off)', async () => {
    const anonymous = new Redis(stack().redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, enableReadyCheck: false });
    anonymous.on('error', () => {});
    clients.push(anonymous);
    await anonymous.connect();
    await expect(anonymous.get('ig:context:synced_at')).rejects.toThrow(/^NOAUTH/);
  });
});

describe('the access catalog in the schema registry', () => {
  const plain = () => stack().schemaRegistry.url;
  const json = { 'content-type': 'application/vnd.schemaregistry.v1+json' };
  const NEW_SCHEMA = JSON.stringify({ type: 'object', properties: { forged: { type: 'string' } } });

  it('runs with users: only the provisioner may register, delete or reconfigure; anyone may read', async () => {
    expect(stack().schemaRegistry.source).toBe('local');
    const subject = `access-${randomUUID().slice(0, 8)}-value`;
    // Without credentials (every role but the provisioner, and any agent platform): reads only.
    const intents = await fetch(`${plain()}/subjects/intents-value/versions/latest`);
    expect(intents.status).toBe(200);
    const { id, schema } = (await intents.json()) as { id: number; schema: string };
    expect((await fetch(`${plain()}/schemas/ids/${id}`)).status).toBe(200);
    const lookup = await fetch(`${plain()}/subjects/intents-value`, { method: 'POST', headers: json, body: JSON.stringify({ schemaType: 'JSON', schema }) });
    expect([lookup.status, ((await lookup.json()) as { id: number }).id]).toEqual([200, id]);
    const refusals = await Promise.all([
      fetch(`${plain()}/subjects/${subject}/versions`, { method: 'POST', headers: json, body: JSON.stringify({ schemaType: 'JSON', schema: NEW_SCHEMA }) }),
      fetch(`${plain()}/subjects/intents-value/versions`, { method: 'POST', headers: json, body: JSON.stringify({ schemaType: 'JSON', schema: NEW_SCHEMA }) }),
      fetch(`${plain()}/subjects/intents-value`, { method: 'DELETE' }),
      fetch(`${plain()}/subjects/intents-value?permanent=true`, { method: 'DELETE' }),
      fetch(`${plain()}/config`, { method: 'PUT', headers: json, body: JSON.stringify({ compatibility: 'NONE' }) }),
      fetch(`${plain()}/config/intents-value`, { method: 'PUT', headers: json, body: JSON.stringify({ compatibility: 'NONE' }) }),
      fetch(`${plain()}/mode`, { method: 'PUT', headers: json, body: JSON.stringify({ mode: 'IMPORT' }) }),
    ]);
    expect(refusals.map((r) => r.status)).toEqual([401, 401, 401, 401, 401, 401, 401]);
    // A password that is not the provisioner's is no way in either.
    const guessed = new URL(plain());
    guessed.username = 'provisioner';
    guessed.password = 'guess';
    const { registryEndpoint } = await import('@intentgate/bus');
    const wrong = registryEndpoint(guessed.toString());
    expect((await fetch(`${wrong.url}/subjects/${subject}/versions`, { method: 'POST', headers: { ...json, ...wrong.headers }, body: JSON.stringify({ schemaType: 'JSON', schema: NEW_SCHEMA }) })).status).toBe(401);
    // Nothing changed: the subject was not created, intents-value is where it was, compatibility is BACKWARD.
    expect((await fetch(`${plain()}/subjects/${subject}/versions`)).status).toBe(404);
    expect(((await (await fetch(`${plain()}/subjects/intents-value/versions/latest`)).json()) as { id: number }).id).toBe(id);
    expect(((await (await fetch(`${plain()}/config`)).json()) as { compatibilityLevel: string }).compatibilityLevel).toBe('BACKWARD');
  });

  it('reads no request body larger than 1 MB (a few large anonymous reads ran its heap out)', async () => {
    const big = JSON.stringify({ schemaType: 'JSON', schema: JSON.stringify({ type: 'object', description: 'x'.repeat(2 * 1024 * 1024) }) });
    const res = await fetch(`${plain()}/compatibility/subjects/intents-value/versions/latest`, { method: 'POST', headers: json, body: big });
    expect(res.status).toBe(413);
    expect((await fetch(`${plain()}/subjects/intents-value/versions/latest`)).status).toBe(200);
  });

  it('a service or agent platform registers nothing: the schemas provisioned are looked up, and a new one is refused REGISTRY_REFUSED', async () => {
    const agent = new Bus({ ...connection('agent-platform'), clientId: 'access-registry' });
    try {
      expect(connection('agent-platform').registryUrl).toBe(plain());
      const registered = await agent.registerSchemas();
      expect(registered.length).toBeGreaterThan(0);
      const err = await agent.catalog.registerSchema(`access-${randomUUID().slice(0, 8)}-value`, NEW_SCHEMA).then(() => null, (e: unknown) => e);
      expect(err).toMatchObject({ code: 'REGISTRY_REFUSED', retriable: false });
      expect((err as BusError).hint).toMatch(/provision/);
    } finally {
      await agent.close();
    }
    // The provisioner (its credentials in its registry URL) may.
    const admin = new Bus({ ...connection('provisioner'), clientId: 'access-registry-admin' });
    try {
      const subject = `access-${randomUUID().slice(0, 8)}-value`;
      expect(await admin.catalog.registerSchema(subject, NEW_SCHEMA)).toBeGreaterThan(0);
      expect(admin.catalog.url).toBe(plain()); // its password is in no message or log line
    } finally {
      await admin.close();
    }
  });
});
