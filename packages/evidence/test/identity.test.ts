import { describe, expect, it } from 'vitest';
import { generateSigningKey, issueDelegation, issueSvid, jwksOf, verifyDelegationChain, verifySvid, IdentityError, type IdentityRefusal, type SigningKey } from '../src/index.ts';

const TD = 'example.org';
const HUMAN = 'alice@example.org';
const PLANNER = `spiffe://${TD}/agents/planner`;
const WORKER = `spiffe://${TD}/agents/worker`;
const NOW = 1_795_000_000;

async function setup() {
  const key = await generateSigningKey('td-1');
  const trust = new Map([[TD, jwksOf([key])]]);
  const d1 = await issueDelegation(key, TD, { delegator: HUMAN, delegatorKind: 'human', delegate: PLANNER, delegateKind: 'agent', scope: ['data:*', 'ai:*'], jti: 'd1' }, NOW);
  const d2 = await issueDelegation(key, TD, { delegator: PLANNER, delegatorKind: 'agent', delegate: WORKER, delegateKind: 'agent', scope: ['data:data.query'], jti: 'd2' }, NOW);
  return { key, trust, chain: [d1, d2] };
}

async function code(p: Promise<unknown>): Promise<IdentityRefusal> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(IdentityError);
  return (err as IdentityError).code;
}

const opts = { maxDepth: 4, revoked: new Set<string>(), now: NOW + 10 };

describe('JWT-SVIDs', () => {
  it('verify to their SPIFFE ID; forged, expired, misdirected or foreign ones each fail with their own code', async () => {
    const { key, trust } = await setup();
    expect(await verifySvid(await issueSvid(key, WORKER, 300, NOW), trust, NOW + 10)).toBe(WORKER);
    expect(await code(verifySvid(undefined, trust))).toBe('SVID_MISSING');
    expect(await code(verifySvid(await issueSvid(key, WORKER, 60, NOW), trust, NOW + 120))).toBe('SVID_EXPIRED');
    const forger = await generateSigningKey('td-1');
    expect(await code(verifySvid(await issueSvid(forger, WORKER, 300, NOW), trust, NOW + 10))).toBe('SVID_BAD_SIGNATURE');
    expect(await code(verifySvid(await issueSvid(key, 'spiffe://evil.org/agents/x', 300, NOW), trust, NOW + 10))).toBe('SVID_UNKNOWN_TRUST_DOMAIN');
    const { SignJWT } = await import('jose');
    const wrongAud = await new SignJWT({}).setProtectedHeader({ alg: 'EdDSA', kid: key.kid }).setSubject(WORKER).setAudience('someone-else').setExpirationTime(NOW + 300).sign(key.privateKey);
    expect(await code(verifySvid(wrongAud, trust, NOW + 10))).toBe('SVID_WRONG_AUDIENCE');
  });
});

describe('delegation chains', () => {
  it('a narrowing chain verifies into the hops an intent must state', async () => {
    const { trust, chain } = await setup();
    const hops = await verifyDelegationChain(chain, WORKER, trust, opts);
    expect(hops.map((h) => [h.principal, h.kind, h.scope])).toEqual([
      [HUMAN, 'human', ['data:*', 'ai:*']],
      [PLANNER, 'agent', ['data:data.query']],
      [WORKER, 'agent', ['data:data.query']],
    ]);
    expect(hops.map((h) => h.token_jti)).toEqual([null, 'd1', 'd2']);
  });

  it('a widening hop, a broken link, a revoked middle link, too deep a chain, a forged token: each its own code', async () => {
    const { key, trust, chain } = await setup();
    const widen = await issueDelegation(key, TD, { delegator: PLANNER, delegatorKind: 'agent', delegate: WORKER, delegateKind: 'agent', scope: ['infra:*'], jti: 'w' }, NOW);
    expect(await code(verifyDelegationChain([chain[0]!, widen], WORKER, trust, opts))).toBe('DELEGATION_SCOPE_WIDENED');
    const stranger = await issueDelegation(key, TD, { delegator: 'mallory', delegatorKind: 'agent', delegate: WORKER, delegateKind: 'agent', scope: ['data:data.query'], jti: 's' }, NOW);
    expect(await code(verifyDelegationChain([chain[0]!, stranger], WORKER, trust, opts))).toBe('DELEGATION_BROKEN_CHAIN');
    expect(await code(verifyDelegationChain(chain, PLANNER, trust, opts))).toBe('DELEGATION_BROKEN_CHAIN');
    expect(await code(verifyDelegationChain(chain, WORKER, trust, { ...opts, revoked: new Set(['d1']) }))).toBe('DELEGATION_REVOKED');
    expect(await code(verifyDelegationChain(chain, WORKER, trust, { ...opts, revoked: new Set([PLANNER]) }))).toBe('DELEGATION_REVOKED');
    expect(await code(verifyDelegationChain(chain, WORKER, trust, { ...opts, maxDepth: 1 }))).toBe('DELEGATION_TOO_DEEP');
    expect(await code(verifyDelegationChain([], WORKER, trust, opts))).toBe('DELEGATION_MISSING');
    const forger = await generateSigningKey('td-1');
    const forged = await issueDelegation(forger, TD, { delegator: PLANNER, delegatorKind: 'agent', delegate: WORKER, delegateKind: 'agent', scope: ['data:*'], jti: 'f' }, NOW);
    expect(await code(verifyDelegationChain([chain[0]!, forged], WORKER, trust, opts))).toBe('DELEGATION_BAD_SIGNATURE');
    expect(await code(verifyDelegationChain(chain, WORKER, trust, { ...opts, now: NOW + 7200 }))).toBe('DELEGATION_EXPIRED');
  });
});
