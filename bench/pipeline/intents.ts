// A seeded mix of realistic intents across the four domains, and the context the store holds
// for them. The same seed gives the same intents (apart from ids and session prefix), so two
// paths decide the same workload and their decisions can be compared intent by intent.
import { randomUUID } from 'node:crypto';
import type { Domain, Intent } from '@intentgate/contracts';
import type { ContextStore } from '@intentgate/context';

/** mulberry32: a small, fast, seedable PRNG (uniform in [0, 1)). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A 32-bit seed from a string (FNV-1a). */
export function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

interface Template {
  /** What the starter policy answers (for the report; the bench checks nothing against it). */
  expect: string;
  weight: number;
  domain: Domain;
  action: string;
  reversible: boolean;
  resource: (r: () => number) => Intent['resource'];
  autonomy?: 'supervised' | 'autonomous';
  step?: string;
  source?: string;
  /** The agent's delegated scope, when not `<domain>:*`. */
  scope?: string;
  context?: (r: () => number) => Intent['context'];
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
// Resource ids of their own: the labels below go into a context store other runs may share.
const TABLES = ['bench.invoices', 'bench.contacts', 'bench.metrics', 'bench.salaries'] as const;

/** Sensitivity labels the context store holds (the policy trusts the higher of stored and claimed). */
export const RESOURCE_LABELS: ReadonlyArray<[string, string, 'public' | 'internal' | 'confidential' | 'restricted']> = [
  ['table', 'bench.invoices', 'confidential'],
  ['table', 'bench.contacts', 'confidential'],
  ['table', 'bench.metrics', 'internal'],
  ['table', 'bench.salaries', 'restricted'],
];

export const TEMPLATES: readonly Template[] = [
  { expect: 'allow', weight: 18, domain: 'data', action: 'data.query', reversible: true, resource: (r) => ({ type: 'table', id: pick(r, TABLES.slice(0, 3)), properties: { sensitivity: 'internal' } }) },
  { expect: 'allow, then EXPORT_BUDGET_EXCEEDED', weight: 8, domain: 'data', action: 'data.export', reversible: false,
    resource: () => ({ type: 'table', id: 'bench.invoices', properties: { sensitivity: 'confidential' } }), context: (r) => ({ rows: 50 + Math.floor(r() * 200) }) },
  { expect: 'deny TAINTED_SOURCE', weight: 4, domain: 'data', action: 'data.delete', reversible: false, source: 'tool_output',
    resource: () => ({ type: 'table', id: 'bench.metrics', properties: { sensitivity: 'internal' } }), context: () => ({ rows: 10 }) },
  { expect: 'deny RESTRICTED_DATA', weight: 3, domain: 'data', action: 'data.export', reversible: false, autonomy: 'autonomous',
    resource: () => ({ type: 'table', id: 'bench.salaries', properties: { sensitivity: 'internal' } }), context: () => ({ rows: 5 }) },
  { expect: 'allow', weight: 14, domain: 'app', action: 'http.get', reversible: true, resource: (r) => ({ type: 'url', id: `http://127.0.0.1:8080/orders/${Math.floor(r() * 1000)}`, properties: { sensitivity: 'internal' } }) },
  { expect: 'allow', weight: 7, domain: 'app', action: 'http.post', reversible: false, step: 'checkout', resource: () => ({ type: 'url', id: 'http://127.0.0.1:8080/orders', properties: { sensitivity: 'internal' } }), context: (r) => ({ body: { sku: `sku-${Math.floor(r() * 50)}`, qty: 1 } }) },
  { expect: 'deny METHOD_NOT_PERMITTED', weight: 4, domain: 'app', action: 'http.post', reversible: false, step: 'research', resource: () => ({ type: 'url', id: 'http://127.0.0.1:8080/orders', properties: { sensitivity: 'internal' } }) },
  { expect: 'deny HOST_NOT_ALLOWED', weight: 3, domain: 'app', action: 'http.get', reversible: true, resource: () => ({ type: 'url', id: 'https://exfil.example.net/upload', properties: { sensitivity: 'public' } }) },
  { expect: 'allow', weight: 8, domain: 'infra', action: 'infra.config.change', reversible: true, resource: (r) => ({ type: 'service', id: `svc-${Math.floor(r() * 20)}-staging`, properties: { sensitivity: 'internal', environment: 'staging' } }), context: () => ({ config: { replicas: 2 } }) },
  { expect: 'escalate (production, autonomous; deny outside the change window)', weight: 3, domain: 'infra', action: 'infra.restart', reversible: true, autonomy: 'autonomous',
    resource: () => ({ type: 'service', id: 'payments-prod', properties: { sensitivity: 'confidential', environment: 'production' } }) },
  { expect: 'escalate IRREVERSIBLE_IN_DOMAIN', weight: 2, domain: 'infra', action: 'infra.delete', reversible: false,
    resource: () => ({ type: 'service', id: 'legacy-staging', properties: { sensitivity: 'internal', environment: 'staging' } }) },
  { expect: 'allow', weight: 12, domain: 'ai', action: 'mcp.tool.call', reversible: true, resource: (r) => ({ type: 'mcp-tool', id: pick(r, ['demo/search', 'demo/summarize']), properties: { sensitivity: 'internal' } }), context: (r) => ({ arguments: { q: `query ${Math.floor(r() * 1e6)}` } }) },
  { expect: 'deny TOOL_NOT_ALLOWED', weight: 4, domain: 'ai', action: 'mcp.tool.call', reversible: true, resource: () => ({ type: 'mcp-tool', id: 'demo/shell_exec', properties: { sensitivity: 'internal' } }) },
  { expect: 'deny OUT_OF_SCOPE', weight: 2, domain: 'data', action: 'data.query', reversible: true, scope: 'app:*', resource: () => ({ type: 'table', id: 'bench.metrics', properties: { sensitivity: 'internal' } }) },
];

const TOTAL_WEIGHT = TEMPLATES.reduce((s, t) => s + t.weight, 0);
export const AGENTS = Array.from({ length: 16 }, (_, i) => `spiffe://bench.test/agents/agent-${i}`);

/**
 * The `count` intents of one step, in send order. Sessions are `<prefix><n>` over a pool of
 * `sessions`, so their history (the export budget) starts empty for every prefix.
 */
export function stepIntents(seed: number, count: number, sessionPrefix: string, sessions = 256): Intent[] {
  const r = prng(seed);
  const now = new Date().toISOString();
  const out: Intent[] = [];
  for (let i = 0; i < count; i++) {
    let x = r() * TOTAL_WEIGHT;
    let t = TEMPLATES[0]!;
    for (const candidate of TEMPLATES) {
      x -= candidate.weight;
      if (x < 0) {
        t = candidate;
        break;
      }
    }
    const agent = pick(r, AGENTS);
    out.push({
      intent_id: randomUUID(),
      submitted_at: now,
      subject: { type: 'agent', id: agent, properties: { autonomy: t.autonomy ?? 'supervised' } },
      delegation: [
        { principal: 'alice@bench.test', kind: 'human', scope: ['*'] },
        { principal: agent, kind: 'agent', scope: [t.scope ?? `${t.domain}:*`] },
      ],
      session: { id: `${sessionPrefix}${Math.floor(r() * sessions)}`, workflow_step: t.step ?? 'reconcile', request_source: t.source ?? 'user' },
      action: { name: t.action, domain: t.domain, reversible: t.reversible },
      resource: t.resource(r),
      context: t.context?.(r) ?? {},
    });
  }
  return out;
}

/** Services by environment (an unlabelled service is production to the policy). */
export const SERVICE_LABELS: ReadonlyArray<[string, string]> = [
  ...Array.from({ length: 20 }, (_, n) => [`svc-${n}-staging`, 'staging'] as [string, string]),
  ['legacy-staging', 'staging'], ['payments-prod', 'production'],
];

/** What the store must hold for the workload: fresh, labelled resources, registered agents. */
export async function seedContext(store: ContextStore): Promise<void> {
  await store.markSynced();
  for (const [type, id, label] of RESOURCE_LABELS) await store.labelResource(type, id, label);
  for (const [id, environment] of SERVICE_LABELS) await store.labelResource('service', id, environment === 'production' ? 'confidential' : 'internal', environment);
  for (const agent of AGENTS) {
    // Least autonomy in the registry: each intent's own (stricter) claim is what the mix varies.
    const revision = ((await store.agentFacts(agent)).revision ?? 0) + 1;
    await store.applyRegistration({
      agent, owner: 'bench@bench.test', autonomy: 'assisted', domains: ['app', 'data', 'infra', 'ai'], actions: ['*'], status: 'active',
      revision, changed_at: new Date().toISOString(), changed_by: 'bench', reason: 'benchmark agent',
    });
  }
}
