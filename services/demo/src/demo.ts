// The demo agent: submits a mix of intents across the four domains and reports, for each, the
// decision and whether its side effect exists. A denied action must visibly not have happened.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bus } from '@intentgate/bus';
import type { AgentChange, Decision, ExecutionResult, Intent, LabelChange } from '@intentgate/contracts';
import type { Executors } from '@intentgate/executors';
import type { AgentClient, AgentCredentials } from '@intentgate/sdk';
import { issueDelegation, issueSvid, type SigningKey } from '@intentgate/evidence';

export const DEMO_AGENT = 'spiffe://demo.intentgate.local/agents/ops-assistant';

/** Another agent in the registry, whose id the demo agent tries to use (it may export billing data). */
export const DEMO_PAYROLL_AGENT = 'spiffe://demo.intentgate.local/agents/payroll-bot';
export const DEMO_TRUST_DOMAIN = 'demo.intentgate.local';

/** The demo agents' entries in the agent registry: what each may ever be, whatever its intents say. */
export const DEMO_REGISTRATIONS: readonly AgentChange[] = [
  { agent: DEMO_AGENT, owner: 'alice@demo.intentgate.local', autonomy: 'supervised', domains: ['app', 'data', 'infra', 'ai'], actions: ['*'], status: 'active', reason: 'the npm start demo agent' },
  { agent: DEMO_PAYROLL_AGENT, owner: 'payroll@demo.intentgate.local', autonomy: 'supervised', domains: ['data'], actions: ['data.query', 'data.export'], status: 'active', reason: 'payroll exports' },
];

/**
 * The demo agent's credentials, as its platform holds them: its own JWT-SVID and the delegation
 * its human (the chain's origin) granted it, with the scope the intent states for it.
 */
export function demoCredentials(key: SigningKey): (intent: Intent) => Promise<AgentCredentials> {
  return async (intent) => {
    const origin = intent.delegation[0]!;
    const scope = intent.delegation[intent.delegation.length - 1]!.scope;
    return {
      svid: await issueSvid(key, DEMO_AGENT),
      delegation: [await issueDelegation(key, DEMO_TRUST_DOMAIN, { delegator: origin.principal, delegatorKind: origin.kind, delegate: DEMO_AGENT, delegateKind: 'agent', scope, jti: randomUUID() })],
    };
  };
}

interface Scenario {
  label: string;
  intent: Intent;
  /** Describes the side effect, present or absent, as seen in the sandbox. */
  effect: (ex: Executors, intent: Intent) => string;
  /** An escalation a reviewer approves (through the reviewers' API, as `intentgate approvals approve` does). */
  approve?: boolean;
  /** The intent names another agent than the demo agent, whose own credentials it carries. */
  impersonates?: boolean;
}

export interface DemoRow {
  label: string;
  domain: string;
  action: string;
  verdict: string;
  reason: string;
  execution: string;
  effect: string;
}

function intentOf(session: string, over: { action: Intent['action']; resource: Intent['resource']; context?: Intent['context']; step?: string; source?: string; scope: string[] }): Intent {
  return {
    intent_id: randomUUID(),
    submitted_at: new Date().toISOString(),
    subject: { type: 'agent', id: DEMO_AGENT, properties: { autonomy: 'supervised' } },
    delegation: [
      { principal: 'alice@demo.intentgate.local', kind: 'human', scope: ['*'] },
      { principal: DEMO_AGENT, kind: 'agent', scope: over.scope },
    ],
    session: { id: session, workflow_step: over.step ?? 'reconcile', request_source: over.source ?? 'user' },
    action: over.action,
    resource: over.resource,
    context: over.context ?? {},
  };
}

