// Trust roots: key certificates and record signatures, each lie an outside client could tell.
import { describe, expect, it } from 'vitest';
import {
  certifyKey, certifiedSigner, generateSigningKey, generateTrustMaterial, operatorKeys, publicJwkOf, signRecord, TrustError,
  verifyCertifiedRecord, verifyKeyCertificate, verifyOperatorRecord, verifyReceiptSigners, verifyRecord, withSignature, type TrustedKey,
} from '../src/index.ts';

const DECISION = { principal: 'intentgate-decision', uses: ['warrant', 'approval-request', 'receipt'], receiptKinds: ['decision'] } as const;

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof TrustError) return err.code;
    throw err;
  }
  return 'accepted';
}

async function published(root = undefined as Awaited<ReturnType<typeof generateSigningKey>> | undefined) {
  const trust = await generateTrustMaterial('t');
  const signer = await certifiedSigner(root ?? trust.root, 'decision-1', DECISION);
  const record = { issuer: signer.principal, kid: signer.key.kid, jwk: publicJwkOf(signer.key), certificate: signer.certificate };
  return { trust, signer, record };
}

describe('key certificates', () => {
  it('a key certified by a configured root is trusted with exactly the authority the root gave it', async () => {
    const { trust, record } = await published();
    const key = verifyKeyCertificate(trust.roots.roots, record);
    expect(key).toMatchObject({ kid: 'decision-1', principal: 'intentgate-decision', uses: ['warrant', 'approval-request', 'receipt'], receiptKinds: ['decision'] });
  });

  it('refuses a key with no certificate, one certified by a root nobody configured, and a forged root under the real root\'s name', async () => {
    const { trust, record } = await published();
    expect(codeOf(() => verifyKeyCertificate(trust.roots.roots, { ...record, certificate: undefined }))).toBe('KEY_NOT_CERTIFIED');
    const stranger = await generateSigningKey('attacker-root');
    const byStranger = (await published(stranger)).record;
    expect(codeOf(() => verifyKeyCertificate(trust.roots.roots, byStranger))).toBe('KEY_CERT_UNKNOWN_ROOT');
    // The forger names their root like the real one (kid is public): the signature gives it away.
    const impostor = await generateSigningKey(trust.root.kid);
    const byImpostor = (await published(impostor)).record;
    expect(codeOf(() => verifyKeyCertificate(trust.roots.roots, byImpostor))).toBe('KEY_CERT_BAD_SIGNATURE');
    expect(codeOf(() => verifyKeyCertificate(trust.roots.roots, { ...record, certificate: 'a.b.c' }))).toBe('KEY_CERT_MALFORMED');
  });

  it('refuses a real certificate attached to another key, another kid or another issuer name', async () => {
    const { trust, record } = await published();
    const other = publicJwkOf(await generateSigningKey('decision-1'));
    expect(codeOf(() => verifyKeyCertificate(trust.roots.roots, { ...record, jwk: other }))).toBe('KEY_CERT_MISMATCH');
    expect(codeOf(() => verifyKeyCertificate(trust.roots.roots, { ...record, kid: 'decision-2' }))).toBe('KEY_CERT_MISMATCH');
    // An executor's receipt key published as if it were the decision worker's warrant key.
    const executor = await certifiedSigner(trust.root, 'exec-1', { principal: 'intentgate-executor', uses: ['receipt'], receiptKinds: ['execution'] });
    const claimed = { issuer: 'intentgate-decision', kid: 'exec-1', jwk: publicJwkOf(executor.key), certificate: executor.certificate };
    expect(codeOf(() => verifyKeyCertificate(trust.roots.roots, claimed))).toBe('KEY_CERT_MISMATCH');
  });

  it('refuses an expired certificate', async () => {
    const trust = await generateTrustMaterial('t');
    const key = await generateSigningKey('old-1');
    const certificate = certifyKey(trust.root, key, { ...DECISION, now: 1_000_000, ttlSeconds: 60 });
    expect(codeOf(() => verifyKeyCertificate(trust.roots.roots, { issuer: DECISION.principal, kid: 'old-1', jwk: publicJwkOf(key), certificate }))).toBe('KEY_CERT_EXPIRED');
  });
});

