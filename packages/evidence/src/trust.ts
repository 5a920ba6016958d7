// Trust roots and what they vouch for. The bus is a channel any client with access may write, so
// nothing that decides what is trusted (keys, activations, escalations, receipts) is taken from
// it on its word: each is signed, and the signer is a key the reader was configured with or one
// certified by a deployment root it was configured with.
import { createPublicKey, KeyObject, sign as ed25519Sign, verify as ed25519Verify } from 'node:crypto';
import type { JWK } from 'jose';
import { canonicalJson, sha256Hex } from './canonical.ts';
import { generateSigningKey, type SigningKey } from './keys.ts';

export const KEY_CERT_TYPE = 'intentgate-key-cert+jwt';
export const RECORD_SIGNATURE_TYPE = 'intentgate-record+jws';

/** What a certified key may sign. */
export type KeyUse = 'warrant' | 'approval-request' | 'receipt';
export const KEY_USES: readonly KeyUse[] = ['warrant', 'approval-request', 'receipt'];

/** A public Ed25519 key as configured (JWK with a kid). */
export interface PublicKeyJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
}

/**
 * The roots a service is configured with (never read from the bus):
 * - `roots` certify the services' own keys (warrant issuers, receipt producers, escalations);
 * - `operators` sign policy activations, agent registry entries, their receipts and mode changes;
 * - `policyPublishers` sign policy bundles in OPA's format (.signatures.json).
 */
export interface TrustRoots {
  roots: readonly PublicKeyJwk[];
  operators: readonly PublicKeyJwk[];
  policyPublishers: readonly PublicKeyJwk[];
  /** Certified keys withdrawn before their certificates expire: never trusted again, whatever the certificate says. */
  revokedKeys?: readonly string[];
}

export type TrustRefusal =
  | 'KEY_NOT_CERTIFIED' | 'KEY_CERT_MALFORMED' | 'KEY_CERT_UNKNOWN_ROOT' | 'KEY_CERT_BAD_SIGNATURE' | 'KEY_CERT_EXPIRED' | 'KEY_CERT_MISMATCH'
  | 'RECORD_UNSIGNED' | 'RECORD_SIGNATURE_MALFORMED' | 'RECORD_SIGNER_UNKNOWN' | 'RECORD_BAD_SIGNATURE' | 'RECORD_SIGNER_NOT_ALLOWED'
  | 'KEY_REVOKED' | 'TRUST_CONFIG_INVALID';

export class TrustError extends Error {
  readonly code: TrustRefusal;
  readonly hint: string;
  readonly retriable = false;
  constructor(code: TrustRefusal, message: string, hint = 'Check the signer is one this service is configured to trust (INTENTGATE_TRUST_FILE).') {
    super(message);
    this.name = 'TrustError';
    this.code = code;
    this.hint = hint;
  }
}

/** What a deployment root says about a key in its certificate. */
export interface KeyAuthority {
  /** Who holds the key: a warrant issuer name (intentgate-decision) or a service principal. */
  principal: string;
  uses: readonly KeyUse[];
  /** With use 'receipt': the receipt kinds it may sign. */
  receiptKinds: readonly string[];
}

/** A key whose authority was verified: by its certificate, or because it was configured. */
export interface TrustedKey extends KeyAuthority {
  kid: string;
  key: KeyObject;
  /** Seconds since the epoch after which the certificate no longer vouches for it; null for configured keys. */
  expiresAt: number | null;
}

const b64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8').toString('base64url');

function publicKeyOf(jwk: { x: string }): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
}

function privateKeyObject(key: SigningKey): KeyObject {
  if (key.privateKey instanceof KeyObject) return key.privateKey;
  return KeyObject.from(key.privateKey);
}

