import { createPublicKey, KeyObject, sign as ed25519Sign, webcrypto } from 'node:crypto';
import { createLocalJWKSet, errors, jwtVerify, decodeProtectedHeader } from 'jose';
import { WarrantClaims, type Domain } from '@intentgate/contracts';
import type { Jwks, SigningKey } from './keys.ts';

export const WARRANT_TYPE = 'intentgate-warrant+jwt';

export interface WarrantRequest {
  issuer: string;
  decisionId: string;
  intentId: string;
  intentDigest: string;
  domain: Domain;
  ttlSeconds: number;
  /** Seconds since the epoch; injectable so replays and tests are deterministic. */
  now?: number;
}

/** node:crypto KeyObjects for signing keys held as WebCrypto keys (converted once per key). */
const keyObjects = new WeakMap<object, KeyObject>();

function keyObjectOf(key: SigningKey): KeyObject | null {
  if (key.privateKey instanceof KeyObject) return key.privateKey;
  if (!key.privateKey.extractable) return null; // signed through WebCrypto instead
  let ko = keyObjects.get(key.privateKey);
  if (!ko) {
    ko = KeyObject.from(key.privateKey);
    keyObjects.set(key.privateKey, ko);
  }
  return ko;
}

const b64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

/**
 * Signs a warrant: compact JWS, EdDSA, jti = decision_id, aud = domain, short exp. The JWS is
 * assembled here and signed with node:crypto's Ed25519 (the same header, claims and bytes jose's
 * SignJWT produced, without its per-call key import and promise chain); jose verifies it.
 */
export async function signWarrant(key: SigningKey, req: WarrantRequest): Promise<string> {
  const iat = req.now ?? Math.floor(Date.now() / 1000);
  const claims = WarrantClaims.parse({
    iss: req.issuer, sub: req.intentId, aud: req.domain, jti: req.decisionId,
    intent_digest: req.intentDigest, iat, exp: iat + req.ttlSeconds,
  });
  const header = b64url(JSON.stringify({ alg: 'EdDSA', kid: key.kid, typ: WARRANT_TYPE }));
  const payload = b64url(JSON.stringify({
    intent_digest: claims.intent_digest, iss: claims.iss, sub: claims.sub, aud: claims.aud, jti: claims.jti, iat: claims.iat, exp: claims.exp,
  }));
  const signingInput = `${header}.${payload}`;
  const data = Buffer.from(signingInput, 'ascii');
  const ko = keyObjectOf(key);
  const signature = ko
    ? ed25519Sign(null, data, ko)
    : Buffer.from(await webcrypto.subtle.sign('Ed25519', key.privateKey as webcrypto.CryptoKey, data));
  return `${signingInput}.${signature.toString('base64url')}`;
}

/** Why an executor refuses a warrant: each a reason code of its own. */
export type WarrantRefusal =
  | 'WARRANT_MISSING'
  | 'WARRANT_MALFORMED'
  | 'WARRANT_UNKNOWN_KEY'
  | 'WARRANT_BAD_SIGNATURE'
  | 'WARRANT_EXPIRED'
  | 'WARRANT_WRONG_AUDIENCE'
  | 'WARRANT_WRONG_ISSUER'
  | 'WARRANT_DIGEST_MISMATCH'
  | 'WARRANT_WRONG_DECISION';

export class WarrantError extends Error {
  readonly code: WarrantRefusal;
  constructor(code: WarrantRefusal, message: string) {
    super(message);
    this.name = 'WarrantError';
    this.code = code;
  }
}

export interface WarrantExpectations {
  jwks: Jwks;
  /** The issuer, or the issuers, whose warrants are accepted (the decision worker, the approvals service). */
  issuer: string | readonly string[];
  domain: Domain;
  /** The digest of the intent the executor holds, computed by the executor itself. */
  intentDigest: string;
  decisionId: string;
  /** Seconds since the epoch. */
  now?: number;
  clockToleranceSeconds?: number;
}

/**
 * Public keys imported once per key id and key material. A jose local key set made for each
 * verification imports the JWK every time: jose's jwtVerify with a fresh key set took 394–400 µs
 * (p50), the whole of verifyWarrant with the key imported once 300–324 µs (interleaved in one
 * process, 2026-12-02). Keyed by the material too, so a key rotated under the same id is never
 * verified with its predecessor; bounded, since keys come from outside.
 */
const verificationKeys = new Map<string, KeyObject>();
const MAX_VERIFICATION_KEYS = 256;