describe('record signatures', () => {
  const receipt = (over: Record<string, unknown> = {}) => ({
    receipt_id: '0b0e0c0a-0000-4000-8000-000000000001', kind: 'decision', intent_id: '0b0e0c0a-0000-4000-8000-000000000002',
    body: { decision: { verdict: 'deny' } }, producer: 'intentgate-decision/w1', produced_at: '2026-12-03T12:00:00.000Z', ...over,
  });

  it('verifies a signed record and names its signer; every lie about it has its own code', async () => {
    const { trust, signer, record } = await published();
    const key = verifyKeyCertificate(trust.roots.roots, record);
    const keys = new Map<string, TrustedKey>([[key.kid, key]]);
    const resolve = (kid: string) => keys.get(kid);
    const mayReceipt = (k: TrustedKey) => k.uses.includes('receipt');
    const signed = withSignature(signer.key, 'Receipt', receipt());
    expect(verifyRecord('Receipt', signed, resolve, mayReceipt).principal).toBe('intentgate-decision');
    expect(codeOf(() => verifyRecord('Receipt', receipt(), resolve, mayReceipt))).toBe('RECORD_UNSIGNED');
    // A field changed after signing: an allow written over a deny.
    expect(codeOf(() => verifyRecord('Receipt', { ...signed, body: { decision: { verdict: 'allow' } } }, resolve, mayReceipt))).toBe('RECORD_BAD_SIGNATURE');
    // A signature made for another message type, carried over.
    const asRequest = { ...receipt(), signature: signRecord(signer.key, 'ApprovalRequest', receipt()) };
    expect(codeOf(() => verifyRecord('Receipt', asRequest, resolve, mayReceipt))).toBe('RECORD_BAD_SIGNATURE');
    const stranger = await generateSigningKey('stranger');
    expect(codeOf(() => verifyRecord('Receipt', withSignature(stranger, 'Receipt', receipt()), resolve, mayReceipt))).toBe('RECORD_SIGNER_UNKNOWN');
    // The attacker names their key like the trusted one: the signature does not verify.
    const lookalike = await generateSigningKey(signer.key.kid);
    expect(codeOf(() => verifyRecord('Receipt', withSignature(lookalike, 'Receipt', receipt()), resolve, mayReceipt))).toBe('RECORD_BAD_SIGNATURE');
    expect(codeOf(() => verifyRecord('Receipt', signed, resolve, () => false))).toBe('RECORD_SIGNER_NOT_ALLOWED');
    expect(codeOf(() => verifyRecord('Receipt', { ...receipt(), signature: 'x.y.z' }, resolve, mayReceipt))).toBe('RECORD_SIGNATURE_MALFORMED');
  });

  it('activations verify only under a configured operator key', async () => {
    const trust = await generateTrustMaterial('t');
    const activation = { tenant: 'default', bundle_digest: 'a'.repeat(64), version: '1', activated_at: '2026-12-03T12:00:00.000Z', activated_by: 'ci' };
    expect(verifyOperatorRecord(trust.roots, 'PolicyActivation', withSignature(trust.operator, 'PolicyActivation', activation)).principal).toBe(`operator:${trust.operator.kid}`);
    // Signed by the root or the policy publisher: neither is an operator.
    expect(codeOf(() => verifyOperatorRecord(trust.roots, 'PolicyActivation', withSignature(trust.root, 'PolicyActivation', activation)))).toBe('RECORD_SIGNER_UNKNOWN');
    expect(codeOf(() => verifyOperatorRecord(trust.roots, 'PolicyActivation', withSignature(trust.policyPublisher, 'PolicyActivation', activation)))).toBe('RECORD_SIGNER_UNKNOWN');
    expect(codeOf(() => verifyOperatorRecord(trust.roots, 'PolicyActivation', activation))).toBe('RECORD_UNSIGNED');
    expect(operatorKeys(trust.roots)[0]).toMatchObject({ uses: ['receipt'], receiptKinds: ['policy-activation', 'mode-change', 'agent-registry', 'resource-label'] });
  });
});