/** Compact JWS over `payload` (EdDSA, Ed25519), with the given header type. */
function signCompact(key: SigningKey, typ: string, payload: unknown, certificate?: string): string {
  const header = { alg: 'EdDSA', kid: key.kid, typ, ...(certificate ? { [CERT_HEADER]: certificate } : {}) };
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${ed25519Sign(null, Buffer.from(input, 'ascii'), privateKeyObject(key)).toString('base64url')}`;
}

/** A record signature's header member carrying the signer's root certificate, for readers that follow no key topic. */
export const CERT_HEADER = 'x-intentgate-cert';

interface OpenedJws {
  kid: string;
  /** The signer's certificate, when the signature carries it. */
  certificate: string | null;
  payload: Record<string, unknown>;
  input: Buffer;
  signature: Buffer;
}

/** Splits and decodes a compact JWS of type `typ`; null when it is not one. */
function openCompact(token: unknown, typ: string): OpenedJws | null {
  if (typeof token !== 'string' || token.length > 16_384) return null;
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) return null;
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown;
    if (header.alg !== 'EdDSA' || header.typ !== typ || typeof header.kid !== 'string' || header.kid === '') return null;
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return null;
    const certificate = typeof header[CERT_HEADER] === 'string' ? header[CERT_HEADER] : null;
    return { kid: header.kid, certificate, payload: payload as Record<string, unknown>, input: Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii'), signature: Buffer.from(parts[2]!, 'base64url') };
  } catch {
    return null;
  }
}

// --- key certificates -------------------------------------------------------------------------

export interface CertifyOptions extends KeyAuthority {
  /** Seconds since the epoch; injectable for tests. */
  now?: number;
  /** How long the certificate vouches for the key; default 30 days. */
  ttlSeconds?: number;
}

/** A deployment root certifies a service's public key: who holds it and what it may sign. */
export function certifyKey(root: SigningKey, subject: { kid: string; publicJwk: JWK }, options: CertifyOptions): string {
  if (typeof subject.publicJwk.x !== 'string') throw new TypeError('expected an Ed25519 public JWK');
  const iat = options.now ?? Math.floor(Date.now() / 1000);
  return signCompact(root, KEY_CERT_TYPE, {
    sub: options.principal, kid: subject.kid, x: subject.publicJwk.x,
    uses: [...options.uses], receipt_kinds: [...options.receiptKinds], iat, exp: iat + (options.ttlSeconds ?? 30 * 24 * 3600),
  });
}

/**
 * Verifies a published key's certificate against the configured roots and returns the key with
 * the authority the certificate grants; anything else is a TrustError with its own code.
 */
export function verifyKeyCertificate(
  roots: readonly PublicKeyJwk[],
  record: { issuer: string; kid: string; jwk: { x: string }; certificate?: string | undefined },
  now = Math.floor(Date.now() / 1000),
): TrustedKey {
  if (record.certificate === undefined) throw new TrustError('KEY_NOT_CERTIFIED', `key ${record.kid} of ${record.issuer} carries no certificate`);
  const cert = openCompact(record.certificate, KEY_CERT_TYPE);
  if (!cert) throw new TrustError('KEY_CERT_MALFORMED', `key ${record.kid}: the certificate is not a ${KEY_CERT_TYPE}`);
  const root = roots.find((r) => r.kid === cert.kid);
  if (!root) throw new TrustError('KEY_CERT_UNKNOWN_ROOT', `key ${record.kid} is certified by ${cert.kid}, not a configured root`);
  if (!ed25519Verify(null, cert.input, publicKeyOf(root), cert.signature)) {
    throw new TrustError('KEY_CERT_BAD_SIGNATURE', `key ${record.kid}: the certificate's signature does not verify under root ${root.kid}`);
  }
  const c = cert.payload;
  const uses = Array.isArray(c.uses) ? c.uses.filter((u): u is KeyUse => KEY_USES.includes(u as KeyUse)) : [];
  const receiptKinds = Array.isArray(c.receipt_kinds) ? c.receipt_kinds.filter((k): k is string => typeof k === 'string') : [];
  if (typeof c.sub !== 'string' || typeof c.kid !== 'string' || typeof c.x !== 'string' || typeof c.exp !== 'number') {
    throw new TrustError('KEY_CERT_MALFORMED', `key ${record.kid}: the certificate lacks sub, kid, x or exp`);
  }
  if (c.kid !== record.kid || c.x !== record.jwk.x || c.sub !== record.issuer) {
    throw new TrustError('KEY_CERT_MISMATCH', `key ${record.kid} of ${record.issuer}: the certificate is for ${c.sub}'s key ${c.kid}`);
  }
  if (c.exp <= now) throw new TrustError('KEY_CERT_EXPIRED', `key ${record.kid}: the certificate expired at ${new Date(c.exp * 1000).toISOString()}`);
  return { kid: record.kid, key: publicKeyOf(record.jwk), principal: c.sub, uses, receiptKinds, expiresAt: c.exp };
}

