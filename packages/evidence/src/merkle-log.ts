// One append-only Merkle log on disk (one per receipts partition). Derived state: it can be
// rebuilt from the receipts topic. Layout of a log directory:
//   entries.log       frames of  u32be length | u32be crc32(payload) | payload
//                     payload = canonical JSON {index, offset, leaf_hash, receipt}
//   checkpoints.jsonl one signed Checkpoint per line
// Durability: append() writes a batch and fsyncs the file before it resolves; callers commit
// their consumer offsets only after that. A crash mid-append leaves at most a torn last frame,
// which open() truncates away: the log never holds a half-written entry.
import { appendFile, mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Checkpoint, Receipt } from '@intentgate/contracts';
import { canonicalJson } from './canonical.ts';
import { consistencyProof, inclusionProof, leafHash, rootOf, type Hash } from './merkle.ts';

export interface LogEntry {
  index: number;
  /** Offset of the receipt in its topic partition (the log's position in its source). */
  offset: string;
  leaf_hash: string;
  receipt: Receipt;
}

export class LogCorrupt extends Error {
  readonly code = 'LOG_CORRUPT';
  readonly index: number;
  constructor(index: number, message: string) {
    super(`entry ${index}: ${message}`);
    this.name = 'LogCorrupt';
    this.index = index;
  }
}

const HEADER = 8;
export const ENTRIES_FILE = 'entries.log';
export const CHECKPOINTS_FILE = 'checkpoints.jsonl';

/** The leaf a receipt becomes: RFC 6962 leaf hash of its canonical JSON. */
export function receiptLeafHash(receipt: Receipt): Hash {
  return leafHash(Buffer.from(canonicalJson(receipt)));
}

export function encodeFrame(entry: LogEntry): Buffer {
  const payload = Buffer.from(canonicalJson(entry));
  const header = Buffer.alloc(HEADER);
  header.writeUInt32BE(payload.length, 0);
  header.writeUInt32BE(crc32(payload), 4);
  return Buffer.concat([header, payload]);
}

export interface Frame {
  /** Byte position of the frame in the file. */
  at: number;
  entry: LogEntry | null;
  /** Why the frame could not be read, when it could not. */
  problem?: 'torn' | 'checksum' | 'unparseable';
}

/** Reads every frame; stops at the first torn (incomplete) frame. */
export function readFrames(data: Buffer): Frame[] {
  const frames: Frame[] = [];
  let at = 0;
  while (at < data.length) {
    if (at + HEADER > data.length) {
      frames.push({ at, entry: null, problem: 'torn' });
      break;
    }
    const length = data.readUInt32BE(at);
    const crc = data.readUInt32BE(at + 4);
    if (at + HEADER + length > data.length) {
      frames.push({ at, entry: null, problem: 'torn' });
      break;
    }
    const payload = data.subarray(at + HEADER, at + HEADER + length);
    if (crc32(payload) !== crc) frames.push({ at, entry: null, problem: 'checksum' });
    else {
      try {
        frames.push({ at, entry: JSON.parse(payload.toString('utf8')) as LogEntry });
      } catch {
        frames.push({ at, entry: null, problem: 'unparseable' });
      }
    }
    at += HEADER + length;
  }
  return frames;
}

export class MerkleLog {
  readonly dir: string;
  readonly origin: string;
  readonly #leaves: Hash[] = [];
  readonly #byReceipt = new Map<string, number>();
  /** Byte position of each entry's frame, and the end of the file. */
  readonly #positions: number[] = [];
  #end = 0;
  #lastOffset = -1n;
  #file!: FileHandle;
  #checkpoints: Checkpoint[] = [];

  private constructor(dir: string, origin: string) {
    this.dir = dir;
    this.origin = origin;
  }

