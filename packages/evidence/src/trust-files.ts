// A deployment's trust material on disk: the public trust file every service is configured
// with, the private root, operator and policy-publisher keys (0600; in production the root is
// kept offline), and each service's certified signer.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SignerFile, TrustFile } from '@intentgate/contracts';
import { exportPrivateJwk, generateSigningKey, importSigningKey, jwksOf, type Jwks, type SigningKey } from './keys.ts';
import { certifiedSigner, generateTrustMaterial, privateKeyPem, TrustError, type CertifiedSigner, type KeyAuthority, type TrustRoots } from './trust.ts';

export const TRUST_FILE = 'trust.json';
export const ROOT_KEY_FILE = 'root.jwk';
export const OPERATOR_KEY_FILE = 'operator.jwk';
export const POLICY_PUBLISHER_KEY_FILE = 'policy-publisher.pem';
export const POLICY_PUBLISHER_JWK_FILE = 'policy-publisher.jwk';

/** Where a deployment's trust material lives, and what each file is. */
export interface TrustPaths {
  dir: string;
  trustFile: string;
  rootKey: string;
  operatorKey: string;
  /** PKCS#8 PEM, what `opa build --signing-key` reads. */
  policyPublisherPem: string;
  policyPublisherJwk: string;
  signer(name: string): string;
}

export function trustPaths(dir: string): TrustPaths {
  return {
    dir, trustFile: join(dir, TRUST_FILE), rootKey: join(dir, ROOT_KEY_FILE), operatorKey: join(dir, OPERATOR_KEY_FILE),
    policyPublisherPem: join(dir, POLICY_PUBLISHER_KEY_FILE), policyPublisherJwk: join(dir, POLICY_PUBLISHER_JWK_FILE),
    signer: (name) => join(dir, 'signers', `${name}.json`),
  };
}

function configError(message: string, hint: string): TrustError {
  return new TrustError('TRUST_CONFIG_INVALID', message, hint);
}

export function trustRootsOf(file: TrustFile): TrustRoots {
  return { roots: file.roots, operators: file.operators, policyPublishers: file.policy_publishers, revokedKeys: file.revoked_keys ?? [] };
}