// --- record signatures ------------------------------------------------------------------------

/** The digest a record signature covers: the canonical record without its `signature` field. */
export function signedDigestOf(record: Record<string, unknown>): string {
  const { signature: _signature, ...rest } = record;
  return sha256Hex(canonicalJson(rest));
}

/**
 * Signs a record of message type `type` (Receipt, PolicyActivation, ApprovalRequest, Decision):
 * the value for its `signature`. With `certificate`, the signature carries the signer's root
 * certificate, so a reader verifies it with the roots alone (agents, which read no key topic).
 */
export function signRecord(key: SigningKey, type: string, record: Record<string, unknown>, certificate?: string): string {
  return signCompact(key, RECORD_SIGNATURE_TYPE, { typ: type, digest: signedDigestOf(record) }, certificate);
}

/** Returns the record with its signature added. */
export function withSignature<T extends Record<string, unknown>>(key: SigningKey, type: string, record: T, certificate?: string): T & { signature: string } {
  return { ...record, signature: signRecord(key, type, record, certificate) };
}

/**
 * Verifies a record whose signature carries its signer's certificate: the certificate against
 * the roots, the signature against the key it certifies, and that the key may sign it.
 */
export function verifyCertifiedRecord(
  trust: TrustRoots,
  type: string,
  record: Record<string, unknown>,
  allowed: (signer: TrustedKey) => boolean,
  now = Math.floor(Date.now() / 1000),
  /**
   * Certificates already verified against these roots (certificate and key id → the key it
   * certifies), for a caller that verifies many records of few signers: each certificate is
   * checked once, its expiry at every use.
   */
  verified?: Map<string, TrustedKey>,
): TrustedKey {
  const roots = trust.roots;
  if (record.signature === undefined) throw new TrustError('RECORD_UNSIGNED', `the ${type} carries no signature`);
  const jws = openCompact(record.signature, RECORD_SIGNATURE_TYPE);
  if (!jws) throw new TrustError('RECORD_SIGNATURE_MALFORMED', `the ${type}'s signature is not a ${RECORD_SIGNATURE_TYPE}`);
  if (jws.certificate === null) throw new TrustError('KEY_NOT_CERTIFIED', `the ${type}'s signature carries no certificate of its key ${jws.kid}`);
  const cacheKey = `${jws.kid}\u0000${jws.certificate}`;
  let signer = verified?.get(cacheKey);
  if (signer !== undefined && signer.expiresAt !== null && signer.expiresAt <= now) signer = undefined;
  if (signer === undefined) {
    const cert = openCompact(jws.certificate, KEY_CERT_TYPE);
    const claimed = cert?.payload as { sub?: unknown; x?: unknown } | undefined;
    if (!claimed || typeof claimed.sub !== 'string' || typeof claimed.x !== 'string') {
      throw new TrustError('KEY_CERT_MALFORMED', `the ${type}'s signer certificate is not a ${KEY_CERT_TYPE}`);
    }
    signer = verifyKeyCertificate(roots, { issuer: claimed.sub, kid: jws.kid, jwk: { x: claimed.x }, certificate: jws.certificate }, now);
    if (verified !== undefined && verified.size < 1_024) verified.set(cacheKey, signer);
  }
  assertNotRevoked(trust, signer.kid);
  return verifyRecord(type, record, (kid) => (kid === signer.kid ? signer : undefined), allowed);
}

