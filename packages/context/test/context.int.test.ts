// The context store on a real Redis: one round trip per batch, a freshness bound, and
// CONTEXT_UNAVAILABLE (never a guess) when it cannot vouch for what it returns.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleIntent, exampleOf } from '@intentgate/contracts/examples';
import { startStandaloneRedis } from '@intentgate/infra';
import { connection, eventually, stack } from '@intentgate/test';
import { ContextStore, ContextUnavailable } from '../src/index.ts';

let store: ContextStore;
beforeAll(async () => {
  store = new ContextStore({ redisUrl: connection('provisioner').redisUrl, freshnessMs: 5_000 });
  await store.connect();
  await store.markSynced();
});
afterAll(() => store.close());

describe('context store', () => {
  it('applies a registry entry only over an older revision; at one revision, a suspension wins', async () => {
    const agent = `spiffe://example.org/agents/ctx-${randomUUID().slice(0, 8)}`;
    const entry = (revision: number, status: 'active' | 'suspended') => ({
      agent, owner: 'alice@example.org', autonomy: 'supervised' as const, domains: ['data' as const], actions: ['*'], status, revision,
      changed_at: new Date().toISOString(), changed_by: 'test', reason: '',
    });
    expect(await store.applyRegistration(entry(2, 'active'))).toBe(true);
    expect(await store.applyRegistration(entry(1, 'suspended'))).toBe(false);
    expect(await store.applyRegistration(entry(2, 'suspended'))).toBe(true);
    expect(await store.applyRegistration(entry(2, 'active'))).toBe(false);
    expect(await store.agentFacts(agent)).toMatchObject({ registered: true, status: 'suspended', revision: 2, domains: ['data'], actions: ['*'] });
    expect(await store.applyRegistration(entry(3, 'active'))).toBe(true);
    expect((await store.agentFacts(agent)).status).toBe('active');
  });

  it('reads labels, agents, revocations and session history for a batch', async () => {
    // A subject of its own: the store is shared with every other test of the run.
    const a = exampleIntent({ subject: { type: 'agent', id: `spiffe://example.org/agents/ctx-${randomUUID()}`, properties: { autonomy: 'supervised' } } });
    const b = exampleIntent({ resource: { type: 'table', id: `t-${randomUUID()}`, properties: { sensitivity: 'public' } } });
    await store.labelResource(a.resource.type, a.resource.id, 'restricted');
    await store.setAgent(a.subject.id, { revoked: false });
    const human = `human-${randomUUID()}@example.org`;
    a.delegation[0]!.principal = human;
    await store.revoke(human);
    const { snapshots, decided } = await store.readBatch([a, b]);
    expect(snapshots.get(a.intent_id)).toMatchObject({ resource: { sensitivity: 'restricted' }, agent: { revoked: false }, revoked: [human] });
    expect(snapshots.get(b.intent_id)!.resource.sensitivity).toBeNull();
    expect(decided.size).toBe(0);
    const c = exampleIntent({ subject: { type: 'agent', id: `spiffe://example.org/agents/ctx-${randomUUID()}`, properties: { autonomy: 'supervised' } }, session: { ...a.session, id: `s-${randomUUID()}` } });
    await store.setAgent(c.subject.id, { revoked: true });
    expect((await store.readBatch([c])).snapshots.get(c.intent_id)).toMatchObject({
      agent: { revoked: true }, revoked: [], session: { exported_rows: 0, actions: 0, denied: 0 },
    });
    await store.unrevoke(human);
  });

  it('records session history once per intent, however often it is applied', async () => {
    const intent = exampleIntent();
    for (let i = 0; i < 3; i++) await store.recordOutcomes([{ intent, verdict: 'allow', exportedRows: 250 }]);
    await store.recordOutcomes([{ intent: exampleIntent({ session: intent.session }), verdict: 'deny', exportedRows: 0 }]);
    const { snapshots } = await store.readBatch([intent]);
    expect(snapshots.get(intent.intent_id)!.session).toEqual({ exported_rows: 250, actions: 2, denied: 1 });
  });

  it('remembers the first decision for an intent id and hands it back after', async () => {
    const first = exampleOf('Decision');
    const second = { ...first, decision_id: randomUUID() };
    expect((await store.rememberDecisions([first])).get(first.intent_id)!.decision_id).toBe(first.decision_id);
    expect((await store.rememberDecisions([second])).get(first.intent_id)!.decision_id).toBe(first.decision_id);
    const intent = exampleIntent({ intent_id: first.intent_id });
    expect((await store.readBatch([intent])).decided.get(first.intent_id)!.decision_id).toBe(first.decision_id);
  });

  it('context older than its freshness bound is unavailable', async () => {
    await store.markSynced(Date.now() - 60_000);
    await expect(store.readBatch([exampleIntent()])).rejects.toThrow(/freshness bound/);
    await store.markSynced();
    await expect(store.readBatch([exampleIntent()])).resolves.toBeDefined();
  });

  it('a killed Redis is CONTEXT_UNAVAILABLE at once, and the store recovers when Redis is back', async () => {
    const redis = await startStandaloneRedis();
    const own = new ContextStore({ redisUrl: redis.url, freshnessMs: 5_000, commandTimeoutMs: 300 });
    try {
      await own.connect();
      await own.markSynced();
      await expect(own.readBatch([exampleIntent()])).resolves.toBeDefined();
      await redis.kill();
      const err = await own.readBatch([exampleIntent()]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ContextUnavailable);
      expect((err as ContextUnavailable).code).toBe('CONTEXT_UNAVAILABLE');
      // Back on its append-only file (the sync mark with it): the same store reads again, without a new connect().
      await redis.restart();
      let read: unknown = null;
      await eventually(() => read !== null && !(read instanceof Error), 'the store to read again after Redis came back', 60_000, async () => {
        read = await own.readBatch([exampleIntent()]).catch((e: unknown) => e as Error);
      });
      expect((read as { snapshots: Map<string, unknown> }).snapshots.size).toBe(1);
    } finally {
      await own.close();
      await redis.stop();
    }
  });

  it('a Redis that stops answering (hung, not gone) is CONTEXT_UNAVAILABLE within the command timeout, and reads again once it answers', async () => {
    const redis = await startStandaloneRedis();
    const own = new ContextStore({ redisUrl: redis.url, freshnessMs: 600_000, commandTimeoutMs: 300 });
    try {
      await own.connect();
      await own.markSynced();
      await expect(own.readBatch([exampleIntent()])).resolves.toBeDefined();
      process.kill(redis.pid, 'SIGSTOP');
      try {
        const err = await own.readBatch([exampleIntent()]).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ContextUnavailable);
        expect((err as Error).message).toMatch(/timed out/i);
      } finally {
        process.kill(redis.pid, 'SIGCONT');
      }
      let read: unknown = null;
      await eventually(() => read !== null && !(read instanceof Error), 'the store to read again', 60_000, async () => {
        read = await own.readBatch([exampleIntent()]).catch((e: unknown) => e as Error);
      });
    } finally {
      await own.close();
      await redis.stop();
    }
  });
});
