// Offline verification of a log directory: needs no service, only the files and the ledger's
// public key(s). Names the first bad entry (or checkpoint) and why.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Checkpoint } from '@intentgate/contracts';
import { CHECKPOINTS_FILE, ENTRIES_FILE, readFrames, receiptLeafHash } from './merkle-log.ts';
import { rootOf, type Hash } from './merkle.ts';
import { verifyCheckpoint } from './checkpoint.ts';
import type { NoteVerifier } from './note.ts';

export type Problem =
  | { kind: 'entry'; index: number; reason: string }
  | { kind: 'checkpoint'; checkpoint: number; reason: string; firstSuspectIndex?: number };

export interface LogVerification {
  ok: boolean;
  entries: number;
  checkpoints: number;
  problem?: Problem;
}

/** Verifies a log directory (see verifyLogData). */
export async function verifyLogDirectory(dir: string, origin: string, verifiers: readonly NoteVerifier[]): Promise<LogVerification> {
  const data = await readFile(join(dir, ENTRIES_FILE)).catch(() => Buffer.alloc(0));
  const checkpoints = await readFile(join(dir, CHECKPOINTS_FILE), 'utf8').catch(() => '');
  return verifyLogData(data, checkpoints, origin, verifiers);
}

/**
 * Verifies a log's bytes (as in entries.log) and checkpoints (as in checkpoints.jsonl): framing,
 * order, hashes of every entry, and every checkpoint (signature, root, no fork, no truncation).
 */
export function verifyLogData(data: Buffer, checkpointLines: string, origin: string, verifiers: readonly NoteVerifier[]): LogVerification {
  const frames = readFrames(data);
  const leaves: Hash[] = [];
  const fail = (problem: Problem): LogVerification => ({ ok: false, entries: leaves.length, checkpoints: 0, problem });
  let lastOffset = -1n;
  for (const [i, frame] of frames.entries()) {
    if (frame.problem) return fail({ kind: 'entry', index: i, reason: `${frame.problem} frame at byte ${frame.at}` });
    const e = frame.entry!;
    if (e.index !== i) {
      const later = frames.slice(i + 1).some((f) => f.entry?.index === i);
      return fail({ kind: 'entry', index: i, reason: later || e.index < i ? `out of order (found index ${e.index} at position ${i})` : `entry ${i} is missing (found index ${e.index})` });
    }
    const offset = BigInt(e.offset);
    if (offset <= lastOffset) return fail({ kind: 'entry', index: i, reason: `source offset ${e.offset} does not follow ${lastOffset}` });
    lastOffset = offset;
    const hash = receiptLeafHash(e.receipt);
    if (hash.toString('hex') !== e.leaf_hash) return fail({ kind: 'entry', index: i, reason: 'receipt body does not hash to its recorded leaf hash' });
    leaves.push(hash);
  }
  const lines = checkpointLines.split('\n').filter(Boolean);
  const seen = new Map<number, { root: string; at: number }>();
  let previousGood = 0;
  for (const [c, line] of lines.entries()) {
    let cp: Checkpoint;
    try {
      cp = JSON.parse(line) as Checkpoint;
      verifyCheckpoint(cp, verifiers);
    } catch (err) {
      return { ...fail({ kind: 'checkpoint', checkpoint: c, reason: `signature: ${(err as Error).message}` }), entries: leaves.length };
    }
    if (cp.origin !== origin) return { ...fail({ kind: 'checkpoint', checkpoint: c, reason: `origin ${cp.origin} is not ${origin}` }), entries: leaves.length };
    const twin = seen.get(cp.tree_size);
    if (twin && twin.root !== cp.root_hash) {
      return { ...fail({ kind: 'checkpoint', checkpoint: c, reason: `fork: checkpoints ${twin.at} and ${c} sign different roots for size ${cp.tree_size}` }), entries: leaves.length };
    }
    seen.set(cp.tree_size, { root: cp.root_hash, at: c });
    if (cp.tree_size > leaves.length) {
      return { ...fail({ kind: 'entry', index: leaves.length, reason: `log ends at ${leaves.length} entries but checkpoint ${c} signs ${cp.tree_size}: entries truncated` }), entries: leaves.length };
    }
    if (rootOf(leaves, cp.tree_size).toString('hex') !== cp.root_hash) {
      return {
        ...fail({ kind: 'checkpoint', checkpoint: c, reason: `entries 0..${cp.tree_size - 1} do not hash to the signed root; the first altered entry is at or after ${previousGood}`, firstSuspectIndex: previousGood }),
        entries: leaves.length,
      };
    }
    previousGood = Math.max(previousGood, cp.tree_size);
  }
  return { ok: true, entries: leaves.length, checkpoints: lines.length };
}
