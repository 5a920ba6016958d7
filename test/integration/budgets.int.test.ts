// Export budgets hold across decision workers: two workers in one group, each with its own
// partitions, decide one agent's exports in twenty sessions at once. Each worker read the
// agent's total before the other's exports counted; the rows are reserved against the live
// total before an allow stands, so the agent gets exactly its budget, not a budget per worker.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision, Intent } from '@intentgate/contracts';
import { exampleIntent } from '@intentgate/contracts/examples';
import { ContextStore } from '@intentgate/context';
import type { DecisionService } from '@intentgate/decision';
import { wasmEvaluator, type PolicyEvaluator } from '@intentgate/policy';
import { AgentClient } from '@intentgate/sdk';
import { connection, decisionWorker, labelResources, registerAgents, testBus, testTrust, uniqueGroup } from '@intentgate/test';

const bus = testBus();
const stoppers: Array<() => Promise<unknown>> = [];
const AGENT = `spiffe://example.org/agents/budget-${randomUUID().slice(0, 8)}`;
const TABLE = `billing.budget-${randomUUID().slice(0, 6)}`;
let agent: AgentClient;
const workers: DecisionService[] = [];

beforeAll(async () => {
  await registerAgents([AGENT]);
  await labelResources([{ type: 'table', id: TABLE, sensitivity: 'confidential' }]);
  const tenant = `budget-${randomUUID().slice(0, 8)}`;
  const groupId = uniqueGroup('budget');
  for (let w = 0; w < 2; w++) {
    const worker = await decisionWorker(bus, `budget-${w}`, { tenant, groupId });
    stoppers.push(() => worker.stop());
    workers.push(worker);
  }
  agent = await AgentClient.connect({ ...connection('agent-platform'), trust: { roots: (await testTrust()).roots } });
  stoppers.push(() => agent.close());
});

afterAll(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => {});
  await bus.close();
});

function exportOf(rows: number, session: string): Intent {
  const base = exampleIntent();
  return {
    ...base, intent_id: randomUUID(),
    subject: { type: 'agent', id: AGENT, properties: { autonomy: 'supervised' } },
    delegation: [{ principal: 'alice@example.org', kind: 'human', scope: ['*'] }, { principal: AGENT, kind: 'agent', scope: ['data:*'] }],
    session: { id: session, workflow_step: 'reconcile', request_source: 'user' },
    action: { name: 'data.export', domain: 'data', reversible: false },
    resource: { type: 'table', id: TABLE, properties: { sensitivity: 'confidential' } },
    context: { rows },
  };
}

