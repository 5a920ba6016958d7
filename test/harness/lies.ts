// One lie per caller-written field of the trust inventory, in the loosening direction: what the
// agent says, what the stores say, and how the decision must end (never an allow). Shared by the
// unit test on the Wasm policy (services/decision/test/lies.test.ts) and the pipeline test on the
// real stack (test/integration/lies.int.test.ts), so both grow with the inventory.
import { randomUUID } from 'node:crypto';
import type { Intent } from '@intentgate/contracts';
import { issueDelegation, issueSvid, type SigningKey } from '@intentgate/evidence';

export interface LieStore {
  /** The registry entry's fields for the acting agent (registered active, least autonomy, by default). */
  agent?: { autonomy?: 'assisted' | 'supervised' | 'autonomous'; domains?: Array<'app' | 'data' | 'infra' | 'ai'>; actions?: string[]; registered?: boolean };
  /** The context store's labels for the intent's resource. */
  label?: { sensitivity: 'public' | 'internal' | 'confidential' | 'restricted'; environment?: string };
  /** Rows the agent has exported across its sessions (the pipeline test gets there with `before`). */
  usage?: number;
}

export interface Lie {
  field: string;
  says: string;
  /** The lying intent, for an agent id and a resource id of the test's own. */
  intent: (agent: string, resourceId: string) => Intent;
  store: LieStore;
  /** The type the store's label is under, when the lie names the resource by another. */
  labelType?: string;
  /** Honest intents decided first, in the pipeline test, to bring the stores where `store` says. */
  before?: (agent: string, resourceId: string) => Intent[];
  /** Identity lies are caught before policy, by the decision worker's verification. */
  identity?: 'names-another-agent' | 'wider-scope-than-tokens';
  /** The verdict is one of these, never allow; every code listed is among the reasons. */
  verdicts: Array<'deny' | 'escalate'>;
  codes: string[];
  /** At least one of these is among the reasons (when which one depends on the hour, say). */
  anyOf?: string[];
}

function base(agent: string, over: Partial<Intent> & { action: Intent['action']; resource: Intent['resource'] }): Intent {
  return {
    intent_id: randomUUID(),
    submitted_at: new Date().toISOString(),
    subject: { type: 'agent', id: agent, properties: { autonomy: 'supervised' } },
    delegation: [
      { principal: 'alice@example.org', kind: 'human', scope: ['*'] },
      { principal: agent, kind: 'agent', scope: ['*'] },
    ],
    session: { id: `lie-${randomUUID().slice(0, 8)}`, workflow_step: 'reconcile', request_source: 'user' },
    context: {},
    ...over,
  };
}

const table = (id: string, sensitivity: 'public' | 'internal' | 'confidential' | 'restricted') => ({ type: 'table', id, properties: { sensitivity } });

