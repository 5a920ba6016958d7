// The policy input the micro-benchmarks evaluate: an allowed data export by a supervised agent
// (bench/micro.bench.ts and bench/policy-ab.ts time the same input, so their figures compare).
import { exampleIntent } from '@intentgate/contracts/examples';

const AGENT = 'spiffe://example.org/agents/bench';

export const BENCH_POLICY_INPUT = {
  intent: {
    ...exampleIntent(),
    subject: { type: 'agent', id: AGENT, properties: { autonomy: 'supervised' } },
    delegation: [{ principal: 'alice@example.org', kind: 'human', scope: ['*'] }, { principal: AGENT, kind: 'agent', scope: ['data:*'] }],
    action: { name: 'data.export', domain: 'data', reversible: false },
    context: { rows: 10 },
  },
  context: { now: { unix_ms: 1_795_000_000_000, hour_utc: 12, weekday: 2 }, session: { exported_rows: 0, actions: 0, denied: 0 }, resource: { sensitivity: null, environment: null }, agent: { revoked: false, registered: true, status: 'active', owner: 'alice@example.org', autonomy: 'assisted', domains: ['app', 'data', 'infra', 'ai'], actions: ['*'], revision: 1 }, revoked: [] },
};