describe('export budgets across decision workers', () => {
  it('twenty 1,000-row exports in twenty sessions at once, two workers: exactly the agent\'s 10,000 rows are allowed, the rest denied by the policy on the live total', async () => {
    // Both workers hold partitions of intents (a group of two), so the sessions spread over them.
    const sessions = Array.from({ length: 20 }, (_, i) => `budget-${i}-${randomUUID()}`);
    const decisions: Decision[] = await Promise.all(sessions.map((s) => agent.decide(exportOf(1_000, s), 60_000)));
    const allowed = decisions.filter((d) => d.verdict === 'allow');
    const denied = decisions.filter((d) => d.verdict === 'deny');
    console.log(`[budgets] allowed ${allowed.length}, denied ${denied.length} (${[...new Set(denied.flatMap((d) => d.reasons.map((r) => r.code)))].join(', ')})`);
    expect(allowed).toHaveLength(10);
    expect(denied).toHaveLength(10);
    for (const d of denied) expect(d.reasons.map((r) => r.code)).toContain('AGENT_EXPORT_BUDGET_EXCEEDED');
    // Each allow names the budget it was reserved against.
    for (const d of allowed) expect(d.obligations).toMatchObject({ export_budget: { rows: 1_000, session_limit: 1_000, agent_limit: 10_000 } });
    // The store counts each allowed row once (reserved when decided, not again after commit).
    const store = new ContextStore({ redisUrl: connection('provisioner').redisUrl, freshnessMs: 600_000 });
    await store.connect();
    try {
      const read = await store.readBatch([exportOf(0, sessions[0]!)]);
      const snapshot = [...read.snapshots.values()][0]!;
      expect(snapshot.usage.exported_rows).toBe(10_000);
    } finally {
      await store.close();
    }
    // And the next export is denied: the budget is spent.
    expect(await agent.decide(exportOf(1, `budget-after-${randomUUID()}`))).toMatchObject({ verdict: 'deny' });
    // Stopped here: the next test's worker (another group) would otherwise share its intents with these.
    await Promise.all(workers.map((w) => w.stop()));
  });

  it('another worker spends the budget between this worker\'s read and its decision: the allow the stale total gave is not kept; decided again on the live total, it is denied', async () => {
    const agentId = `spiffe://example.org/agents/budget-stale-${randomUUID().slice(0, 8)}`;
    await registerAgents([agentId]);
    // The other worker, as the decision role: it has allowed 9,000 rows of this agent's already.
    const other = new ContextStore({ redisUrl: connection('decision').redisUrl, freshnessMs: 600_000 });
    stoppers.push(() => other.close());
    await other.connect();
    const spend = async (rows: number) => {
      const spent = { ...exportOf(rows, `budget-other-${randomUUID()}`), subject: { type: 'agent' as const, id: agentId, properties: { autonomy: 'supervised' as const } } };
      expect(await other.reserveExport(spent, { rows, session_limit: 1_000, agent_limit: 10_000 })).toMatchObject({ reserved: true });
      await other.recordOutcomes([{ intent: spent, verdict: 'allow', exportedRows: rows }]);
    };
    for (let i = 0; i < 9; i++) await spend(1_000);
    // This worker's policy runs after its batch read the agent's 9,000; the first time it runs, the
    // other worker allows the agent's last 1,000 meanwhile (the real Wasm policy, evaluated after).
    let raced = false;
    const racing: PolicyEvaluator = {
      kind: 'wasm-after-another-worker',
      evaluate: async (engine, input, json, timeoutMicros) => {
        if (!raced) {
          raced = true;
          await spend(1_000);
        }
        return wasmEvaluator.evaluate(engine, input, json, timeoutMicros);
      },
    };
    const worker = await decisionWorker(bus, 'budget-stale', { evaluator: racing, policyTimeoutMicros: 30_000_000 });
    stoppers.push(() => worker.stop());
    const stale = { ...exportOf(1_000, `budget-stale-${randomUUID()}`), subject: { type: 'agent' as const, id: agentId, properties: { autonomy: 'supervised' as const } } };
    stale.delegation = [{ principal: 'alice@example.org', kind: 'human', scope: ['*'] }, { principal: agentId, kind: 'agent', scope: ['data:*'] }];
    const decided = await agent.decide(stale, 60_000);
    expect(raced).toBe(true);
    expect(decided).toMatchObject({ verdict: 'deny' });
    expect(decided.reasons.map((r) => r.code)).toContain('AGENT_EXPORT_BUDGET_EXCEEDED');
    expect(decided.reasons.find((r) => r.code === 'AGENT_EXPORT_BUDGET_EXCEEDED')!.message).toMatch(/11000/);
    // Nothing more was counted than the other worker's 10,000.
    const read = await other.readBatch([stale]);
    expect([...read.snapshots.values()][0]!.usage.exported_rows).toBe(10_000);
    await worker.stop(); // the next test's worker reads the same intents
  });

  it('an attempt that reserved and did not commit (its batch redelivered) spends nothing: the batch reads its totals without it, and a deny gives the rows back', async () => {
    const agentId = `spiffe://example.org/agents/budget-redelivered-${randomUUID().slice(0, 8)}`;
    const store = new ContextStore({ redisUrl: connection('decision').redisUrl, freshnessMs: 600_000 });
    stoppers.push(() => store.close());
    await store.connect();
    const of = (rows: number) => ({ ...exportOf(rows, `budget-redelivered-${randomUUID()}`), subject: { type: 'agent' as const, id: agentId, properties: { autonomy: 'supervised' as const } } });
    const usage = async (intent: Intent) => [...(await store.readBatch([intent])).snapshots.values()][0]!;
    const x = of(700);
    const budget = { rows: 700, session_limit: 1_000, agent_limit: 10_000 };
    expect(await store.reserveExport(x, budget)).toMatchObject({ reserved: true, sessionRows: 0, agentRows: 0 });
    // The batch is redelivered: x is decided again on totals that leave its own reservation out,
    expect((await usage(x)).usage.exported_rows).toBe(0);
    expect((await usage(x)).session.exported_rows).toBe(0);
    // while another intent of the agent sees it held.
    expect((await usage(of(1))).usage.exported_rows).toBe(700);
    // Reserving x again counts nothing more.
    expect(await store.reserveExport(x, budget)).toMatchObject({ reserved: true, agentRows: 700 });
    expect((await usage(of(1))).usage.exported_rows).toBe(700);
    // Decided again as a deny (the context changed), its rows come back.
    await store.recordOutcomes([{ intent: x, verdict: 'deny', exportedRows: 0 }]);
    expect((await usage(of(1))).usage.exported_rows).toBe(0);
    // An allow that reserved is counted once, after commit too.
    const y = of(300);
    await store.reserveExport(y, { ...budget, rows: 300 });
    await store.recordOutcomes([{ intent: y, verdict: 'allow', exportedRows: 300 }]);
    await store.recordOutcomes([{ intent: y, verdict: 'allow', exportedRows: 300 }]);
    expect((await usage(of(1))).usage.exported_rows).toBe(300);
    // Over a limit, nothing is reserved and the live totals come back to decide on.
    expect(await store.reserveExport(of(9_800), { rows: 9_800, session_limit: 10_000, agent_limit: 10_000 })).toMatchObject({ reserved: false, agentRows: 300 });
  });

  it('a policy that allows an export without a budget to reserve (an older or a tenant\'s own bundle) does not get the allow: CONTEXT_UNAVAILABLE, naming why', async () => {
    const agentId = `spiffe://example.org/agents/budget-unreserved-${randomUUID().slice(0, 8)}`;
    await registerAgents([agentId]);
    // The real Wasm policy's answer, with the obligation taken out, as such a bundle would answer.
    const withoutObligation: PolicyEvaluator = {
      kind: 'wasm-without-export-budget',
      evaluate: async (engine, input, json, timeoutMicros) => {
        const result = await wasmEvaluator.evaluate(engine, input, json, timeoutMicros);
        const { export_budget: _dropped, ...rest } = result.obligations as Record<string, unknown>;
        return { ...result, obligations: rest };
      },
    };
    const worker = await decisionWorker(bus, 'budget-unreserved', { evaluator: withoutObligation });
    stoppers.push(() => worker.stop());
    const intent = { ...exportOf(10, `budget-unreserved-${randomUUID()}`), subject: { type: 'agent' as const, id: agentId, properties: { autonomy: 'supervised' as const } } };
    intent.delegation = [{ principal: 'alice@example.org', kind: 'human', scope: ['*'] }, { principal: agentId, kind: 'agent', scope: ['data:*'] }];
    const decided = await agent.decide(intent, 60_000);
    expect(decided).toMatchObject({ verdict: 'deny', reasons: [{ code: 'CONTEXT_UNAVAILABLE' }] });
    expect(decided.reasons[0]!.message).toMatch(/without an export_budget obligation/);
    await worker.stop();
  });
});
