// The decision logic without servers: real Wasm from the starter policy, fake nothing else.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseMessage, type Intent } from '@intentgate/contracts';
import { exampleIntent } from '@intentgate/contracts/examples';
import { canonicalJson, certifiedSigner, digestOf, generateSigningKey, jwksOf, verifyWarrant, type SigningKey } from '@intentgate/evidence';
import { ensureOpa, projectRoot } from '@intentgate/infra';
import { buildBundle, PolicyEngine, PolicyError } from '@intentgate/policy';
import type { ContextSnapshot } from '@intentgate/context';
import { basisOf, canonicalInputJson, decide, denyDeadLetter, exportedRowsOf, policyInputOf, type DecideSettings } from '../src/decide.ts';

const AGENT = 'spiffe://example.org/agents/helper';
let engine: PolicyEngine;
let key: SigningKey;
let settings: DecideSettings;
const clock = { now: () => Date.parse('2026-11-24T12:00:00Z') };

function intent(over: Partial<Intent> = {}): Intent {
  return {
    ...exampleIntent(),
    subject: { type: 'agent', id: AGENT, properties: { autonomy: 'supervised' } },
    delegation: [{ principal: 'alice@example.org', kind: 'human', scope: ['*'] }, { principal: AGENT, kind: 'agent', scope: ['data:*'] }],
    action: { name: 'data.query', domain: 'data', reversible: true },
    ...over,
  };
}

const snapshot: ContextSnapshot = {
  session: { exported_rows: 0, actions: 0, denied: 0 }, usage: { exported_rows: 0 }, resource: { sensitivity: null, environment: null }, agent: { revoked: false, registered: true, status: 'active', owner: 'alice@example.org', autonomy: 'assisted', domains: ['app', 'data', 'infra', 'ai'], actions: ['*'], revision: 1 }, revoked: [], synced_at: 1,
};

beforeAll(async () => {
  const bundle = await buildBundle({ opaPath: await ensureOpa(), policyDir: join(projectRoot, 'policies') });
  engine = await PolicyEngine.load(bundle.bytes, { version: '1' });
  const signer = await certifiedSigner(await generateSigningKey('root'), 'k1', { principal: 'ig', uses: ['warrant', 'approval-request', 'receipt'], receiptKinds: ['decision'] });
  key = signer.key;
  settings = { issuer: 'ig', producer: 'ig/test', warrantTtlSeconds: 30, policyTimeoutMicros: 1_000_000, defaultApprovalDeadlineSeconds: 300, approvalDeadlineCapSeconds: 60, signer };
}, 600_000);

