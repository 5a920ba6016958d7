// Workload identity and delegation: JWT-SVIDs (SPIFFE) for the acting agent, and a chain of
// signed delegation tokens whose scopes may only narrow. Every failure has its own code.
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { Jwks, SigningKey } from './keys.ts';

export const SVID_AUDIENCE = 'intentgate';
export const DELEGATION_TYPE = 'intentgate-delegation+jwt';

export type IdentityRefusal =
  | 'IDENTITY_REQUIRED' | 'SVID_MISSING' | 'SVID_MALFORMED' | 'SVID_UNKNOWN_TRUST_DOMAIN' | 'SVID_BAD_SIGNATURE' | 'SVID_EXPIRED' | 'SVID_WRONG_AUDIENCE'
  | 'SUBJECT_MISMATCH'
  | 'DELEGATION_MISSING' | 'DELEGATION_MALFORMED' | 'DELEGATION_BAD_SIGNATURE' | 'DELEGATION_EXPIRED' | 'DELEGATION_BROKEN_CHAIN'
  | 'DELEGATION_SCOPE_WIDENED' | 'DELEGATION_TOO_DEEP' | 'DELEGATION_REVOKED' | 'DELEGATION_MISMATCH';

export class IdentityError extends Error {
  readonly code: IdentityRefusal;
  constructor(code: IdentityRefusal, message: string) {
    super(message);
    this.name = 'IdentityError';
    this.code = code;
  }
}

/** spiffe://<trust-domain>/... → <trust-domain> */
export function trustDomainOf(spiffeId: string): string | null {
  return /^spiffe:\/\/([a-z0-9._-]+)\//.exec(spiffeId)?.[1] ?? null;
}

export type TrustBundles = ReadonlyMap<string, Jwks>;

// --- issuing (the local development issuer; production SVIDs come from SPIRE) ---------------

export async function issueSvid(key: SigningKey, spiffeId: string, ttlSeconds = 300, now = Math.floor(Date.now() / 1000)): Promise<string> {
  return new SignJWT({}).setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'JWT' }).setSubject(spiffeId)
    .setAudience(SVID_AUDIENCE).setIssuedAt(now).setExpirationTime(now + ttlSeconds).sign(key.privateKey);
}

export interface DelegationGrant {
  delegator: string;
  delegatorKind: 'human' | 'agent' | 'service';
  delegate: string;
  delegateKind: 'human' | 'agent' | 'service';
  scope: string[];
  jti: string;
  ttlSeconds?: number;
}

export async function issueDelegation(key: SigningKey, trustDomain: string, grant: DelegationGrant, now = Math.floor(Date.now() / 1000)): Promise<string> {
  return new SignJWT({ delegator: grant.delegator, delegator_kind: grant.delegatorKind, delegate_kind: grant.delegateKind, scope: grant.scope })
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: DELEGATION_TYPE })
    .setIssuer(`spiffe://${trustDomain}`).setSubject(grant.delegate).setJti(grant.jti)
    .setIssuedAt(now).setExpirationTime(now + (grant.ttlSeconds ?? 3600)).sign(key.privateKey);
}

// --- verifying ------------------------------------------------------------------------------

function classify(err: unknown, prefix: 'SVID' | 'DELEGATION'): IdentityError {
  if (err instanceof IdentityError) return err;
  if (err instanceof errors.JWTExpired) return new IdentityError(`${prefix}_EXPIRED`, `${prefix.toLowerCase()} has expired`);
  if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JWKSNoMatchingKey) {
    return new IdentityError(`${prefix}_BAD_SIGNATURE`, `${prefix.toLowerCase()} signature does not verify against the trust bundle`);
  }
  if (prefix === 'SVID' && err instanceof errors.JWTClaimValidationFailed && err.claim === 'aud') {
    return new IdentityError('SVID_WRONG_AUDIENCE', `the SVID is not for audience ${SVID_AUDIENCE}`);
  }
  return new IdentityError(`${prefix}_MALFORMED`, `${prefix.toLowerCase()} rejected: ${(err as Error).message}`);
}

/** Verifies a JWT-SVID against its trust domain's keys; returns its SPIFFE ID. */
export async function verifySvid(token: string | undefined, trust: TrustBundles, now?: number): Promise<string> {
  if (!token) throw new IdentityError('SVID_MISSING', 'the intent carries no JWT-SVID');
  let sub: string | undefined;
  try {
    decodeProtectedHeader(token);
    sub = decodeJwt(token).sub;
  } catch (err) {
    throw new IdentityError('SVID_MALFORMED', `not a JWT: ${(err as Error).message}`);
  }
  const domain = sub ? trustDomainOf(sub) : null;
  const jwks = domain ? trust.get(domain) : undefined;
  if (!domain || !jwks) throw new IdentityError('SVID_UNKNOWN_TRUST_DOMAIN', `no trust bundle for ${domain ?? sub ?? '(no subject)'}`);
  try {
    await jwtVerify(token, createLocalJWKSet(jwks), {
      audience: SVID_AUDIENCE, requiredClaims: ['sub', 'exp'],
      ...(now === undefined ? {} : { currentDate: new Date(now * 1000) }),
    });
  } catch (err) {
    throw classify(err, 'SVID');
  }
  return sub!;
}