/** A JSON file checked against its schema; a clear error naming the file when it is missing or malformed. */
async function readValidated<T>(path: string, schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: Array<{ path: PropertyKey[]; message: string }> } } }, what: string, missingHint: string, badHint: string): Promise<T> {
  const text = await readFile(path, 'utf8').catch(() => null);
  if (text === null) throw configError(`no ${what} at ${path}`, missingHint);
  let parsed: ReturnType<typeof schema.safeParse>;
  try {
    parsed = schema.safeParse(JSON.parse(text));
  } catch (err) {
    throw configError(`${what} ${path} is not JSON: ${(err as Error).message}`, badHint);
  }
  if (!parsed.success) throw configError(`${what} ${path}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, badHint);
  return parsed.data;
}

const readTrustFile = (path: string) => readValidated<TrustFile>(path, TrustFile, 'trust file',
  'Run `npm run intentgate -- trust init` (npm start does it), or set INTENTGATE_TRUST_FILE.', 'Restore it from `intentgate trust init`.');

/** Reads and validates a trust file; a clear error naming the file when it is missing or malformed. */
export async function loadTrustFile(path: string): Promise<TrustRoots> {
  return trustRootsOf(await readTrustFile(path));
}

export async function loadPrivateKey(path: string): Promise<SigningKey> {
  const text = await readFile(path, 'utf8').catch(() => null);
  if (text === null) throw configError(`no private key at ${path}`, 'Run `npm run intentgate -- trust init`, or point to the key.');
  try {
    return await importSigningKey(JSON.parse(text));
  } catch (err) {
    throw configError(`key file ${path}: ${(err as Error).message}`, 'Expected a private Ed25519 JWK as `intentgate trust init` writes it.');
  }
}

/** A service's certified signer from its file. */
export async function loadSigner(path: string): Promise<CertifiedSigner> {
  const f = await readValidated<SignerFile>(path, SignerFile, 'signer file',
    'Create one with `npm run intentgate -- trust certify <service>` (npm start does it for its services).', 'Certify the service again.');
  return { principal: f.principal, uses: f.uses, receiptKinds: f.receipt_kinds, key: await importSigningKey(f.key), certificate: f.certificate };
}

export async function writeSigner(path: string, signer: CertifiedSigner): Promise<void> {
  const file: SignerFile = {
    principal: signer.principal, uses: [...signer.uses], receipt_kinds: [...signer.receiptKinds],
    key: (await exportPrivateJwk(signer.key)) as SignerFile['key'], certificate: signer.certificate,
  };
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
}

/**
 * Creates a deployment's trust material in `dir` unless it exists (then it is loaded as is):
 * the trust file, and the root, operator and policy-publisher private keys (0600).
 */
export async function ensureTrustMaterial(dir: string): Promise<{ paths: TrustPaths; roots: TrustRoots; created: boolean }> {
  const paths = trustPaths(dir);
  const existing = await readFile(paths.trustFile, 'utf8').then(() => true, () => false);
  if (existing) return { paths, roots: await loadTrustFile(paths.trustFile), created: false };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const m = await generateTrustMaterial();
  const priv = async (file: string, key: SigningKey) => writeFile(file, `${JSON.stringify(await exportPrivateJwk(key))}\n`, { mode: 0o600 });
  await priv(paths.rootKey, m.root);
  await priv(paths.operatorKey, m.operator);
  await priv(paths.policyPublisherJwk, m.policyPublisher);
  await writeFile(paths.policyPublisherPem, privateKeyPem(m.policyPublisher), { mode: 0o600 });
  const file: TrustFile = { roots: [...m.roots.roots], operators: [...m.roots.operators], policy_publishers: [...m.roots.policyPublishers] };
  // Written last: a trust file present means the keys beside it are too.
  await writeFile(paths.trustFile, `${JSON.stringify(file, null, 2)}\n`);
  return { paths, roots: m.roots, created: true };
}

/** The authority each IntentGate service's key is certified with. */
export const SERVICE_AUTHORITIES = {
  decision: { principal: 'intentgate-decision', uses: ['warrant', 'approval-request', 'receipt'], receiptKinds: ['decision', 'policy-activation', 'mode-change'] },
  approvals: { principal: 'intentgate-approvals', uses: ['warrant', 'receipt'], receiptKinds: ['approval'] },
  executor: { principal: 'intentgate-executor', uses: ['receipt'], receiptKinds: ['execution'] },
  'mcp-gateway': { principal: 'intentgate-mcp-gateway', uses: ['receipt'], receiptKinds: ['execution'] },
} as const satisfies Record<string, KeyAuthority>;
export type ServiceName = keyof typeof SERVICE_AUTHORITIES;

/**
 * Certifies a fresh key for a service with the root key in `dir`, and writes its signer file
 * (signers/<file or kid>.json).
 */
export async function certifyService(dir: string, service: ServiceName, kid: string, options: { file?: string; ttlSeconds?: number } = {}): Promise<{ signer: CertifiedSigner; file: string }> {
  const paths = trustPaths(dir);
  const root = await loadPrivateKey(paths.rootKey);
  const signer = await certifiedSigner(root, kid, SERVICE_AUTHORITIES[service], options.ttlSeconds);
  const file = paths.signer(options.file ?? kid);
  await writeSigner(file, signer);
  return { signer, file };
}

/**
 * What a standalone service reads at start: the trust file, and its signer when it signs.
 * Defaults: `<stateDir>/trust/trust.json` and `<stateDir>/trust/signers/<service>.json`
 * (what npm start and `intentgate trust init | certify` write).
 */
export async function loadServiceTrust(stateDir: string, service: string, env: { INTENTGATE_TRUST_FILE?: string | undefined; INTENTGATE_SIGNER_FILE?: string | undefined }): Promise<{ roots: TrustRoots; signer: CertifiedSigner }> {
  const paths = trustPaths(join(stateDir, 'trust'));
  const roots = await loadTrustFile(env.INTENTGATE_TRUST_FILE ?? paths.trustFile);
  const signer = await loadSigner(env.INTENTGATE_SIGNER_FILE ?? paths.signer(service));
  return { roots, signer };
}

/**
 * Withdraws a certified key before its certificate expires: its id goes into the trust file's
 * revoked_keys, which every service reads at start (restart them, or they keep trusting it).
 */
export async function revokeKey(trustFile: string, kid: string): Promise<{ alreadyRevoked: boolean }> {
  const file = await readTrustFile(trustFile);
  const revoked = new Set(file.revoked_keys ?? []);
  const alreadyRevoked = revoked.has(kid);
  revoked.add(kid);
  await writeFile(trustFile, `${JSON.stringify({ ...file, revoked_keys: [...revoked] }, null, 2)}\n`);
  return { alreadyRevoked };
}

/**
 * A local trust domain for workload identity (npm start's; production uses SPIRE): its signing
 * key kept in `<dir>/<trust domain>.key.json` (0600, as `intentgate identity init` writes it),
 * created once, and the public JWKS the decision worker trusts.
 */
export async function ensureLocalTrustDomain(dir: string, trustDomain: string): Promise<{ key: SigningKey; jwks: Jwks; keyFile: string; jwksFile: string }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keyFile = join(dir, `${trustDomain}.key.json`);
  const jwksFile = join(dir, `${trustDomain}.jwks.json`);
  const existing = await readFile(keyFile, 'utf8').then((t) => JSON.parse(t) as { trust_domain: string; jwk: Parameters<typeof importSigningKey>[0] }, () => null);
  const key = existing ? await importSigningKey(existing.jwk) : await generateSigningKey(`${trustDomain}-1`);
  if (!existing) await writeFile(keyFile, JSON.stringify({ trust_domain: trustDomain, jwk: await exportPrivateJwk(key) }), { mode: 0o600 });
  const jwks = jwksOf([key]);
  await writeFile(jwksFile, `${JSON.stringify(jwks, null, 2)}\n`);
  return { key, jwks, keyFile, jwksFile };
}
