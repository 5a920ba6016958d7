// OPA's bundle signatures (.signatures.json, as `opa build --bundle --signing-key` writes them),
// verified here, before a bundle is loaded, against the policy publishers' keys a worker is
// configured with. The rules follow OPA's own verifier (v1/bundle/verify.go): exactly one JWT,
// signed by a configured key; every file of the bundle listed with its hash, and every file
// listed present. Structured files (data.json, .manifest) are hashed the way OPA hashes them.
import { createHash, createPublicKey, verify as ed25519Verify } from 'node:crypto';
import { BundleTrustError } from './errors.ts';
import { untarGz } from './tar.ts';

export const SIGNATURES_FILE = '.signatures.json';

export interface PublisherKey {
  kid: string;
  x: string;
}

export interface VerifiedBundleSignature {
  /** The publisher key that signed it. */
  kid: string;
  files: number;
}

const STRUCTURED = new Set(['data.json', 'data.yaml', '.manifest', SIGNATURES_FILE]);

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** A JSON string as Go's encoding/json writes it with SetEscapeHTML(false). */
function goString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else if (c < 0x20 || c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else if (c >= 0xd800 && c <= 0xdfff) out += '\\ufffd'; // a lone surrogate: Go writes the replacement character
    else out += ch;
  }
  return `${out}"`;
}

/** A number kept as its source text (OPA decodes with UseNumber and hashes the literal). */
class NumberText {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

/** OPA's structured-file hash input: objects with keys in byte order, arrays in order, primitives as Go encodes them. */
function walk(value: unknown, parts: string[]): void {
  if (value instanceof NumberText) parts.push(value.text);
  else if (Array.isArray(value)) {
    parts.push('[');
    value.forEach((v, i) => {
      if (i > 0) parts.push(',');
      walk(v, parts);
    });
    parts.push(']');
  } else if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
    parts.push('{');
    keys.forEach((k, i) => {
      if (i > 0) parts.push(',');
      parts.push(goString(k), ':');
      walk((value as Record<string, unknown>)[k], parts);
    });
    parts.push('}');
  } else if (typeof value === 'string') parts.push(goString(value));
  else parts.push(String(value)); // true, false, null
}

/** The SHA-256 OPA records for a bundle file. */
export function opaFileHash(path: string, bytes: Buffer): string {
  if (!STRUCTURED.has(baseName(path))) return createHash('sha256').update(bytes).digest('hex');
  const parsed: unknown = JSON.parse(bytes.toString('utf8'), (_key, value: unknown, context?: { source?: string }) =>
    typeof value === 'number' ? new NumberText(context?.source ?? String(value)) : value);
  const parts: string[] = [];
  walk(parsed, parts);
  return createHash('sha256').update(parts.join(''), 'utf8').digest('hex');
}

function refuse(code: 'BUNDLE_UNSIGNED' | 'BUNDLE_SIGNATURE_INVALID', message: string): never {
  throw new BundleTrustError(code, message);
}

/**
 * Verifies a bundle's OPA signature against the configured publisher keys (Ed25519, EdDSA).
 * BUNDLE_UNSIGNED when it has none; BUNDLE_SIGNATURE_INVALID for anything else wrong.
 */
export function verifyBundleSignature(bytes: Uint8Array, publishers: readonly PublisherKey[]): VerifiedBundleSignature {
  const files = untarGz(bytes);
  const sigFile = files.get(SIGNATURES_FILE);
  if (!sigFile) refuse('BUNDLE_UNSIGNED', `the bundle has no ${SIGNATURES_FILE}: build it with \`opa build --bundle --signing-key\``);
  let tokens: unknown;
  try {
    tokens = (JSON.parse(sigFile.toString('utf8')) as { signatures?: unknown }).signatures;
  } catch {
    refuse('BUNDLE_SIGNATURE_INVALID', `${SIGNATURES_FILE} is not JSON`);
  }
  if (!Array.isArray(tokens) || tokens.length !== 1 || typeof tokens[0] !== 'string') {
    refuse('BUNDLE_SIGNATURE_INVALID', `${SIGNATURES_FILE}: expected exactly one JWT`);
  }
  const parts = tokens[0].split('.');
  if (parts.length !== 3) refuse('BUNDLE_SIGNATURE_INVALID', 'the bundle signature is not a compact JWS');
  let header: { alg?: unknown; kid?: unknown };
  let payload: { files?: unknown; keyid?: unknown; scope?: unknown };
  try {
    header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as typeof header;
    payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as typeof payload;
  } catch {
    refuse('BUNDLE_SIGNATURE_INVALID', 'the bundle signature\'s header or payload is not JSON');
  }
  if (header.alg !== 'EdDSA') refuse('BUNDLE_SIGNATURE_INVALID', `the bundle is signed with ${String(header.alg)}; publishers sign with EdDSA (Ed25519)`);
  const kid = typeof header.kid === 'string' ? header.kid : typeof payload.keyid === 'string' ? payload.keyid : '';
  const publisher = publishers.find((p) => p.kid === kid);
  if (!publisher) refuse('BUNDLE_SIGNATURE_INVALID', `the bundle is signed by "${kid}", not a configured policy publisher`);
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publisher.x }, format: 'jwk' });
  if (!ed25519Verify(null, Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii'), key, Buffer.from(parts[2]!, 'base64url'))) {
    refuse('BUNDLE_SIGNATURE_INVALID', `the bundle signature does not verify under publisher key ${kid}`);
  }
  // No scope is configured: a signature made for a scope was made for another use.
  if (payload.scope !== undefined && payload.scope !== '') refuse('BUNDLE_SIGNATURE_INVALID', `the bundle was signed for scope ${String(payload.scope)}`);
  if (!Array.isArray(payload.files)) refuse('BUNDLE_SIGNATURE_INVALID', 'the bundle signature lists no files');
  const listed = new Map<string, { hash: string; algorithm: string }>();
  for (const f of payload.files as Array<{ name?: unknown; hash?: unknown; algorithm?: unknown }>) {
    if (typeof f.name !== 'string' || typeof f.hash !== 'string' || typeof f.algorithm !== 'string') refuse('BUNDLE_SIGNATURE_INVALID', 'a signed file entry lacks name, hash or algorithm');
    listed.set(f.name.replace(/^\/+/, ''), { hash: f.hash, algorithm: f.algorithm });
  }
  let checked = 0;
  for (const [name, content] of files) {
    if (name === SIGNATURES_FILE) continue;
    const entry = listed.get(name);
    if (!entry) refuse('BUNDLE_SIGNATURE_INVALID', `${name} is in the bundle but not in its signature`);
    if (entry.algorithm !== 'SHA-256') refuse('BUNDLE_SIGNATURE_INVALID', `${name} is signed with ${entry.algorithm}; only SHA-256 is accepted`);
    let actual: string;
    try {
      actual = opaFileHash(name, content);
    } catch {
      refuse('BUNDLE_SIGNATURE_INVALID', `${name} cannot be read to check its hash`);
    }
    if (actual !== entry.hash.toLowerCase()) refuse('BUNDLE_SIGNATURE_INVALID', `${name}: digest mismatch (signed ${entry.hash}, bundle ${actual})`);
    listed.delete(name);
    checked++;
  }
  if (listed.size > 0) refuse('BUNDLE_SIGNATURE_INVALID', `signed files missing from the bundle: ${[...listed.keys()].join(', ')}`);
  return { kid, files: checked };
}
