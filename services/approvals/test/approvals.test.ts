import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMessage, type ApprovalRequest, type ApprovalResponse, type Decision } from '@intentgate/contracts';
import { exampleIntent } from '@intentgate/contracts/examples';
import { certifyKey, certifyService, digestOf, ensureTrustMaterial, generateSigningKey, jwksOf, verifyWarrant, withSignature, type SigningKey } from '@intentgate/evidence';
import { AnswerRefused, checkAnswer, derivedId, finalRecords, hashPassword, html, parseReviewers, settle, verifyPassword, type Reviewer } from '../src/index.ts';
import { LoginLimiter, Sessions } from '../src/sessions.ts';
import { ApprovalStore } from '../src/store.ts';

const NOW = Date.parse('2026-11-24T12:00:00Z');
const alice: Reviewer = { id: 'alice', name: 'Alice', principals: ['alice@example.org'] };
const bob: Reviewer = { id: 'bob', name: 'Bob', principals: ['bob@example.org'] };
const carol: Reviewer = { id: 'carol', name: 'Carol', principals: ['carol@example.org'] };
let key: SigningKey;
/** Stands for the decision worker that escalated: the store and the review rules take requests already verified. */
const escalator = await generateSigningKey('decision-test');

function request(over: Partial<ApprovalRequest> = {}): ApprovalRequest {
  const intent = { ...exampleIntent(), delegation: [{ principal: 'alice@example.org', kind: 'human' as const, scope: ['*'] }, { principal: 'spiffe://example.org/agents/a', kind: 'agent' as const, scope: ['infra:*'] }] };
  const { signature: _signature, ...rest } = over;
  return parseMessage('ApprovalRequest', withSignature(escalator, 'ApprovalRequest', {
    intent_id: intent.intent_id, decision_id: randomUUID(), intent, intent_digest: digestOf(intent),
    reasons: [{ code: 'IRREVERSIBLE_IN_DOMAIN', rule: 'r', message: 'm' }], quorum: 1, reviewers: [],
    deadline: new Date(NOW + 60_000).toISOString(), requested_at: new Date(NOW).toISOString(),
    policy: { bundle_digest: 'b'.repeat(64), version: '1', entrypoint: 'intentgate/decision/decision' }, sensitivity: 'internal', ...rest,
  })) as ApprovalRequest;
}

function response(r: ApprovalRequest, reviewer: string, answer: 'approve' | 'deny', digest = r.intent_digest): ApprovalResponse {
  return { intent_id: r.intent_id, decision_id: r.decision_id, intent_digest: digest, reviewer, answer, responded_at: new Date(NOW).toISOString() };
}

function refusal(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof AnswerRefused) return err.code;
    throw err;
  }
  return 'accepted';
}

beforeAll(async () => {
  key = await generateSigningKey('approvals-test');
});

