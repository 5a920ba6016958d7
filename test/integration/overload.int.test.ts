// Admission on the real stack: an intent that waited past the worker's bound, or whose domain's
// executors are too far behind, gets a final OVERLOADED deny at once (not evaluated, with when to
// retry), and the clients that see one stop submitting until then: the SDK and the AuthZEN
// gateway answer OVERLOADED without a queue.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { approvedTopic, type Decision, type Intent } from '@intentgate/contracts';
import { exampleIntent } from '@intentgate/contracts/examples';
import { generateSigningKey } from '@intentgate/evidence';
import { Gateway } from '@intentgate/gateway';
import { AgentClient, Overloaded } from '@intentgate/sdk';
import { approvedIntentSignedBy, connection, decisionWorker, eventually, testBus, testTrust, uniqueGroup } from '@intentgate/test';

const AGENT = 'spiffe://example.org/agents/load';
const bus = testBus();
const stoppers: Array<() => Promise<unknown>> = [];
/** Stopped when each test ends: every worker decides every intent on the topic, so one test's worker must not decide the next test's intents. */
const perTest: Array<() => Promise<unknown>> = [];
const decisions = new Map<string, Decision>();
/** The first decision of any kind (an escalation too) per intent. */
const firstSeen = new Map<string, Decision>();

function intent(domain: 'data' | 'infra' = 'data'): Intent {
  const base = exampleIntent();
  return {
    ...base, intent_id: randomUUID(),
    subject: { type: 'agent', id: AGENT, properties: { autonomy: 'supervised' } },
    delegation: [{ principal: 'alice@example.org', kind: 'human', scope: ['*'] }, { principal: AGENT, kind: 'agent', scope: ['data:*', 'infra:*'] }],
    session: { id: `overload-${randomUUID().slice(0, 8)}`, workflow_step: 'reconcile', request_source: 'user' },
    action: domain === 'data' ? { name: 'data.query', domain: 'data', reversible: true } : { name: 'infra.scale', domain: 'infra', reversible: true },
    resource: domain === 'data' ? { type: 'table', id: 'load.table', properties: { sensitivity: 'internal' } } : { type: 'service', id: 'load-staging', properties: { sensitivity: 'internal', environment: 'staging' } },
    context: domain === 'data' ? {} : { config: { replicas: 2 } },
  };
}

beforeAll(async () => {
  await bus.registerSchemas();
  const watch = bus.consumer<'Decision'>({
    groupId: uniqueGroup('overload-decisions'), topics: ['decisions'],
    handle: async (records) => {
      for (const { value } of records) {
        if (value.final) decisions.set(value.intent_id, value);
        if (!firstSeen.has(value.intent_id)) firstSeen.set(value.intent_id, value);
      }
    },
  });
  await watch.start();
  stoppers.push(() => watch.stop());
});

afterEach(async () => {
  for (const stop of perTest.splice(0).reverse()) await stop().catch(() => {});
});

afterAll(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => {});
  await bus.close();
});