export const LIES: readonly Lie[] = [
  {
    field: 'intent.subject.id', says: 'names another (registered) agent than its SVID', identity: 'names-another-agent',
    intent: (agent, id) => base(agent, { action: { name: 'data.query', domain: 'data', reversible: true }, resource: table(id, 'internal') }),
    store: {}, verdicts: ['deny'], codes: ['SUBJECT_MISMATCH'],
  },
  {
    field: 'intent.delegation', says: 'states a wider scope than its delegation tokens grant', identity: 'wider-scope-than-tokens',
    intent: (agent, id) => base(agent, { action: { name: 'data.query', domain: 'data', reversible: true }, resource: table(id, 'internal') }),
    store: {}, verdicts: ['deny'], codes: ['DELEGATION_MISMATCH'],
  },
  {
    field: 'intent.subject.properties.autonomy', says: 'an autonomous agent calls itself supervised to read restricted data',
    intent: (agent, id) => base(agent, { action: { name: 'data.query', domain: 'data', reversible: true }, resource: table(id, 'restricted') }),
    store: { agent: { autonomy: 'autonomous' }, label: { sensitivity: 'restricted' } }, verdicts: ['deny'], codes: ['RESTRICTED_DATA', 'AUTONOMY_CLAIM_OVERRULED'],
  },
  {
    field: 'intent.action.name', says: 'asks for an action the catalog does not list',
    intent: (agent, id) => base(agent, { action: { name: 'data.truncate', domain: 'data', reversible: true }, resource: table(id, 'internal') }),
    store: {}, verdicts: ['deny'], codes: ['UNKNOWN_ACTION'],
  },
  {
    field: 'intent.action.domain', says: 'names a data delete an app action',
    intent: (agent, id) => base(agent, { action: { name: 'data.delete', domain: 'app', reversible: true }, resource: { type: 'http_endpoint', id: 'http://localhost/x', properties: { sensitivity: 'internal' } }, context: { rows: 10, table: id } }),
    store: {}, verdicts: ['deny'], codes: ['ACTION_DOMAIN_MISMATCH'],
  },
  {
    field: 'intent.action.reversible', says: 'calls a delete reversible, asked by a tool output',
    intent: (agent, id) => base(agent, {
      action: { name: 'data.delete', domain: 'data', reversible: true }, resource: table(id, 'internal'), context: { rows: 100 },
      session: { id: `lie-${randomUUID().slice(0, 8)}`, workflow_step: 'reconcile', request_source: 'tool_output' },
    }),
    store: {}, verdicts: ['deny'], codes: ['TAINTED_SOURCE', 'REVERSIBLE_CLAIM_OVERRULED'],
  },
  {
    field: 'intent.resource.id', says: 'calls a tool the catalog does not list',
    intent: (agent) => base(agent, { action: { name: 'mcp.tool.call', domain: 'ai', reversible: true }, resource: { type: 'mcp_tool', id: 'demo/drop_database', properties: { sensitivity: 'internal' } } }),
    store: {}, verdicts: ['deny'], codes: ['TOOL_NOT_ALLOWED'],
  },
  {
    field: 'intent.resource.properties.sensitivity', says: 'calls a restricted table public to export it',
    intent: (agent, id) => base(agent, { action: { name: 'data.export', domain: 'data', reversible: false }, resource: table(id, 'public'), context: { rows: 10 } }),
    store: { label: { sensitivity: 'restricted' } }, verdicts: ['deny'], codes: ['RESTRICTED_DATA'],
  },
  {
    field: 'intent.resource.properties.environment', says: 'calls a production service staging (an autonomous agent)',
    intent: (agent, id) => ({
      ...base(agent, { action: { name: 'infra.restart', domain: 'infra', reversible: true }, resource: { type: 'service', id, properties: { sensitivity: 'internal', environment: 'staging' } } }),
      subject: { type: 'agent', id: agent, properties: { autonomy: 'autonomous' } },
    }),
    // Whatever the hour: outside the change window it is a deny, inside an escalation.
    store: { agent: { autonomy: 'autonomous' }, label: { sensitivity: 'internal', environment: 'production' } }, verdicts: ['deny', 'escalate'], codes: [],
    anyOf: ['AUTONOMOUS_PRODUCTION_CHANGE', 'OUTSIDE_CHANGE_WINDOW'],
  },
  {
    field: 'intent.resource.type', says: 'names a labelled confidential table by another type, to miss its label',
    intent: (agent, id) => base(agent, { action: { name: 'data.delete', domain: 'data', reversible: false }, resource: { type: 'Table', id, properties: { sensitivity: 'internal' } }, context: { rows: 100 } }),
    // Labelled as `table`; as `Table` it is a resource the store does not know: at least confidential.
    store: { label: { sensitivity: 'confidential' } }, labelType: 'table', verdicts: ['escalate'], codes: ['IRREVERSIBLE_HIGH_IMPACT'],
  },
  {
    field: 'intent.session.id', says: 'opens a new session for each export to start a new budget',
    intent: (agent, id) => base(agent, { action: { name: 'data.export', domain: 'data', reversible: false }, resource: table(id, 'confidential'), context: { rows: 1000 } }),
    before: (agent, id) => Array.from({ length: 10 }, () => base(agent, { action: { name: 'data.export', domain: 'data', reversible: false }, resource: table(id, 'confidential'), context: { rows: 1000 } })),
    store: { label: { sensitivity: 'confidential' }, usage: 10_000 }, verdicts: ['deny'], codes: ['AGENT_EXPORT_BUDGET_EXCEEDED'],
  },
  {
    field: 'intent.context', says: 'asks for a delete without saying how many rows (the executor would pick)',
    intent: (agent, id) => base(agent, { action: { name: 'data.delete', domain: 'data', reversible: false }, resource: table(id, 'internal') }),
    store: {}, verdicts: ['deny'], codes: ['ACTION_ARGUMENT_MISSING'],
  },
  {
    field: 'intent.session.request_source', says: 'names a request source the policy does not know',
    intent: (agent, id) => base(agent, {
      action: { name: 'data.query', domain: 'data', reversible: true }, resource: table(id, 'internal'),
      session: { id: `lie-${randomUUID().slice(0, 8)}`, workflow_step: 'reconcile', request_source: 'trusted-by-me' },
    }),
    store: {}, verdicts: ['deny'], codes: ['UNKNOWN_SOURCE'],
  },
  {
    field: 'intent.session.workflow_step', says: 'writes from a workflow step the policy does not list',
    intent: (agent) => base(agent, {
      action: { name: 'http.post', domain: 'app', reversible: false }, resource: { type: 'http_endpoint', id: 'http://localhost/orders', properties: { sensitivity: 'internal' } },
      session: { id: `lie-${randomUUID().slice(0, 8)}`, workflow_step: 'whatever-i-like', request_source: 'user' }, context: { body: {} },
    }),
    store: {}, verdicts: ['deny'], codes: ['METHOD_NOT_PERMITTED'],
  },
];

/**
 * The intent with the credentials an honest platform holds for its agent (a JWT-SVID and alice's
 * delegation, signed by the trust domain's `key`), and the identity lie told with them: the
 * credentials are `other`'s, or grant a narrower scope than the intent states.
 */
export async function withLieCredentials(intent: Intent, key: SigningKey, trustDomain: string, other: string, lie?: Lie): Promise<Intent> {
  const grantTo = lie?.identity === 'names-another-agent' ? other : intent.subject.id;
  const scope = lie?.identity === 'wider-scope-than-tokens' ? ['data:data.query'] : ['*'];
  const link = await issueDelegation(key, trustDomain, { delegator: 'alice@example.org', delegatorKind: 'human', delegate: grantTo, delegateKind: 'agent', scope, jti: randomUUID() });
  return { ...intent, credentials: { svid: await issueSvid(key, grantTo), delegation: [link] } };
}

/** The same field told the other way: agents the registry has never heard of, or has suspended. */
export const REGISTRY_LIES = {
  unregistered: { verdicts: ['deny'], codes: ['AGENT_UNKNOWN'] },
  suspended: { verdicts: ['deny'], codes: ['AGENT_SUSPENDED'] },
} as const;