/** The one Ed25519 signing key published under `kid`, imported; null when jose's key set should decide. */
function verificationKeyOf(jwks: Jwks, kid: string): KeyObject | null {
  const matching = jwks.keys.filter((k) => k.kid === kid);
  const jwk = matching.length === 1 ? matching[0]! : null;
  if (!jwk || jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string' || jwk.d !== undefined) return null;
  if ((jwk.alg !== undefined && jwk.alg !== 'EdDSA') || (jwk.use !== undefined && jwk.use !== 'sig')) return null;
  if (jwk.key_ops !== undefined && !jwk.key_ops.includes('verify')) return null;
  const cacheKey = `${kid}\u0000${jwk.x}`;
  let key = verificationKeys.get(cacheKey);
  if (!key) {
    try {
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
    } catch {
      return null; // not a usable key: jose's key set reports it
    }
    if (verificationKeys.size >= MAX_VERIFICATION_KEYS) verificationKeys.clear();
    verificationKeys.set(cacheKey, key);
  }
  return key;
}

/** The key id in a warrant's protected header (undefined when it has none or is not a JWS). */
export function warrantKeyId(token: string): string | undefined {
  try {
    return decodeProtectedHeader(token).kid;
  } catch {
    return undefined;
  }
}

/**
 * Verifies a warrant against published keys and the intent in hand. Every failure is a
 * WarrantError with its own code; nothing here returns "probably fine".
 */
export async function verifyWarrant(token: string | undefined, expect: WarrantExpectations): Promise<WarrantClaims> {
  if (!token) throw new WarrantError('WARRANT_MISSING', 'no warrant was presented');
  let kid: string | undefined;
  try {
    const header = decodeProtectedHeader(token);
    if (header.alg !== 'EdDSA' || header.typ !== WARRANT_TYPE) throw new Error(`unexpected header ${JSON.stringify(header)}`);
    kid = header.kid;
  } catch (err) {
    throw new WarrantError('WARRANT_MALFORMED', `not a warrant: ${(err as Error).message}`);
  }
  if (!kid || !expect.jwks.keys.some((k) => k.kid === kid)) {
    throw new WarrantError('WARRANT_UNKNOWN_KEY', `warrant signed with unknown key id ${kid ?? '(none)'}`);
  }
  let payload: unknown;
  try {
    const options = {
      algorithms: ['EdDSA'],
      typ: WARRANT_TYPE,
      issuer: typeof expect.issuer === 'string' ? expect.issuer : [...expect.issuer],
      audience: expect.domain,
      currentDate: expect.now === undefined ? undefined : new Date(expect.now * 1000),
      clockTolerance: expect.clockToleranceSeconds ?? 0,
      requiredClaims: ['jti', 'exp', 'iat', 'sub'],
    };
    // jose verifies either way (signature, header, claims); only where the key comes from differs.
    const key = verificationKeyOf(expect.jwks, kid);
    ({ payload } = key ? await jwtVerify(token, key, options) : await jwtVerify(token, createLocalJWKSet(expect.jwks), options));
  } catch (err) {
    if (err instanceof errors.JWTExpired) throw new WarrantError('WARRANT_EXPIRED', 'the warrant has expired');
    if (err instanceof errors.JWSSignatureVerificationFailed) throw new WarrantError('WARRANT_BAD_SIGNATURE', 'the warrant signature does not verify');
    if (err instanceof errors.JWTClaimValidationFailed) {
      if (err.claim === 'aud') throw new WarrantError('WARRANT_WRONG_AUDIENCE', `the warrant is not for domain ${expect.domain}`);
      if (err.claim === 'iss') throw new WarrantError('WARRANT_WRONG_ISSUER', 'the warrant comes from another issuer');
    }
    throw new WarrantError('WARRANT_MALFORMED', `warrant rejected: ${(err as Error).message}`);
  }
  const claims = WarrantClaims.safeParse(payload);
  if (!claims.success) throw new WarrantError('WARRANT_MALFORMED', 'warrant claims do not match the contract');
  if (claims.data.intent_digest !== expect.intentDigest) {
    throw new WarrantError('WARRANT_DIGEST_MISMATCH', 'the warrant is bound to another intent digest');
  }
  if (claims.data.jti !== expect.decisionId) {
    throw new WarrantError('WARRANT_WRONG_DECISION', 'the warrant was issued for another decision');
  }
  return claims.data;
}