/** The key id a record's signature names; undefined when it has no readable signature. */
export function recordKeyId(record: Record<string, unknown>): string | undefined {
  return openCompact(record.signature, RECORD_SIGNATURE_TYPE)?.kid;
}

/**
 * Verifies a record's signature and that its signer may sign it (`allowed`), looking the
 * signer up with `resolve`. Returns the signer.
 */
export function verifyRecord(
  type: string,
  record: Record<string, unknown>,
  resolve: (kid: string) => TrustedKey | undefined,
  allowed: (signer: TrustedKey) => boolean,
): TrustedKey {
  if (record.signature === undefined) throw new TrustError('RECORD_UNSIGNED', `the ${type} carries no signature`);
  const jws = openCompact(record.signature, RECORD_SIGNATURE_TYPE);
  if (!jws) throw new TrustError('RECORD_SIGNATURE_MALFORMED', `the ${type}'s signature is not a ${RECORD_SIGNATURE_TYPE}`);
  const signer = resolve(jws.kid);
  if (!signer) throw new TrustError('RECORD_SIGNER_UNKNOWN', `the ${type} is signed by ${jws.kid}, a key this service does not trust`);
  if (!ed25519Verify(null, jws.input, signer.key, jws.signature)) {
    throw new TrustError('RECORD_BAD_SIGNATURE', `the ${type}'s signature does not verify under ${jws.kid}`);
  }
  if (jws.payload.typ !== type || jws.payload.digest !== signedDigestOf(record)) {
    throw new TrustError('RECORD_BAD_SIGNATURE', `the ${type}'s signature covers another record`);
  }
  if (!allowed(signer)) throw new TrustError('RECORD_SIGNER_NOT_ALLOWED', `${signer.principal} (key ${signer.kid}) may not sign this ${type}`);
  return signer;
}

/** Refuses a key the trust file withdrew (KEY_REVOKED). */
export function assertNotRevoked(trust: TrustRoots, kid: string): void {
  if (trust.revokedKeys?.includes(kid)) throw new TrustError('KEY_REVOKED', `key ${kid} is revoked in the trust file`, 'Certify a new key for the service; its records signed with the revoked key are not trusted.');
}

/** The configured operator keys, as trusted keys: activations, their receipts and mode changes. */
export function operatorKeys(trust: TrustRoots): TrustedKey[] {
  return trust.operators.map((k) => ({
    kid: k.kid, key: publicKeyOf(k), principal: `operator:${k.kid}`, uses: ['receipt'], receiptKinds: ['policy-activation', 'mode-change', 'agent-registry', 'resource-label'], expiresAt: null,
  }));
}

/** The signer of a record when it is one of the configured operator keys. */
export function verifyOperatorRecord(trust: TrustRoots, type: string, record: Record<string, unknown>): TrustedKey {
  const keys = operatorKeys(trust);
  return verifyRecord(type, record, (kid) => keys.find((k) => k.kid === kid), () => true);
}

// --- generating a deployment's trust material (`intentgate trust init`, npm start) ------------

export interface TrustMaterial {
  root: SigningKey;
  operator: SigningKey;
  policyPublisher: SigningKey;
  roots: TrustRoots;
}

export function publicJwkOf(key: SigningKey): PublicKeyJwk {
  const x = key.publicJwk.x;
  if (typeof x !== 'string') throw new TypeError(`key ${key.kid} has no Ed25519 public part`);
  return { kty: 'OKP', crv: 'Ed25519', x, kid: key.kid };
}

