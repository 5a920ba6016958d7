// The AuthZEN front door on the real stack: every request becomes an intent on the same topics
// and gets the same decision; malformed or unauthenticated requests get JSON errors with codes.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '@intentgate/contracts';
import { exampleIntent } from '@intentgate/contracts/examples';
import { Gateway } from '@intentgate/gateway';
import { generateSigningKey, issueSvid, jwksOf, type SigningKey } from '@intentgate/evidence';
import { connection, decisionWorker, eventually, stack, testBus, testTrust } from '@intentgate/test';

const AGENT = 'spiffe://example.org/agents/gateway-caller';
const TOKEN = `tok-${randomUUID()}`;
const bus = testBus();
const stoppers: Array<() => Promise<unknown>> = [];
let gateway: Gateway;
let key: SigningKey;

function evaluation(over: { action?: string; reversible?: boolean; sensitivity?: string; rows?: number; session?: string } = {}) {
  return {
    subject: { type: 'agent', id: AGENT, properties: { autonomy: 'supervised' } },
    action: { name: over.action ?? 'data.query', properties: { domain: 'data', reversible: over.reversible ?? true } },
    resource: { type: 'table', id: 'gateway.table', properties: { sensitivity: over.sensitivity ?? 'internal' } },
    context: {
      session: { id: over.session ?? `gw-${randomUUID().slice(0, 8)}`, workflow_step: 'reconcile', request_source: 'user' },
      delegation: [{ principal: 'alice@example.org', kind: 'human', scope: ['*'] }, { principal: AGENT, kind: 'agent', scope: ['data:*'] }],
      ...(over.rows !== undefined ? { rows: over.rows } : {}),
    },
  };
}

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${gateway.url}${path}`, {
    method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, ...headers },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, challenge: res.headers.get('www-authenticate') };
}

beforeAll(async () => {
  const s = stack();
  const service = await decisionWorker(bus, 'gateway');
  stoppers.push(() => service.stop());
  key = await generateSigningKey('example.org-gw');
  gateway = await Gateway.start({
    roots: (await testTrust()).roots, ...connection('authzen-gateway'), callers: { tests: TOKEN }, maxBodyBytes: 16 * 1024,
    trust: new Map([['example.org', jwksOf([key])]]),
  });
  stoppers.push(() => gateway.stop());
}, 600_000);

afterAll(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => {});
  await bus.close();
});

describe('AuthZEN gateway', () => {
  it('publishes its discovery document', async () => {
    const doc = (await (await fetch(`${gateway.url}/.well-known/authzen-configuration`)).json()) as Record<string, string>;
    expect(doc.access_evaluation_endpoint).toBe(`${gateway.url}/access/v1/evaluation`);
    expect(doc.access_evaluations_endpoint).toBe(`${gateway.url}/access/v1/evaluations`);
  });

  it('allow and deny come from the pipeline, with the decision id and reasons', async () => {
    const allow = await post('/access/v1/evaluation', evaluation());
    expect(allow).toMatchObject({ status: 200, body: { decision: true, context: { decision_id: expect.any(String), reasons: [{ code: 'ALL_GUARDS_PASSED' }] } } });
    const deny = await post('/access/v1/evaluation', evaluation({ action: 'data.export', reversible: false, sensitivity: 'confidential', rows: 5_000 }));
    expect(deny).toMatchObject({ status: 200, body: { decision: false, context: { reasons: [{ code: 'EXPORT_BUDGET_EXCEEDED' }] } } });
  });

  it('an escalation holds the request and answers false at the caller deadline', async () => {
    // The pipeline's own answer, read off the decisions topic: an escalation (not a final decision that never came).
    const session = `gw-escalate-${randomUUID().slice(0, 8)}`;
    const seen: Decision[] = [];
    const watch = bus.consumer<'Decision'>({
      groupId: `test-gw-watch-${randomUUID().slice(0, 8)}`, topics: ['decisions'], fromBeginning: true,
      handle: async (records) => {
        for (const r of records) if (r.key === session) seen.push(r.value);
      },
    });
    await watch.start();
    try {
      const held = await post('/access/v1/evaluation', evaluation({ action: 'data.delete', reversible: false, sensitivity: 'confidential', rows: 5, session }), { 'x-intentgate-timeout-ms': '800' });
      expect(held).toMatchObject({ status: 200, body: { decision: false, context: { reasons: [{ code: 'DECISION_TIMEOUT' }] } } });
      await eventually(() => seen.length > 0, 'the escalation on the decisions topic', 60_000);
      expect(seen.map((d) => [d.verdict, d.final])).toEqual([['escalate', false]]);
      expect(seen[0]!.reasons.map((r) => r.code)).toContain('IRREVERSIBLE_HIGH_IMPACT');
    } finally {
      await watch.stop();
    }
  });

  it('batch evaluations answer each one; a malformed member is false with its error', async () => {
    const { subject, ...first } = evaluation();
    const res = await post('/access/v1/evaluations', { subject, evaluations: [first, { ...evaluation({ action: 'data.export', sensitivity: 'confidential', rows: 5_000 }) }, { action: { name: 'x' } }] });
    const results = res.body.evaluations as Array<{ decision: boolean; context: { error?: { code: string } } }>;
    expect(results.map((r) => r.decision)).toEqual([true, false, false]);
    expect(results[2]!.context.error?.code).toBe('INVALID_REQUEST');
  });

  it('POST /v1/intents answers the full Decision, with its warrant when allowed', async () => {
    const intent = { ...exampleIntent(), subject: { type: 'agent', id: AGENT, properties: { autonomy: 'supervised' } },
      delegation: [{ principal: 'alice@example.org', kind: 'human', scope: ['*'] }, { principal: AGENT, kind: 'agent', scope: ['data:*'] }],
      action: { name: 'data.query', domain: 'data', reversible: true }, resource: { type: 'table', id: 'gw', properties: { sensitivity: 'internal' } }, context: {} };
    const res = await post('/v1/intents', intent);
    expect(res.status).toBe(200);
    const d = res.body as unknown as Decision;
    expect(d).toMatchObject({ intent_id: intent.intent_id, verdict: 'allow', final: true });
    expect(d.warrant).toBeTruthy();
  });

  it('an agent may authenticate with its JWT-SVID, and then only ask about itself', async () => {
    const svid = await issueSvid(key, AGENT);
    expect(await post('/access/v1/evaluation', evaluation(), { authorization: `Bearer ${svid}` })).toMatchObject({ status: 200, body: { decision: true } });
    const other = await issueSvid(key, 'spiffe://example.org/agents/someone-else');
    expect(await post('/access/v1/evaluation', evaluation(), { authorization: `Bearer ${other}` })).toMatchObject({ status: 403, body: { code: 'SUBJECT_NOT_CALLER' } });
    const expired = await issueSvid(key, AGENT, 60, Math.floor(Date.now() / 1000) - 3600);
    const refused = await post('/access/v1/evaluation', evaluation(), { authorization: `Bearer ${expired}` });
    expect(refused).toMatchObject({ status: 401, body: { code: 'UNAUTHENTICATED' } });
    expect(String(refused.body.message)).toMatch(/SVID_EXPIRED/);
  });

  it('malformed, oversized and unauthenticated requests get JSON errors with codes', async () => {
    expect(await post('/access/v1/evaluation', '{not json')).toMatchObject({ status: 400, body: { code: 'INVALID_JSON' } });
    const { resource: _r, ...noResource } = evaluation();
    const bad = await post('/access/v1/evaluation', noResource);
    expect(bad).toMatchObject({ status: 400, body: { code: 'INVALID_REQUEST' } });
    expect(String(bad.body.message)).toMatch(/resource/);
    expect(await post('/access/v1/evaluation', { pad: 'x'.repeat(20_000) })).toMatchObject({ status: 413, body: { code: 'REQUEST_TOO_LARGE' } });
    expect(await post('/access/v1/evaluation', evaluation(), { authorization: 'Bearer nope' })).toMatchObject({ status: 401, body: { code: 'UNAUTHENTICATED' }, challenge: 'Bearer realm="intentgate-authzen"' });
    expect(await post('/access/v1/evaluation', evaluation(), { authorization: '' })).toMatchObject({ status: 401, body: { code: 'UNAUTHENTICATED', message: 'send Authorization: Bearer <token>' } });
    expect(gateway.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await post('/v1/intents', { intent_id: 'x' })).toMatchObject({ status: 400, body: { code: 'INVALID_REQUEST' } });
  });
});