describe('admission', () => {
  it('intents that waited past the worker\'s bound are denied OVERLOADED without evaluation; the SDK then refuses to submit until the retry time', async () => {
    // A backlog the worker has not seen: submitted by this client, then left to age past the bound.
    const agent = await AgentClient.connect({ ...connection('agent-platform'), trust: { roots: (await testTrust()).roots } });
    perTest.push(() => agent.close());
    const waiting = Array.from({ length: 5 }, () => intent());
    for (const i of waiting) await agent.submit(i);
    await new Promise((r) => setTimeout(r, 2_500));
    const worker = await decisionWorker(bus, 'overload-lag', { admission: { decisionLagBoundMs: 2_000, retryAfterMs: 8_000, executorBacklogBound: 0 } });
    perTest.push(() => worker.stop());
    await eventually(() => waiting.every((i) => decisions.has(i.intent_id)), 'the backlog decided');
    for (const i of waiting) {
      expect(decisions.get(i.intent_id)).toMatchObject({
        verdict: 'deny', final: true, policy: null, input_digest: null, obligations: { retry_after_ms: 8_000 },
        reasons: [{ code: 'OVERLOADED', message: expect.stringMatching(/over its 2000 ms bound: not evaluated; submit it again as a new intent after 8000 ms/) }],
      });
    }
    const shedAt = Math.max(...waiting.map((i) => Date.parse(decisions.get(i.intent_id)!.decided_at)));

    // The client saw its own intents shed and holds back until the retry time: nothing is submitted, the answer is immediate.
    await new Promise((r) => setTimeout(r, 1_000)); // its own consumer reads them too
    const held = intent();
    const refused = await agent.decide(held).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(Overloaded);
    expect(refused).toMatchObject({ code: 'OVERLOADED', retriable: true, retryAfterMs: expect.any(Number) });
    expect((refused as Overloaded).retryAfterMs).toBeLessThanOrEqual(8_000);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(firstSeen.has(held.intent_id)).toBe(false); // never submitted

    // After the retry time, a fresh intent is decided by policy as usual.
    await new Promise((r) => setTimeout(r, Math.max(0, shedAt + 8_000 + 200 - Date.now())));
    expect(await agent.decide(intent())).toMatchObject({ verdict: 'allow', reasons: [{ code: 'ALL_GUARDS_PASSED' }] });
  });

  it('when a domain\'s executors are behind their bound, that domain\'s new intents are denied OVERLOADED; other domains are decided', async () => {
    // An executor group that has committed nothing past the start of intents.approved.data: every approved data intent is its backlog.
    const group = uniqueGroup('overload-executors');
    const key = await generateSigningKey('overload-test');
    await bus.producer().sendMany(await Promise.all([1, 2, 3].map(async () => {
      const approved = await approvedIntentSignedBy(key, 'overload-test');
      return { topic: approvedTopic('data'), key: approved.intent.intent_id, value: approved };
    })));
    await bus.startGroupAt(group, approvedTopic('data'), 0);
    const worker = await decisionWorker(bus, 'overload-backlog', { admission: { executorBacklogBound: 2, executorGroups: { data: group }, executorPollMs: 100, decisionLagBoundMs: 0 } });
    perTest.push(() => worker.stop());
    const agent = await AgentClient.connect({ ...connection('agent-platform'), trust: { roots: (await testTrust()).roots } });
    perTest.push(() => agent.close());
    let data: Decision | null = null;
    await eventually(() => data?.reasons[0]?.code === 'OVERLOADED', 'the data intent denied for the executors\' backlog', 60_000, async () => {
      data = await agent.decide(intent('data')).catch(() => null);
    });
    expect(data!.reasons[0]!.message).toMatch(/the data executors have \d+ approved intents yet to run, over their bound of 2/);
    const metrics = await (await fetch(`${worker.httpUrl}/metrics`)).text();
    expect(Number(/intentgate_executor_backlog_records\{domain="data"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(3);
    await new Promise((r) => setTimeout(r, 5_500)); // past the retry time the client was given
    // Another domain's intent is decided by policy (an escalation or a verdict, not OVERLOADED).
    const other = intent('infra');
    await agent.submit(other);
    await eventually(() => firstSeen.has(other.intent_id), 'the infra intent decided');
    expect(firstSeen.get(other.intent_id)!.reasons[0]?.code).not.toBe('OVERLOADED');
    expect(firstSeen.get(other.intent_id)!.policy).not.toBeNull();
  });

  it('the AuthZEN gateway answers OVERLOADED at once, with Retry-After, while its client holds back', async () => {
    const worker = await decisionWorker(bus, 'overload-gateway', { admission: { decisionLagBoundMs: 1, retryAfterMs: 20_000, executorBacklogBound: 0 } });
    perTest.push(() => worker.stop());
    const token = `tok-${randomUUID()}`;
    const gateway = await Gateway.start({ roots: (await testTrust()).roots, ...connection('authzen-gateway'), callers: { tests: token } });
    perTest.push(() => gateway.stop());
    const evaluation = () => {
      const i = intent();
      return {
        subject: { type: 'agent', id: AGENT, properties: { autonomy: 'supervised' } },
        action: { name: i.action.name, properties: { domain: 'data', reversible: true } },
        resource: i.resource,
        context: { session: i.session, delegation: i.delegation },
      };
    };
    const post = async () => {
      const res = await fetch(`${gateway.url}/access/v1/evaluation`, {
        method: 'POST', body: JSON.stringify(evaluation()), headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      });
      return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as { decision: boolean; context: { reasons: Array<{ code: string; rule: string }>; retry_after_ms?: number } } };
    };
    // Every intent has waited more than 1 ms by the time the worker takes it: the worker sheds it.
    const first = await post();
    expect(first).toMatchObject({ status: 200, body: { decision: false, context: { reasons: [{ code: 'OVERLOADED', rule: 'intentgate.admission' }], retry_after_ms: 20_000 } } });
    expect(first.retryAfter).toBe('20');
    // The gateway's client saw it: the next one is answered by the gateway itself, not submitted.
    const second = await post();
    expect(second).toMatchObject({ status: 200, body: { decision: false, context: { reasons: [{ code: 'OVERLOADED', rule: 'intentgate.gateway' }] } } });
    expect(Number(second.retryAfter)).toBeGreaterThan(0);
  });
});