/** A fresh root, operator key and policy-publisher key, with the public roots to configure services with. */
export async function generateTrustMaterial(prefix = 'local'): Promise<TrustMaterial> {
  const [root, operator, policyPublisher] = await Promise.all([
    generateSigningKey(`${prefix}-root`), generateSigningKey(`${prefix}-operator`), generateSigningKey(`${prefix}-policy-publisher`),
  ]);
  return { root, operator, policyPublisher, roots: { roots: [publicJwkOf(root)], operators: [publicJwkOf(operator)], policyPublishers: [publicJwkOf(policyPublisher)] } };
}

/** A PKCS#8 PEM of a signing key (what `opa build --signing-key` reads). */
export function privateKeyPem(key: SigningKey): string {
  return privateKeyObject(key).export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** A certified signer: a service's own key with the certificate a root gave it. */
export interface CertifiedSigner extends KeyAuthority {
  key: SigningKey;
  certificate: string;
}

/** Generates a key for a service and certifies it with the root (the local stack's way; production certifies offline). */
export async function certifiedSigner(root: SigningKey, kid: string, authority: KeyAuthority, ttlSeconds?: number): Promise<CertifiedSigner> {
  const key = await generateSigningKey(kid);
  const certificate = certifyKey(root, key, { ...authority, ...(ttlSeconds !== undefined ? { ttlSeconds } : {}) });
  return { ...authority, key, certificate };
}

/**
 * Whether a key may have signed this receipt: certified (or configured) for receipts of its
 * kind, named by it as producer (its principal, optionally followed by /<instance>), and
 * vouched for by its certificate at the time the receipt says it was produced (evidence outlives
 * the certificate: a receipt is judged by its own time, not today's).
 */
export function receiptSignerAllowed(key: TrustedKey, receipt: { kind: string; producer: string; produced_at: string }): boolean {
  const producedAtMs = Date.parse(receipt.produced_at);
  return key.uses.includes('receipt') && key.receiptKinds.includes(receipt.kind)
    && (receipt.producer === key.principal || receipt.producer.startsWith(`${key.principal}/`))
    && (key.expiresAt === null || (Number.isFinite(producedAtMs) && key.expiresAt * 1000 > producedAtMs));
}

/**
 * The signer of every receipt, checked offline: the published keys' certificates against the
 * roots given (never a key trusted because it came with the data), each receipt against them.
 * Returns the first problem, or the principals that signed.
 */
export function verifyReceiptSigners(
  trust: TrustRoots,
  publishedKeys: readonly unknown[],
  receipts: Iterable<{ where: string; receipt: Record<string, unknown> & { kind: string; producer: string; produced_at: string } }>,
): { ok: true; receipts: number; signers: Map<string, number> } | { ok: false; where: string; code: TrustRefusal; message: string } {
  const keys = new Map<string, TrustedKey>();
  for (const k of operatorKeys(trust)) keys.set(k.kid, k);
  for (const record of publishedKeys) {
    const r = record as { issuer: string; kid: string; jwk: { x: string }; certificate?: string };
    try {
      // Expiry is checked against each receipt's time below, not today's: old evidence stays verifiable.
      const trusted = verifyKeyCertificate(trust.roots, r, 0);
      assertNotRevoked(trust, trusted.kid);
      if (!keys.has(trusted.kid)) keys.set(trusted.kid, trusted);
    } catch {
      // a key no root certified signs nothing here
    }
  }
  const signers = new Map<string, number>();
  let n = 0;
  for (const { where, receipt } of receipts) {
    try {
      const signer = verifyRecord('Receipt', receipt, (kid) => keys.get(kid), (k) => receiptSignerAllowed(k, receipt));
      signers.set(signer.principal, (signers.get(signer.principal) ?? 0) + 1);
      n++;
    } catch (err) {
      const e = err as TrustError;
      return { ok: false, where, code: e.code, message: e.message };
    }
  }
  return { ok: true, receipts: n, signers };
}
