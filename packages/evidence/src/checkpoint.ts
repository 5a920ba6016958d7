// Checkpoints in the C2SP tlog-checkpoint form: "<origin>\n<size>\n<base64 root>\n", signed.
import type { Checkpoint } from '@intentgate/contracts';
import { NoteError, openNote, signNote, type NoteSigner, type NoteVerifier } from './note.ts';

export function checkpointText(origin: string, treeSize: number, rootHash: Uint8Array): string {
  if (!origin || /[\n\r]/.test(origin)) throw new NoteError('NOTE_MALFORMED', 'origin must be one non-empty line');
  if (!Number.isSafeInteger(treeSize) || treeSize < 0) throw new NoteError('NOTE_MALFORMED', 'tree size must be a non-negative integer');
  if (rootHash.length !== 32) throw new NoteError('NOTE_MALFORMED', 'root hash must be 32 bytes');
  return `${origin}\n${treeSize}\n${Buffer.from(rootHash).toString('base64')}\n`;
}

export function parseCheckpointText(text: string): { origin: string; treeSize: number; rootHash: Buffer } {
  const [origin, size, root] = text.split('\n');
  const rootHash = Buffer.from(root ?? '', 'base64');
  if (!origin || !size || !/^(0|[1-9]\d*)$/.test(size) || rootHash.length !== 32) {
    throw new NoteError('NOTE_MALFORMED', 'checkpoint text is not <origin>\\n<size>\\n<base64 root>');
  }
  return { origin, treeSize: Number(size), rootHash };
}

/** A signed checkpoint as published on ledger.checkpoints. */
export function signCheckpoint(origin: string, treeSize: number, rootHash: Uint8Array, signer: NoteSigner, issuedAt = new Date()): Checkpoint {
  const note = signNote(checkpointText(origin, treeSize, rootHash), [signer]);
  const line = note.slice(note.lastIndexOf('\n\n') + 2).trimEnd();
  return {
    origin, tree_size: treeSize, root_hash: Buffer.from(rootHash).toString('hex'), issued_at: issuedAt.toISOString(), note,
    signatures: [{ key_id: signer.name, algorithm: 'Ed25519', signature: line.split(' ').at(-1)! }],
  };
}

/** Verifies a checkpoint's note and that its fields say what the signed text says. */
export function verifyCheckpoint(checkpoint: Checkpoint, verifiers: readonly NoteVerifier[]): { origin: string; treeSize: number; rootHash: Buffer } {
  const { text } = openNote(checkpoint.note, verifiers);
  const signed = parseCheckpointText(text);
  if (signed.origin !== checkpoint.origin || signed.treeSize !== checkpoint.tree_size || signed.rootHash.toString('hex') !== checkpoint.root_hash) {
    throw new NoteError('NOTE_BAD_SIGNATURE', 'checkpoint fields differ from the signed text');
  }
  return signed;
}
