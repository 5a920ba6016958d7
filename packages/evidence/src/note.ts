// C2SP signed notes (the format of Go's sumdb/note and transparency-log checkpoints) with
// Ed25519: text, a blank line, then "— <name> <base64(key id || signature)>" lines.
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

const ED25519 = 0x01;
const DASH = '\u2014 ';
const MAX_NOTE = 1 << 20;

export class NoteError extends Error {
  readonly code: 'NOTE_MALFORMED' | 'NOTE_BAD_SIGNATURE' | 'NOTE_UNSIGNED';
  constructor(code: NoteError['code'], message: string) {
    super(message);
    this.name = 'NoteError';
    this.code = code;
  }
}

export interface NoteVerifier {
  name: string;
  keyId: Buffer;
  publicKey: KeyObject;
}

export interface NoteSigner extends NoteVerifier {
  privateKey: KeyObject;
}

/** 4-byte key id: SHA-256(name || "\n" || 0x01 || public key)[:4]. */
export function noteKeyId(name: string, rawPublicKey: Uint8Array): Buffer {
  return createHash('sha256').update(name).update(Buffer.from([0x0a, ED25519])).update(rawPublicKey).digest().subarray(0, 4);
}

export function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' }) as { x?: string };
  if (!jwk.x) throw new TypeError('not an Ed25519 public key');
  return Buffer.from(jwk.x, 'base64url');
}

function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

function validName(name: string): boolean {
  return name.length > 0 && !/[\s+]/.test(name);
}

/** The shareable verifier key: "<name>+<hex key id>+<base64(0x01 || public key)>". */
export function verifierKeyText(name: string, publicKey: KeyObject): string {
  const raw = rawPublicKey(publicKey);
  return `${name}+${noteKeyId(name, raw).toString('hex')}+${Buffer.concat([Buffer.from([ED25519]), raw]).toString('base64')}`;
}

export function parseVerifierKey(text: string): NoteVerifier {
  // The base64 key may itself contain "+": split at the first two only.
  const first = text.indexOf('+');
  const second = text.indexOf('+', first + 1);
  const [name, hexId, b64] = [text.slice(0, first), text.slice(first + 1, second), text.slice(second + 1)];
  if (first < 0 || second < 0 || !name || !/^[0-9a-fA-F]{8}$/.test(hexId) || !b64 || !validName(name)) throw new NoteError('NOTE_MALFORMED', 'verifier key is not <name>+<hex id>+<base64 key>');
  const key = Buffer.from(b64, 'base64');
  if (key.length !== 33 || key[0] !== ED25519) throw new NoteError('NOTE_MALFORMED', 'verifier key is not an Ed25519 key');
  const raw = key.subarray(1);
  const keyId = noteKeyId(name, raw);
  if (keyId.toString('hex') !== hexId.toLowerCase()) throw new NoteError('NOTE_MALFORMED', 'verifier key id does not match its key');
  return { name, keyId, publicKey: publicKeyFromRaw(raw) };
}

export function signerFor(name: string, privateKey: KeyObject, publicKey: KeyObject): NoteSigner {
  if (!validName(name)) throw new NoteError('NOTE_MALFORMED', `bad key name ${JSON.stringify(name)}`);
  return { name, keyId: noteKeyId(name, rawPublicKey(publicKey)), publicKey, privateKey };
}

/** Signs note text (newline-terminated, no blank lines) with each signer. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  if (!text.endsWith('\n') || text.includes('\n\n') || /[\x00-\x09\x0b-\x1f]/.test(text)) {
    throw new NoteError('NOTE_MALFORMED', 'note text must end in a newline and hold no blank line or control character');
  }
  const lines = signers.map((s) => `${DASH}${s.name} ${Buffer.concat([s.keyId, sign(null, Buffer.from(text), s.privateKey)]).toString('base64')}\n`);
  return `${text}\n${lines.join('')}`;
}

/**
 * Opens a signed note: its text, and the names of known keys whose signatures verify.
 * Unknown keys are ignored; a known key whose signature fails rejects the whole note; at least
 * one known key must have signed.
 */
export function openNote(note: string, verifiers: readonly NoteVerifier[]): { text: string; verifiedBy: string[] } {
  if (note.length > MAX_NOTE) throw new NoteError('NOTE_MALFORMED', 'note too large');
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) throw new NoteError('NOTE_MALFORMED', 'no signature block');
  const text = note.slice(0, split + 1);
  const sigLines = note.slice(split + 2, -1).split('\n');
  const verifiedBy: string[] = [];
  for (const line of sigLines) {
    if (!line.startsWith(DASH)) throw new NoteError('NOTE_MALFORMED', `not a signature line: ${JSON.stringify(line.slice(0, 40))}`);
    const [name, b64, ...rest] = line.slice(DASH.length).split(' ');
    if (!name || !b64 || rest.length > 0) throw new NoteError('NOTE_MALFORMED', 'signature line is not "— <name> <signature>"');
    const blob = Buffer.from(b64, 'base64');
    if (blob.length < 5) throw new NoteError('NOTE_MALFORMED', 'signature too short');
    const keyId = blob.subarray(0, 4);
    const verifier = verifiers.find((v) => v.name === name && v.keyId.equals(keyId));
    if (!verifier || verifiedBy.includes(name)) continue;
    if (!verify(null, Buffer.from(text), verifier.publicKey, blob.subarray(4))) {
      throw new NoteError('NOTE_BAD_SIGNATURE', `signature by ${name} does not verify`);
    }
    verifiedBy.push(name);
  }
  if (verifiedBy.length === 0) throw new NoteError('NOTE_UNSIGNED', 'no signature by a known key');
  return { text, verifiedBy };
}
