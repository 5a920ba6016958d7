import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson, digestOf, exportPrivateJwk, generateSigningKey, importSigningKey, jwksOf, signWarrant, verifyWarrant,
  WarrantError, type WarrantRefusal,
} from '../src/index.ts';

describe('canonical JSON (RFC 8785)', () => {
  it('sorts keys and normalises numbers, so equal values hash equally', () => {
    expect(canonicalJson({ b: 1, a: [3, { d: 1e2, c: 'x' }] })).toBe('{"a":[3,{"c":"x","d":100}],"b":1}');
    expect(digestOf({ x: 1, y: 2 })).toBe(digestOf({ y: 2, x: 1 }));
    expect(digestOf({ x: 1 })).toMatch(/^[0-9a-f]{64}$/);
  });
  it('refuses what has no JSON form', () => {
    expect(() => canonicalJson(undefined)).toThrow(/canonical/);
  });
});

describe('warrants', () => {
  const decisionId = randomUUID();
  const intentId = randomUUID();
  const digest = 'a'.repeat(64);
  const now = 1_795_000_000;

  async function setup() {
    const key = await generateSigningKey('decision-2026-11');
    const token = await signWarrant(key, { issuer: 'intentgate', decisionId, intentId, intentDigest: digest, domain: 'data', ttlSeconds: 30, now });
    const expect_ = { jwks: jwksOf([key]), issuer: 'intentgate', domain: 'data' as const, intentDigest: digest, decisionId, now: now + 5 };
    return { key, token, expect_ };
  }

  async function refusal(p: Promise<unknown>): Promise<WarrantRefusal> {
    const err = await p.then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(WarrantError);
    return (err as WarrantError).code;
  }

  it('a fresh warrant verifies and yields its claims', async () => {
    const { token, expect_ } = await setup();
    const claims = await verifyWarrant(token, expect_);
    expect(claims).toMatchObject({ jti: decisionId, sub: intentId, aud: 'data', intent_digest: digest, exp: now + 30 });
  });

  it('refuses a missing, expired, misdirected, rebound or foreign warrant, each with its own code', async () => {
    const { token, expect_ } = await setup();
    expect(await refusal(verifyWarrant(undefined, expect_))).toBe('WARRANT_MISSING');
    expect(await refusal(verifyWarrant('abc.def', expect_))).toBe('WARRANT_MALFORMED');
    expect(await refusal(verifyWarrant(token, { ...expect_, now: now + 31 }))).toBe('WARRANT_EXPIRED');
    expect(await refusal(verifyWarrant(token, { ...expect_, domain: 'infra' }))).toBe('WARRANT_WRONG_AUDIENCE');
    expect(await refusal(verifyWarrant(token, { ...expect_, issuer: 'someone-else' }))).toBe('WARRANT_WRONG_ISSUER');
    expect(await refusal(verifyWarrant(token, { ...expect_, intentDigest: 'b'.repeat(64) }))).toBe('WARRANT_DIGEST_MISMATCH');
    expect(await refusal(verifyWarrant(token, { ...expect_, decisionId: randomUUID() }))).toBe('WARRANT_WRONG_DECISION');
    const stranger = await generateSigningKey('stranger');
    expect(await refusal(verifyWarrant(token, { ...expect_, jwks: jwksOf([stranger]) }))).toBe('WARRANT_UNKNOWN_KEY');
  });

  it('refuses a forged signature under a known key id', async () => {
    const { token, expect_ } = await setup();
    const forger = await generateSigningKey('decision-2026-11'); // same kid, other key
    const forged = await signWarrant(forger, { issuer: 'intentgate', decisionId, intentId, intentDigest: digest, domain: 'data', ttlSeconds: 30, now });
    expect(await refusal(verifyWarrant(forged, expect_))).toBe('WARRANT_BAD_SIGNATURE');
    const [h, , s] = token.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ jti: decisionId, aud: 'data', iss: 'intentgate' })).toString('base64url')}.${s}`;
    expect(await refusal(verifyWarrant(tampered, expect_))).toBe('WARRANT_BAD_SIGNATURE');
  });

  it('a key rotated under the same key id verifies its own warrants and never its predecessor\'s', async () => {
    const { token, expect_ } = await setup();
    expect(await verifyWarrant(token, expect_)).toMatchObject({ jti: decisionId }); // the first key, imported once
    const successor = await generateSigningKey('decision-2026-11');
    const rotated = { ...expect_, jwks: jwksOf([successor]) };
    const next = await signWarrant(successor, { issuer: 'intentgate', decisionId, intentId, intentDigest: digest, domain: 'data', ttlSeconds: 30, now });
    expect(await verifyWarrant(next, rotated)).toMatchObject({ jti: decisionId });
    expect(await refusal(verifyWarrant(token, rotated))).toBe('WARRANT_BAD_SIGNATURE');
    expect(await refusal(verifyWarrant(next, expect_))).toBe('WARRANT_BAD_SIGNATURE');
  });

  it('a key published for another use or algorithm does not verify a warrant', async () => {
    const { key, token, expect_ } = await setup();
    for (const jwk of [{ ...key.publicJwk, use: 'enc' }, { ...key.publicJwk, alg: 'ES256' }, { ...key.publicJwk, key_ops: ['encrypt'] }]) {
      expect(await refusal(verifyWarrant(token, { ...expect_, jwks: { keys: [jwk] } })), JSON.stringify(jwk)).toBe('WARRANT_MALFORMED');
    }
  });

  it('a key survives export and import', async () => {
    const { key, expect_ } = await setup();
    const again = await importSigningKey(await exportPrivateJwk(key));
    const token = await signWarrant(again, { issuer: 'intentgate', decisionId, intentId, intentDigest: digest, domain: 'data', ttlSeconds: 30, now });
    await expect(verifyWarrant(token, expect_)).resolves.toMatchObject({ jti: decisionId });
    expect(again.publicJwk).not.toHaveProperty('d');
  });
});