export interface VerifiedHop {
  principal: string;
  kind: 'human' | 'agent' | 'service';
  scope: string[];
  /** The delegation token that granted this hop's scope (null for the acting agent's own hop). */
  token_jti: string | null;
  key_id: string | null;
}

/** A scope entry is covered by a parent scope: exactly, by "<domain>:*", or by "*". */
export function scopeCovers(parent: readonly string[], wanted: string): boolean {
  if (parent.includes('*') || parent.includes(wanted)) return true;
  const [domain, action] = wanted.split(':');
  return action !== undefined && parent.includes(`${domain}:*`);
}

/**
 * Verifies a delegation chain (origin first) ending at `subject`: every token signed by a
 * trusted key and unexpired, each hop delegated by the previous delegate, scopes only
 * narrowing, no revoked link, at most `maxDepth` tokens. Returns the verified hops, as an
 * Intent's `delegation` must state them.
 */
export async function verifyDelegationChain(
  tokens: readonly string[] | undefined,
  subject: string,
  trust: TrustBundles,
  options: { maxDepth: number; revoked: ReadonlySet<string>; now?: number },
): Promise<VerifiedHop[]> {
  if (!tokens || tokens.length === 0) throw new IdentityError('DELEGATION_MISSING', 'the intent carries no delegation tokens');
  if (tokens.length > options.maxDepth) throw new IdentityError('DELEGATION_TOO_DEEP', `chain of ${tokens.length} delegations exceeds the maximum of ${options.maxDepth}`);
  const hops: VerifiedHop[] = [];
  let previous: { delegate: string; scope: string[] } | null = null;
  for (const [i, token] of tokens.entries()) {
    let payload: JWTPayload & { delegator?: string; delegator_kind?: string; delegate_kind?: string; scope?: unknown };
    let kid: string | undefined;
    try {
      const header = decodeProtectedHeader(token);
      if (header.typ !== DELEGATION_TYPE) throw new Error(`typ ${String(header.typ)}`);
      kid = header.kid;
      const domain = trustDomainOf(`${decodeJwt(token).iss ?? ''}/`);
      const jwks = domain ? trust.get(domain) : undefined;
      if (!jwks) throw new IdentityError('DELEGATION_BAD_SIGNATURE', `delegation ${i} comes from an untrusted issuer`);
      ({ payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
        typ: DELEGATION_TYPE, requiredClaims: ['sub', 'jti', 'exp'],
        ...(options.now === undefined ? {} : { currentDate: new Date(options.now * 1000) }),
      }));
    } catch (err) {
      const e = classify(err, 'DELEGATION');
      throw new IdentityError(e.code, `delegation ${i}: ${e.message}`);
    }
    const scope = Array.isArray(payload.scope) && payload.scope.every((s) => typeof s === 'string') ? (payload.scope as string[]) : null;
    const kinds = ['human', 'agent', 'service'];
    if (!scope || !payload.delegator || !kinds.includes(payload.delegator_kind ?? '') || !kinds.includes(payload.delegate_kind ?? '')) {
      throw new IdentityError('DELEGATION_MALFORMED', `delegation ${i} lacks delegator, kinds or scope`);
    }
    if (options.revoked.has(payload.jti!) || options.revoked.has(payload.delegator) || options.revoked.has(payload.sub!)) {
      throw new IdentityError('DELEGATION_REVOKED', `delegation ${i} (${payload.delegator} → ${payload.sub}) is revoked`);
    }
    if (previous) {
      if (payload.delegator !== previous.delegate) {
        throw new IdentityError('DELEGATION_BROKEN_CHAIN', `delegation ${i} is granted by ${payload.delegator}, not by ${previous.delegate}`);
      }
      const widened = scope.filter((s) => !scopeCovers(previous!.scope, s));
      if (widened.length > 0) throw new IdentityError('DELEGATION_SCOPE_WIDENED', `delegation ${i} widens the scope with ${widened.join(', ')}`);
    } else {
      hops.push({ principal: payload.delegator, kind: payload.delegator_kind as VerifiedHop['kind'], scope, token_jti: null, key_id: null });
    }
    // Each hop states the scope it passed on; the acting agent (last) states what it was granted.
    if (previous) hops[hops.length - 1]!.scope = scope;
    hops.push({ principal: payload.sub!, kind: payload.delegate_kind as VerifiedHop['kind'], scope, token_jti: payload.jti!, key_id: kid ?? null });
    previous = { delegate: payload.sub!, scope };
  }
  if (previous!.delegate !== subject) throw new IdentityError('DELEGATION_BROKEN_CHAIN', `the chain ends at ${previous!.delegate}, not at the acting agent ${subject}`);
  return hops;
}