describe('revoked keys', () => {
  it('a key the trust file revoked is refused whatever its certificate says: as a decision signer and offline', async () => {
    const { trust, signer, record } = await published();
    const revoked = { ...trust.roots, revokedKeys: [signer.key.kid] };
    const decision = withSignature(signer.key, 'Decision', { decision_id: 'd1', verdict: 'allow' }, signer.certificate);
    expect(verifyCertifiedRecord(trust.roots, 'Decision', decision, () => true).principal).toBe('intentgate-decision');
    expect(codeOf(() => verifyCertifiedRecord(revoked, 'Decision', decision, () => true))).toBe('KEY_REVOKED');
    // Offline: a receipt by the revoked key has no trusted signer.
    const receipt = withSignature(signer.key, 'Receipt', { receipt_id: 'r1', kind: 'decision', producer: 'intentgate-decision/w1', produced_at: new Date().toISOString() });
    expect(verifyReceiptSigners(trust.roots, [record], [{ where: 'e0', receipt }])).toMatchObject({ ok: true, receipts: 1 });
    expect(verifyReceiptSigners(revoked, [record], [{ where: 'e0', receipt }])).toMatchObject({ ok: false, code: 'RECORD_SIGNER_UNKNOWN' });
  });

  it('with a cache of verified certificates, each record is still checked: its signature, a revoked key, a certificate past its expiry, a borrowed certificate', async () => {
    const { trust, signer } = await published();
    const verified = new Map<string, TrustedKey>();
    const decision = withSignature(signer.key, 'Decision', { decision_id: 'd1', verdict: 'allow' }, signer.certificate);
    expect(verifyCertifiedRecord(trust.roots, 'Decision', decision, () => true, undefined, verified).principal).toBe('intentgate-decision');
    expect(verified.size).toBe(1);
    // The cached certificate vouches for the key, never for a record it did not sign.
    expect(codeOf(() => verifyCertifiedRecord(trust.roots, 'Decision', { ...decision, verdict: 'deny' }, () => true, undefined, verified))).toBe('RECORD_BAD_SIGNATURE');
    expect(codeOf(() => verifyCertifiedRecord({ ...trust.roots, revokedKeys: [signer.key.kid] }, 'Decision', decision, () => true, undefined, verified))).toBe('KEY_REVOKED');
    // Past the certificate's expiry the cached key is not used: the certificate is checked again, and refused.
    expect(codeOf(() => verifyCertifiedRecord(trust.roots, 'Decision', decision, () => true, Math.floor(Date.now() / 1000) + 365 * 24 * 3600, verified))).toBe('KEY_CERT_EXPIRED');
    const other = await certifiedSigner(trust.root, 'decision-2', DECISION);
    const borrowed = withSignature(signer.key, 'Decision', { decision_id: 'd2' }, other.certificate);
    expect(codeOf(() => verifyCertifiedRecord(trust.roots, 'Decision', borrowed, () => true, undefined, verified))).toBe('KEY_CERT_MISMATCH');
  });

  it('a decision whose signature carries no certificate, or one for another key, is refused', async () => {
    const { trust, signer } = await published();
    const bare = withSignature(signer.key, 'Decision', { decision_id: 'd1' });
    expect(codeOf(() => verifyCertifiedRecord(trust.roots, 'Decision', bare, () => true))).toBe('KEY_NOT_CERTIFIED');
    const other = await certifiedSigner(trust.root, 'decision-2', DECISION);
    const borrowed = withSignature(signer.key, 'Decision', { decision_id: 'd1' }, other.certificate);
    expect(codeOf(() => verifyCertifiedRecord(trust.roots, 'Decision', borrowed, () => true))).toBe('KEY_CERT_MISMATCH');
  });
});