function scenarios(ex: Executors): Scenario[] {
  const invoicesAtStart = ex.invoiceCount();
  const session = `demo-${randomUUID().slice(0, 8)}`;
  const invoices: Intent['resource'] = { type: 'table', id: 'billing.invoices', properties: { sensitivity: 'internal' } };
  const exported = (e: Executors, i: Intent) => (existsSync(join(e.sandboxDir, 'exports', `${i.intent_id}.csv`)) ? `exports/${i.intent_id.slice(0, 8)}….csv written` : 'no export file');
  const order = (e: Executors, i: Intent) => (e.app.orders().some((o) => o.intent_id === i.intent_id) ? 'order created' : 'no order');
  const note = (e: Executors, i: Intent) => {
    const text = (i.context.arguments as { note?: string } | undefined)?.note ?? '';
    return e.mcp.notes().includes(text) ? 'note saved' : 'no note';
  };
  const config = (name: string) => (e: Executors, i: Intent) => {
    const file = join(e.sandboxDir, 'infra', `${name}.json`);
    if (!existsSync(file)) return `${name}.json absent`;
    return readFileSync(file, 'utf8').includes(i.intent_id) ? `${name}.json written` : `${name}.json untouched`;
  };
  const deleted = (name: string) => (e: Executors) => (existsSync(join(e.sandboxDir, 'infra', `${name}.json`)) ? `${name}.json still there` : `${name}.json deleted`);
  const dataScope = ['data:*'];
  return [
    { label: 'read invoices', effect: () => 'read only',
      intent: intentOf(session, { scope: dataScope, action: { name: 'data.query', domain: 'data', reversible: true }, resource: invoices }) },
    { label: 'export 200 confidential rows', effect: exported,
      intent: intentOf(session, { scope: dataScope, action: { name: 'data.export', domain: 'data', reversible: false }, resource: invoices, context: { rows: 200 } }) },
    { label: 'export 5000 confidential rows', effect: exported,
      intent: intentOf(session, { scope: dataScope, action: { name: 'data.export', domain: 'data', reversible: false }, resource: invoices, context: { rows: 5000 } }) },
    { label: 'delete invoices, asked by a tool output', effect: (e) => `${e.invoiceCount()} of ${invoicesAtStart} rows remain`,
      intent: intentOf(session, { scope: dataScope, source: 'tool_output', action: { name: 'data.delete', domain: 'data', reversible: false }, resource: invoices, context: { rows: 100 } }) },
    { label: 'create an order (checkout step)', effect: order,
      intent: intentOf(session, { scope: ['app:*'], step: 'checkout', action: { name: 'http.post', domain: 'app', reversible: false }, resource: { type: 'http_endpoint', id: `${ex.app.url}/orders`, properties: { sensitivity: 'internal' } }, context: { body: { sku: 'A-1', qty: 2 } } }) },
    { label: 'create an order (research step)', effect: order,
      intent: intentOf(session, { scope: ['app:*'], step: 'research', action: { name: 'http.post', domain: 'app', reversible: false }, resource: { type: 'http_endpoint', id: `${ex.app.url}/orders`, properties: { sensitivity: 'internal' } }, context: { body: { sku: 'B-2', qty: 99 } } }) },
    { label: 'change staging config', effect: config('checkout-staging'),
      intent: intentOf(session, { scope: ['infra:*'], action: { name: 'infra.config.change', domain: 'infra', reversible: true }, resource: { type: 'service', id: 'checkout-staging', properties: { sensitivity: 'internal', environment: 'staging' } }, context: { config: { replicas: 3 } } }) },
    { label: 'delete old staging service, approved', effect: deleted('checkout-staging-old'), approve: true,
      intent: intentOf(session, { scope: ['infra:*'], action: { name: 'infra.delete', domain: 'infra', reversible: false }, resource: { type: 'service', id: 'checkout-staging-old', properties: { sensitivity: 'internal', environment: 'staging' } } }) },
    { label: 'delete payments staging, unanswered', effect: config('payments-staging'),
      intent: intentOf(session, { scope: ['infra:*'], action: { name: 'infra.delete', domain: 'infra', reversible: false }, resource: { type: 'service', id: 'payments-staging', properties: { sensitivity: 'internal', environment: 'staging' } } }) },
    { label: 'MCP write_note', effect: note,
      intent: intentOf(session, { scope: ['ai:*'], action: { name: 'mcp.tool.call', domain: 'ai', reversible: true }, resource: { type: 'mcp_tool', id: 'demo/write_note', properties: { sensitivity: 'internal' } }, context: { arguments: { note: `reconciled ${session}` } } }) },
    { label: 'LIE: delete invoices "reversible", asked by a tool output', effect: (e) => `${e.invoiceCount()} of ${invoicesAtStart} rows remain`,
      intent: intentOf(session, { scope: dataScope, source: 'tool_output', action: { name: 'data.delete', domain: 'data', reversible: true }, resource: invoices, context: { rows: 100 } }) },
    { label: 'LIE: claims to be payroll-bot, exports invoices', effect: exported, impersonates: true,
      intent: { ...intentOf(session, { scope: dataScope, action: { name: 'data.export', domain: 'data', reversible: false }, resource: invoices, context: { rows: 50 } }), subject: { type: 'agent', id: DEMO_PAYROLL_AGENT, properties: { autonomy: 'supervised' } }, delegation: [{ principal: 'payroll@demo.intentgate.local', kind: 'human', scope: dataScope }, { principal: DEMO_PAYROLL_AGENT, kind: 'agent', scope: dataScope }] } },
    { label: 'MCP tool not on the allowlist', effect: () => 'tool not called',
      intent: intentOf(session, { scope: ['ai:*'], action: { name: 'mcp.tool.call', domain: 'ai', reversible: true }, resource: { type: 'mcp_tool', id: 'demo/drop_database', properties: { sensitivity: 'internal' } } }) },
  ];
}

/**
 * The demo's resources in the resource catalog, as an operator labels them (intentgate resources
 * label): the store's word outranks the agent's. Without a label a service counts as production
 * (the policy's floor), whatever an intent says.
 */
export const DEMO_LABELS: readonly LabelChange[] = [
  { type: 'table', id: 'billing.invoices', sensitivity: 'confidential', reason: 'invoices hold customer data' },
  ...['checkout-staging', 'checkout-staging-old', 'payments-staging'].map((id) => ({ type: 'service', id, sensitivity: 'internal' as const, environment: 'staging', reason: 'a staging service of the demo' })),
];