  /**
   * Opens (or creates) a log. A torn last frame (a crash mid-append) is truncated away; a bad
   * frame anywhere else is corruption, and the log refuses to open (rebuild it from the topic).
   * `onEntry` sees every verified entry once, for indexes kept beside the log.
   */
  static async open(dir: string, origin: string, onEntry?: (entry: LogEntry) => void): Promise<MerkleLog> {
    await mkdir(dir, { recursive: true });
    const log = new MerkleLog(dir, origin);
    const path = join(dir, ENTRIES_FILE);
    const data = await readFile(path).catch(() => Buffer.alloc(0));
    const frames = readFrames(data);
    let keep = data.length;
    for (const [i, frame] of frames.entries()) {
      if (frame.problem === 'torn' || (frame.problem && i === frames.length - 1)) {
        keep = frame.at; // the crash window: drop the partial tail
        break;
      }
      if (frame.problem) throw new LogCorrupt(i, `${frame.problem} frame in the middle of ${path}`);
      const entry = frame.entry!;
      if (entry.index !== i) throw new LogCorrupt(i, `holds index ${entry.index}`);
      const hash = receiptLeafHash(entry.receipt);
      if (hash.toString('hex') !== entry.leaf_hash) throw new LogCorrupt(i, 'receipt does not hash to its leaf hash');
      log.#leaves.push(hash);
      log.#positions.push(frame.at);
      log.#byReceipt.set(entry.receipt.receipt_id, i);
      log.#lastOffset = BigInt(entry.offset);
      onEntry?.(entry);
    }
    log.#end = keep;
    log.#file = await open(path, 'a+');
    if (keep < data.length) {
      await log.#file.truncate(keep);
      await log.#file.sync();
    }
    const lines = await readFile(join(dir, CHECKPOINTS_FILE), 'utf8').catch(() => '');
    log.#checkpoints = lines.split('\n').filter(Boolean).flatMap((l) => {
      try {
        return [JSON.parse(l) as Checkpoint];
      } catch {
        return []; // a torn last checkpoint line; it is re-issued
      }
    });
    return log;
  }

  get size(): number {
    return this.#leaves.length;
  }

  /** The source offset of the last entry (-1 when empty): records at or below it are already in. */
  get lastOffset(): bigint {
    return this.#lastOffset;
  }

  root(size = this.size): Hash {
    return rootOf(this.#leaves, size);
  }

  indexOf(receiptId: string): number | undefined {
    return this.#byReceipt.get(receiptId);
  }

  inclusionProof(index: number, size = this.size): Hash[] {
    return inclusionProof(this.#leaves, index, size);
  }

  consistencyProof(from: number, to = this.size): Hash[] {
    return consistencyProof(this.#leaves, from, to);
  }

  /**
   * Appends receipts in source order and fsyncs before resolving. Records at or below the last
   * appended offset are skipped (a redelivered batch), so each receipt appears exactly once.
   */
  async append(records: ReadonlyArray<{ offset: string; receipt: Receipt }>): Promise<number> {
    const frames: Buffer[] = [];
    const added: Array<{ hash: Hash; id: string; offset: bigint }> = [];
    let index = this.size;
    let last = this.#lastOffset;
    for (const { offset, receipt } of records) {
      const o = BigInt(offset);
      if (o <= last) continue;
      const hash = receiptLeafHash(receipt);
      frames.push(encodeFrame({ index, offset, leaf_hash: hash.toString('hex'), receipt }));
      added.push({ hash, id: receipt.receipt_id, offset: o });
      last = o;
      index++;
    }
    if (frames.length === 0) return 0;
    await this.#file.write(Buffer.concat(frames));
    await this.#file.sync();
    for (const [k, a] of added.entries()) {
      this.#byReceipt.set(a.id, this.#leaves.length);
      this.#leaves.push(a.hash);
      this.#positions.push(this.#end);
      this.#end += frames[k]!.length;
    }
    this.#lastOffset = last;
    return added.length;
  }

  /** Reads one entry back from disk. */
  async entry(index: number): Promise<LogEntry> {
    const at = this.#positions[index];
    if (at === undefined) throw new RangeError(`no entry ${index} in a log of ${this.size}`);
    const header = Buffer.alloc(HEADER);
    await this.#file.read(header, 0, HEADER, at);
    const payload = Buffer.alloc(header.readUInt32BE(0));
    await this.#file.read(payload, 0, payload.length, at + HEADER);
    if (crc32(payload) !== header.readUInt32BE(4)) throw new LogCorrupt(index, 'checksum mismatch on read');
    return JSON.parse(payload.toString('utf8')) as LogEntry;
  }

  async addCheckpoint(checkpoint: Checkpoint): Promise<void> {
    await appendFile(join(this.dir, CHECKPOINTS_FILE), `${JSON.stringify(checkpoint)}\n`, { flush: true });
    this.#checkpoints.push(checkpoint);
  }

  get checkpoints(): readonly Checkpoint[] {
    return this.#checkpoints;
  }

  async close(): Promise<void> {
    await this.#file.close();
  }
}