describe('decide', () => {
  it('allow: a contract-valid decision, a warrant bound to the intent digest, the approved intent and a receipt with the full input', async () => {
    const i = intent();
    const { decision, records } = await decide(i, snapshot, engine, settings, clock);
    expect(() => parseMessage('Decision', decision)).not.toThrow();
    expect(decision).toMatchObject({ verdict: 'allow', final: true, intent_digest: digestOf(i), decided_at: '2026-11-24T12:00:00.000Z' });
    const claims = await verifyWarrant(decision.warrant, { jwks: jwksOf([key]), issuer: 'ig', domain: 'data', intentDigest: digestOf(i), decisionId: decision.decision_id, now: clock.now() / 1000 });
    expect(claims.exp - claims.iat).toBe(30);
    expect(records.map((r) => r.topic)).toEqual(['decisions', 'intents.approved.data', 'receipts']);
    const receipt = parseMessage('Receipt', records[2]!.value);
    const body = receipt.body as { input: { intent: Intent; context: { now: { hour_utc: number; weekday: number } } } };
    expect(body.input.intent).toEqual(i);
    expect(body.input.context.now).toMatchObject({ hour_utc: 12, weekday: 2 });
    expect(decision.input_digest).toBe(digestOf(body.input));
    for (const r of records) expect(() => parseMessage(r.topic === 'decisions' ? 'Decision' : r.topic === 'receipts' ? 'Receipt' : 'ApprovedIntent', r.value)).not.toThrow();
  });

  it('escalate: not final, an approval request with the capped deadline, no warrant', async () => {
    const i = intent({ action: { name: 'data.delete', domain: 'data', reversible: false }, context: { rows: 5 }, resource: { type: 'table', id: 'x', properties: { sensitivity: 'confidential' } } });
    const { decision, records } = await decide(i, snapshot, engine, settings, clock);
    expect(decision).toMatchObject({ verdict: 'escalate', final: false });
    expect(decision.warrant).toBeUndefined();
    const request = parseMessage('ApprovalRequest', records.find((r) => r.topic === 'approvals.requests')!.value);
    expect(request.deadline).toBe('2026-11-24T12:01:00.000Z');
    expect(request.intent_digest).toBe(digestOf(i));
  });

  it('escalate: the approval request carries what the decision was made on, not what the agent claimed', async () => {
    // Unlabelled: the floor (confidential) outranks the agent's "internal"; environment defaults to production.
    const unlabelled = intent({ subject: { type: 'agent', id: AGENT, properties: { autonomy: 'supervised' } }, action: { name: 'data.delete', domain: 'data', reversible: false }, context: { rows: 5, note: 'old' }, resource: { type: 'table', id: 'x', properties: { sensitivity: 'internal', environment: 'staging' } } });
    const first = await decide(unlabelled, snapshot, engine, settings, clock);
    expect(first.decision.verdict).toBe('escalate');
    const request = parseMessage('ApprovalRequest', first.records.find((r) => r.topic === 'approvals.requests')!.value);
    expect(request.sensitivity).toBe('confidential');
    expect(request.basis).toEqual({
      // The registry says assisted, the agent claims supervised (more autonomous): decided, and shown, as supervised.
      agent: { autonomy: 'supervised', owner: 'alice@example.org' },
      resource: { sensitivity: 'confidential', environment: 'production', labelled: false },
      binds: ['rows'],
      action: { reversible: false },
    });
    // A delete the agent calls reversible is irreversible as decided (the catalog's word); a query it calls reversible is.
    const claimed = intent({ action: { name: 'data.delete', domain: 'data', reversible: true }, context: { rows: 5 } });
    expect(basisOf(claimed, policyInputOf(claimed, snapshot, clock.now()), engine.data).action).toEqual({ reversible: false });
    const query = intent();
    expect(basisOf(query, policyInputOf(query, snapshot, clock.now()), engine.data).action).toEqual({ reversible: true });
    // Labelled: the store's labels, raised (never lowered) by the agent's claim.
    const labelled: ContextSnapshot = { ...snapshot, resource: { sensitivity: 'public', environment: 'staging' } };
    const raised = intent({ action: { name: 'data.delete', domain: 'data', reversible: false }, context: { rows: 5 }, resource: { type: 'table', id: 'x', properties: { sensitivity: 'confidential' } } });
    const second = await decide(raised, labelled, engine, settings, clock);
    const other = parseMessage('ApprovalRequest', second.records.find((r) => r.topic === 'approvals.requests')!.value);
    expect(other.basis?.resource).toEqual({ sensitivity: 'confidential', environment: 'staging', labelled: true });
    expect(basisOf(raised, policyInputOf(raised, labelled, clock.now()), engine.data).resource).toEqual(other.basis?.resource);
    // The intent may say production for a resource the store calls staging, and that stands.
    const prod = { ...raised, resource: { ...raised.resource, properties: { sensitivity: 'confidential' as const, environment: 'production' } } };
    expect(basisOf(prod, policyInputOf(prod, labelled, clock.now()), engine.data).resource.environment).toBe('production');
    // An agent the registry does not know has no facts; without bundle data the shipped floor applies.
    const unknown: ContextSnapshot = { ...snapshot, agent: { ...snapshot.agent, registered: false, owner: null, autonomy: null } };
    expect(basisOf(unlabelled, policyInputOf(unlabelled, unknown, clock.now()))).toMatchObject({ agent: null, resource: { sensitivity: 'confidential', labelled: false }, binds: [] });
  });

  it('context unavailable or no bundle: deny with the reason, no policy named, nothing approved', async () => {
    const noContext = await decide(intent(), new Error('redis down'), engine, settings, clock);
    expect(noContext.decision).toMatchObject({ verdict: 'deny', reasons: [{ code: 'CONTEXT_UNAVAILABLE' }], policy: null });
    expect(noContext.records.map((r) => r.topic)).toEqual(['decisions', 'receipts']);
    const noBundle = await decide(intent(), snapshot, null, settings, clock);
    expect(noBundle.decision).toMatchObject({ verdict: 'deny', reasons: [{ code: 'NO_ACTIVE_BUNDLE' }] });
    const broken = await decide(intent(), snapshot, new PolicyError('BUNDLE_CORRUPT', 'bad'), settings, clock);
    expect(broken.decision).toMatchObject({ verdict: 'deny', reasons: [{ code: 'BUNDLE_CORRUPT' }] });
  });

  it('counts exported rows only for an allowed export', async () => {
    const i = intent({ action: { name: 'data.export', domain: 'data', reversible: false }, context: { rows: 40 } });
    expect((await decide(i, snapshot, engine, settings, clock)).exportedRows).toBe(40);
    expect((await decide(i, new Error('x'), engine, settings, clock)).exportedRows).toBe(0);
  });

  it('a dead-lettered intent with a readable id gets a final deny; one without gets nothing to address', () => {
    const letter = {
      original: { topic: 'intents', partition: 0, offset: '1', key: Buffer.from('sess').toString('base64'), value: Buffer.from('{x').toString('base64'), headers: {}, timestamp: '1' },
      reason: { code: 'UNDECODABLE', message: 'bad' }, intent_id: '3b241101-e2bb-4255-8caf-4136c566a962', consumer_group: 'g', failed_at: '2026-11-24T12:00:00Z',
    };
    const records = denyDeadLetter(letter, settings, clock);
    expect(records.map((r) => [r.topic, r.key])).toEqual([['decisions', 'sess'], ['receipts', letter.intent_id]]);
    expect(parseMessage('Decision', records[0]!.value)).toMatchObject({ verdict: 'deny', reasons: [{ code: 'INTENT_INVALID' }] });
    expect(denyDeadLetter({ ...letter, intent_id: null }, settings, clock)).toEqual([]);
  });

  it('the final deny of a dead letter says whether the intent broke the contract or failed on its way', () => {
    const letter = (code: string) => ({
      original: { topic: 'intents', partition: 0, offset: '1', key: null, value: null, headers: {}, timestamp: '1' },
      reason: { code, message: 'why' }, intent_id: '3b241101-e2bb-4255-8caf-4136c566a962', consumer_group: 'g', failed_at: '2026-11-24T12:00:00Z',
    });
    const reasonOf = (code: string) => parseMessage('Decision', denyDeadLetter(letter(code), settings, clock)[0]!.value).reasons[0];
    for (const code of ['SCHEMA_INVALID', 'NUMBER_NOT_FINITE', 'LONE_SURROGATE', 'NESTING_TOO_DEEP', 'MESSAGE_TOO_LARGE', 'UTF8_INVALID']) {
      expect(reasonOf(code)).toEqual({ code: 'INTENT_INVALID', rule: 'intentgate.contract', message: `${code}: why` });
    }
    for (const code of ['DECISION_FAILED', 'OUTPUT_INVALID', 'OUTPUT_REFUSED', 'PROCESSING_FAILED']) {
      expect(reasonOf(code)).toEqual({ code: 'INTENT_UNPROCESSABLE', rule: 'intentgate.containment', message: `${code}: why` });
    }
  });

  it('the input text built around the intent\'s canonical text is the canonical JSON of the input', async () => {
    const identity = { subject: AGENT, trust_domain: 'example.org', chain: [{ principal: 'alice@example.org', kind: 'human', scope: ['*'], token_id: 't1', key_id: 'k' }] };
    for (const id of [null, identity]) {
      const i = intent({ context: { rows: 5, note: 'é\u2028"' } });
      const input = policyInputOf(i, snapshot, clock.now(), id as never);
      expect(canonicalInputJson(input, canonicalJson(input.intent))).toBe(canonicalJson(input));
    }
    const i = intent();
    const { decision, records } = await decide(i, snapshot, engine, settings, clock);
    const receipt = records.find((r) => r.topic === 'receipts')!.value as { body: { input: unknown } };
    expect(decision.input_digest).toBe(digestOf(receipt.body.input));
    expect(decision.intent_digest).toBe(digestOf(i));
  });
});