export interface DemoOptions {
  decisionTimeoutMs: number;
  /** The demo agent's own credentials (the impostor carries these under another agent's name). */
  credentials: (intent: Intent) => Promise<AgentCredentials>;
  /** Approves the escalation of this intent as a reviewer; rejects while no request exists yet. */
  approve: (intentId: string) => Promise<void>;
}

/** Retries `approve` until the approval request has arrived (or 30 s pass). */
async function approveWhenRequested(approve: DemoOptions['approve'], intentId: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await approve(intentId);
    } catch (err) {
      if ((err as { code?: string }).code !== 'APPROVAL_NOT_FOUND' || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export async function runDemo(agent: AgentClient, bus: Bus, executors: Executors, options: DemoOptions): Promise<DemoRow[]> {
  // Lay down staging configs so the two deletes have something to delete (or not).
  const { writeFile } = await import('node:fs/promises');
  for (const name of ['checkout-staging-old', 'payments-staging']) {
    await writeFile(join(executors.sandboxDir, 'infra', `${name}.json`), `${JSON.stringify({ replicas: 2 })}\n`);
  }

  const list = scenarios(executors);
  const results = new Map<string, ExecutionResult>();
  const watcher = bus.consumer<'ExecutionResult'>({
    groupId: `intentgate-demo-${randomUUID()}`, topics: ['executions'],
    handle: async (records) => {
      for (const r of records) results.set(r.value.intent_id, r.value);
    },
  });
  await watcher.start();
  try {
    const reviews = list.filter((s) => s.approve).map((s) => approveWhenRequested(options.approve, s.intent.intent_id).catch((e: Error) => e));
    // The impostor attaches the demo agent's real credentials to an intent naming another agent
    // (past the SDK, which would state the SVID's subject): what a compromised platform can send.
    for (const s of list.filter((x) => x.impersonates)) {
      s.intent = { ...s.intent, credentials: await options.credentials({ ...s.intent, delegation: [{ principal: 'alice@demo.intentgate.local', kind: 'human', scope: ['*'] }, { principal: DEMO_AGENT, kind: 'agent', scope: ['data:*'] }] }) };
    }
    const decisions = await Promise.all(list.map(async (s): Promise<Decision | Error> => agent.decide(s.intent, options.decisionTimeoutMs).catch((e: Error) => e)));
    for (const review of await Promise.all(reviews)) if (review instanceof Error) throw review;
    // Allowed intents run asynchronously at their executors: wait for their reports.
    const deadline = Date.now() + 30_000;
    const allowed = list.filter((_, k) => !(decisions[k] instanceof Error) && (decisions[k] as Decision).verdict === 'allow');
    while (allowed.some((s) => !results.has(s.intent.intent_id)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    return list.map((s, k) => {
      const d = decisions[k]!;
      const r = results.get(s.intent.intent_id);
      return {
        label: s.label,
        domain: s.intent.action.domain,
        action: s.intent.action.name,
        verdict: d instanceof Error ? 'error' : d.verdict,
        // A claim the decision overruled is shown beside the reason: the lie that was caught.
        reason: d instanceof Error ? (d as { code?: string }).code ?? d.message : d.reasons.filter((r, k) => k === 0 || r.code.endsWith('_OVERRULED')).map((r) => r.code).join(' + '),
        execution: r ? r.status + (r.reason ? ` (${r.reason.code})` : '') : 'not executed',
        effect: s.effect(executors, s.intent),
      };
    });
  } finally {
    await watcher.stop();
  }
}

export function renderTable(rows: DemoRow[]): string {
  const header: DemoRow = { label: 'intent', domain: 'domain', action: 'action', verdict: 'verdict', reason: 'reason', execution: 'execution', effect: 'side effect' };
  const all = [header, ...rows];
  const keys = Object.keys(header) as Array<keyof DemoRow>;
  const widths = keys.map((k) => Math.max(...all.map((r) => r[k].length)));
  return all.map((r) => `  ${keys.map((k, i) => r[k].padEnd(widths[i]!)).join('  ')}`.trimEnd()).join('\n');
}

/**
 * One real MCP client session through the MCP gateway: an allowed call, then a denied one,
 * authenticated with the demo agent's bearer token.
 */
export async function runMcpDemo(url: string, token: string): Promise<string[]> {
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  const client = new Client({ name: 'intentgate-demo-agent', version: '0.1.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  try {
    const lines: string[] = [];
    const { tools } = await client.listTools();
    lines.push(`tools/list → ${tools.map((t) => t.name).join(', ')}`);
    for (const [name, args] of [['demo_write_note', { note: 'through the gateway' }], ['demo_delete_all_notes', {}]] as const) {
      const result = await client.callTool({ name, arguments: args });
      const text = (result.content as Array<{ text?: string }>).map((c) => c.text ?? '').join(' ');
      lines.push(`tools/call ${name} → ${result.isError ? 'error' : 'ok'}: ${text}`);
    }
    return lines;
  } finally {
    await client.close();
  }
}