describe('review rules', () => {
  it('refuses an answer about another digest, after the deadline, from a non-named reviewer, or twice', () => {
    const r = request();
    expect(refusal(() => checkAnswer(r, [], bob, 'approve', r.intent_digest, NOW))).toBe('accepted');
    expect(refusal(() => checkAnswer(r, [], bob, 'approve', 'c'.repeat(64), NOW))).toBe('APPROVAL_DIGEST_MISMATCH');
    expect(refusal(() => checkAnswer(r, [], bob, 'approve', r.intent_digest, NOW + 60_000))).toBe('APPROVAL_DEADLINE_PASSED');
    const named = request({ reviewers: ['carol'] });
    expect(refusal(() => checkAnswer(named, [], bob, 'approve', named.intent_digest, NOW))).toBe('REVIEWER_NOT_ELIGIBLE');
    expect(refusal(() => checkAnswer(named, [], carol, 'approve', named.intent_digest, NOW))).toBe('accepted');
    expect(refusal(() => checkAnswer(r, [response(r, 'bob', 'approve')], bob, 'deny', r.intent_digest, NOW))).toBe('ALREADY_ANSWERED');
  });

  it('separation of duties: whoever started the delegation chain may deny but never approve', () => {
    const r = request();
    expect(refusal(() => checkAnswer(r, [], alice, 'approve', r.intent_digest, NOW))).toBe('SEPARATION_OF_DUTIES');
    expect(refusal(() => checkAnswer(r, [], alice, 'deny', r.intent_digest, NOW))).toBe('accepted');
  });

  it('settles on quorum, on any deny, and on the deadline; never on answers about another digest', () => {
    const r = request({ quorum: 2 });
    expect(settle(r, [response(r, 'bob', 'approve')], NOW)).toBeNull();
    expect(settle(r, [response(r, 'bob', 'approve'), response(r, 'bob', 'approve')], NOW)).toBeNull();
    expect(settle(r, [response(r, 'bob', 'approve'), response(r, 'carol', 'approve')], NOW)).toEqual({ outcome: 'approved', approvers: ['bob', 'carol'] });
    expect(settle(r, [response(r, 'bob', 'approve'), response(r, 'carol', 'deny')], NOW)).toEqual({ outcome: 'denied', by: 'carol' });
    expect(settle(r, [response(r, 'bob', 'approve'), response(r, 'carol', 'approve', 'd'.repeat(64))], NOW)).toBeNull();
    expect(settle(r, [response(r, 'bob', 'approve')], NOW + 60_000)).toEqual({ outcome: 'timeout' });
  });

  it('derived ids are stable UUIDs, different per purpose', () => {
    const id = randomUUID();
    expect(derivedId(id, 'approved')).toBe(derivedId(id, 'approved'));
    expect(derivedId(id, 'approved')).not.toBe(derivedId(id, 'timeout'));
    expect(derivedId(id, 'x')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('final records', () => {
  let certificate = '';
  beforeAll(async () => {
    certificate = certifyKey(await generateSigningKey('root'), key, { principal: 'intentgate-approvals', uses: ['warrant', 'receipt'], receiptKinds: ['approval'] });
  });
  const settings = () => ({ issuer: 'intentgate-approvals', producer: 'approvals/test', warrantTtlSeconds: 30, key, certificate });

  it('an approval is an allow whose warrant is bound to the digest the reviewers saw, with a receipt naming them', async () => {
    const r = request();
    const answers = [response(r, 'bob', 'approve')];
    const { decision, records } = await finalRecords(r, answers, { outcome: 'approved', approvers: ['bob'] }, settings(), NOW);
    expect(parseMessage('Decision', decision)).toMatchObject({ verdict: 'allow', final: true, reasons: [{ code: 'APPROVED_BY_REVIEW' }], policy: r.policy });
    expect(records.map((x) => x.topic)).toEqual(['decisions', `intents.approved.${r.intent.action.domain}`, 'receipts']);
    const claims = await verifyWarrant(decision.warrant, {
      jwks: jwksOf([key]), issuer: ['intentgate-decision', 'intentgate-approvals'], domain: r.intent.action.domain,
      intentDigest: r.intent_digest, decisionId: decision.decision_id, now: Math.floor(NOW / 1000),
    });
    expect(claims.sub).toBe(r.intent_id);
    const changed = { ...r.intent, context: { ...r.intent.context, extra: true } };
    await expect(verifyWarrant(decision.warrant, {
      jwks: jwksOf([key]), issuer: 'intentgate-approvals', domain: r.intent.action.domain, intentDigest: digestOf(changed), decisionId: decision.decision_id, now: Math.floor(NOW / 1000),
    })).rejects.toMatchObject({ code: 'WARRANT_DIGEST_MISMATCH' });
    const receipt = parseMessage('Receipt', records[2]!.value) as unknown as { kind: string; body: { responses: ApprovalResponse[]; outcome: string } };
    expect(receipt.kind).toBe('approval');
    expect(receipt.body.outcome).toBe('approved');
    expect(receipt.body.responses).toEqual([{ reviewer: 'bob', answer: 'approve', intent_digest: r.intent_digest, responded_at: answers[0]!.responded_at }]);
    // The same settlement published again is the same records (ids derived, not random).
    const again = await finalRecords(r, answers, { outcome: 'approved', approvers: ['bob'] }, settings(), NOW);
    expect(again.decision.decision_id).toBe(decision.decision_id);
    expect((again.records[2]!.value as { receipt_id: string }).receipt_id).toBe((records[2]!.value as { receipt_id: string }).receipt_id);
  });

  it('timeouts, denials and malformed requests are final denies without a warrant', async () => {
    const r = request();
    const cases: Array<[Parameters<typeof finalRecords>[2], ApprovalRequest, string]> = [
      [{ outcome: 'timeout' }, r, 'APPROVAL_TIMEOUT'],
      [{ outcome: 'denied', by: 'bob' }, r, 'APPROVAL_DENIED'],
      [{ outcome: 'approved', approvers: ['bob'] }, { ...r, intent_digest: 'e'.repeat(64) }, 'APPROVAL_REQUEST_INVALID'],
      [{ outcome: 'approved', approvers: ['bob'] }, (({ policy: _p, ...rest }) => rest)(r), 'APPROVAL_REQUEST_INVALID'],
    ];
    for (const [settlement, req, code] of cases) {
      const { decision, records } = await finalRecords(req, [], settlement, settings(), NOW);
      expect(parseMessage('Decision', decision) as Decision).toMatchObject({ verdict: 'deny', final: true, reasons: [{ code }] });
      expect(decision.warrant).toBeUndefined();
      expect(records.map((x) => x.topic)).toEqual(['decisions', 'receipts']);
    }
  });
});

describe('pending store', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ig-approvals-store-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('keeps requests, answers and unpublished settlements across a reopen; redelivery adds nothing', () => {
    const path = join(dir, 'a.db');
    const r = request();
    let store = new ApprovalStore(path);
    expect(store.add([r], new Date(NOW).toISOString())).toBe(1);
    expect(store.add([r], new Date(NOW).toISOString())).toBe(0);
    store.addResponse(response(r, 'bob', 'approve'));
    store.close();
    store = new ApprovalStore(path);
    expect(store.pending().map((p) => [p.request.decision_id, p.responses.length])).toEqual([[r.decision_id, 1]]);
    store.settling(r.decision_id, { outcome: 'timeout' }, [{ topic: 'decisions', key: 'k', value: { x: 1 } }], 'deny', 'APPROVAL_TIMEOUT', new Date(NOW).toISOString());
    store.close();
    store = new ApprovalStore(path);
    expect(store.pending()).toEqual([]);
    expect(store.unpublished()).toEqual([{ decisionId: r.decision_id, records: [{ topic: 'decisions', key: 'k', value: { x: 1 } }] }]);
    store.published(r.decision_id);
    expect(store.unpublished()).toEqual([]);
    expect(store.history().map((h) => [h.verdict, h.reason])).toEqual([['deny', 'APPROVAL_TIMEOUT']]);
    store.close();
  });
});

describe('page safety', () => {
  it('escapes every interpolated value, in text and in attributes', () => {
    const evil = '<script>alert(1)</script>" onmouseover="x\'`&';
    const out = html`<p title="${evil}">${evil}${[evil]}</p>`.text;
    expect(out).not.toContain('<script>');
    expect(out).toBe(`<p title="${'&lt;script&gt;alert(1)&lt;/script&gt;&quot; onmouseover=&quot;x&#39;&#96;&amp;'}">${'&lt;script&gt;alert(1)&lt;/script&gt;&quot; onmouseover=&quot;x&#39;&#96;&amp;'.repeat(2)}</p>`);
    expect(html`<div>${html`<b>${evil}</b>`}</div>`.text).toMatch(/^<div><b>&lt;script&gt;/);
  });

  it('passwords are scrypt-hashed and verified; unknown reviewers verify false', async () => {
    const hash = await hashPassword('correct horse');
    expect(hash).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(await verifyPassword('correct horse', hash)).toBe(true);
    expect(await verifyPassword('wrong', hash)).toBe(false);
    expect(await verifyPassword('correct horse', undefined)).toBe(false);
  });

  it('the reviewers file is validated with clear errors', () => {
    expect(() => parseReviewers({ reviewers: [{ id: 'a', name: 'A' }] })).toThrow(/password or a token/);
    expect(() => parseReviewers({ reviewers: [{ id: 'a', name: 'A', password: 'plain' }] })).toThrow(/scrypt/);
    expect(() => parseReviewers({ reviewers: [{ id: 'a', name: 'A', token_sha256: 'f'.repeat(64) }, { id: 'a', name: 'B', token_sha256: 'f'.repeat(64) }] })).toThrow(/twice/);
    expect(parseReviewers({ reviewers: [{ id: 'a', name: 'A', token_sha256: 'f'.repeat(64) }] })).toEqual([{ id: 'a', name: 'A', principals: [], tokenSha256: 'f'.repeat(64) }]);
  });

  it('sessions expire when idle or too old', () => {
    let now = 0;
    const sessions = new Sessions({ idleMs: 1_000, absoluteMs: 5_000, now: () => now });
    const s = sessions.create('bob');
    now = 900;
    expect(sessions.get(s.id)?.reviewerId).toBe('bob');
    now = 1_850;
    expect(sessions.get(s.id)?.reviewerId).toBe('bob');
    now = 3_000;
    expect(sessions.get(s.id)).toBeNull();
    const t = sessions.create('bob');
    for (now = 3_500; now < 8_600; now += 900) sessions.get(t.id);
    expect(sessions.get(t.id)).toBeNull();
  });

  it('sign-in is limited per key after repeated failures, for the rest of the window', () => {
    let now = 0;
    const limiter = new LoginLimiter({ limit: 3, windowMs: 10_000, now: () => now });
    const keys = ['ip:1', 'reviewer:bob'];
    for (let i = 0; i < 3; i++) {
      expect(limiter.retryAfterMs(keys)).toBe(0);
      limiter.fail(keys);
      now += 1_000;
    }
    expect(limiter.retryAfterMs(keys)).toBe(7_000);
    expect(limiter.retryAfterMs(['ip:2'])).toBe(0);
    now = 10_001;
    expect(limiter.retryAfterMs(keys)).toBe(0);
  });
});

describe('configuration', () => {
  it('names what is missing and how to fix it', async () => {
    const { configFromEnv, ConfigError } = await import('../src/config.ts');
    const servers = { kafka: { brokers: ['127.0.0.1:9092'] }, schemaRegistry: { url: 'http://127.0.0.1:8081' }, redis: { url: 'redis://127.0.0.1:6379' } };
    const dir = await mkdtemp(join(tmpdir(), 'ig-approvals-config-'));
    try {
      await expect(configFromEnv({}, null, dir)).rejects.toThrow(/KAFKA_BROKERS/);
      const missing = await configFromEnv({}, servers, dir).catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(ConfigError);
      expect((missing as Error).message).toMatch(/cannot read the reviewers file .*approvals hash-password/);
      const { writeFile } = await import('node:fs/promises');
      await writeFile(join(dir, 'reviewers.json'), JSON.stringify({ reviewers: [{ id: 'bob', name: 'Bob', token_sha256: 'a'.repeat(64) }] }));
      const noTrust = await configFromEnv({ APPROVALS_REVIEWERS_FILE: join(dir, 'reviewers.json') }, servers, dir).catch((e: unknown) => e);
      expect(noTrust).toBeInstanceOf(ConfigError);
      expect((noTrust as Error).message).toMatch(/no trust file .*trust init/);
      await ensureTrustMaterial(join(dir, '.intentgate', 'trust'));
      await certifyService(join(dir, '.intentgate', 'trust'), 'approvals', 'approvals-1', { file: 'approvals' });
      const options = await configFromEnv({ APPROVALS_REVIEWERS_FILE: join(dir, 'reviewers.json'), APPROVALS_DATA_DIR: join(dir, 'data') }, servers, dir);
      expect(options).toMatchObject({ brokers: ['127.0.0.1:9092'], dataDir: join(dir, 'data'), reviewers: [{ id: 'bob' }], secureCookies: false });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