describe('replay', () => {
  it('a recorded decision replays identically under its bundle, and differently under another', async () => {
    const { replayDecision } = await import('@intentgate/policy');
    const { starterBundle, variantBundle } = await import('@intentgate/test');
    const v1 = await starterBundle();
    const e1 = await PolicyEngine.load(v1.bytes, { version: '1' });
    const cases = [
      intent(),
      intent({ action: { name: 'data.export', domain: 'data', reversible: false }, context: { rows: 5000 }, resource: { type: 'table', id: 'x', properties: { sensitivity: 'confidential' } } }),
      intent({ action: { name: 'data.delete', domain: 'data', reversible: false }, context: { rows: 5 }, resource: { type: 'table', id: 'x', properties: { sensitivity: 'confidential' } } }),
    ];
    const recorded = [];
    for (const i of cases) {
      const { records } = await decide(i, snapshot, e1, settings, clock);
      const receipt = parseMessage('Receipt', records.find((r) => r.topic === 'receipts')!.value);
      recorded.push(receipt.body as { decision: import('@intentgate/contracts').Decision; input: unknown });
    }
    for (const r of recorded) expect(await replayDecision(r, v1.bytes)).toMatchObject({ identical: true, differences: [] });

    // Under a bundle with another approval deadline, the escalation replays differently.
    const v2 = await variantBundle((data) => (data.approval.deadline_seconds = 60));
    const escalation = await replayDecision(recorded[2]!, v2.bytes);
    expect(escalation.identical).toBe(false);
    expect(escalation.differences.join('\n')).toMatch(/bundle digest/);
    expect(escalation.differences.join('\n')).toMatch(/"deadline_seconds":60/);
    // A tampered input no longer matches its digest.
    const tampered = { ...recorded[0]!, input: { ...(recorded[0]!.input as object), context: {} } };
    expect((await replayDecision(tampered, v1.bytes)).differences.join('\n')).toMatch(/input_digest/);
  });
});

describe('exportedRowsOf', () => {
  const exportOf = (rows: unknown): Intent => ({ ...exampleIntent(), action: { name: 'data.export', domain: 'data', reversible: false }, context: { rows } } as Intent);
  it('counts the whole, positive rows of an allowed export and nothing else', () => {
    expect(exportedRowsOf(exportOf(10), 'allow')).toBe(10);
    expect(exportedRowsOf(exportOf(10), 'deny')).toBe(0);
    expect(exportedRowsOf(exportOf(10), 'escalate')).toBe(0);
    for (const rows of [-5, 0.5, Number.NaN, Infinity, '10', null]) expect(exportedRowsOf(exportOf(rows), 'allow'), String(rows)).toBe(0);
  });
});
