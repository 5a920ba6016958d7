// The on-disk log: append, reopen, torn-tail recovery after a SIGKILL in a child process, and
// offline verification that names the first bad entry for each kind of tampering.
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Receipt } from '@intentgate/contracts';
import {
  CHECKPOINTS_FILE, ENTRIES_FILE, MerkleLog, encodeFrame, parseVerifierKey, readFrames, receiptLeafHash, signCheckpoint, signerFor,
  verifierKeyText, verifyLogDirectory, verifyInclusion, verifyConsistency, type LogEntry,
} from '../src/index.ts';

const ORIGIN = 'intentgate/receipts/0';
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ig-log-'));
  dirs.push(d);
  return d;
}

// The log is indifferent to who signed a receipt (the ledger checks that before appending).
const SIGNATURE = 'eyJhbGciOiJFZERTQSJ9.e30.c2ln';

function receipt(n: number): Receipt {
  return { receipt_id: randomUUID(), kind: 'decision', intent_id: randomUUID(), body: { n }, producer: 'test', produced_at: '2026-11-23T12:00:00.000Z', signature: SIGNATURE };
}

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const signer = signerFor('ledger.test', privateKey, publicKey);
const verifiers = [parseVerifierKey(verifierKeyText(signer.name, publicKey))];

/** A log of `n` receipts with a checkpoint every `every` entries and one at the end. */
async function buildLog(n: number, every = 10): Promise<string> {
  const dir = await tempDir();
  const log = await MerkleLog.open(dir, ORIGIN);
  for (let i = 0; i < n; i++) {
    await log.append([{ offset: String(i * 2), receipt: receipt(i) }]);
    if ((i + 1) % every === 0 || i === n - 1) await log.addCheckpoint(signCheckpoint(ORIGIN, log.size, log.root(), signer));
  }
  await log.close();
  return dir;
}

async function frames(dir: string): Promise<LogEntry[]> {
  return readFrames(await readFile(join(dir, ENTRIES_FILE))).map((f) => f.entry!);
}

async function rewrite(dir: string, entries: LogEntry[]): Promise<void> {
  await writeFile(join(dir, ENTRIES_FILE), Buffer.concat(entries.map(encodeFrame)));
}

describe('merkle log', () => {
  it('appends, proves inclusion and consistency, and reopens to the same root', async () => {
    const dir = await buildLog(25);
    const log = await MerkleLog.open(dir, ORIGIN);
    expect(log.size).toBe(25);
    const root = log.root();
    const entries = await frames(dir);
    const e = entries[17]!;
    expect(verifyInclusion(17, 25, Buffer.from(e.leaf_hash, 'hex'), log.inclusionProof(17), root)).toBe(true);
    expect(verifyConsistency(10, 25, log.consistencyProof(10), log.root(10), root)).toBe(true);
    expect(log.indexOf(e.receipt.receipt_id)).toBe(17);
    // A redelivered batch (offsets already in) adds nothing.
    expect(await log.append([{ offset: e.offset, receipt: e.receipt }])).toBe(0);
    expect(log.size).toBe(25);
    await log.close();
    expect(await verifyLogDirectory(dir, ORIGIN, verifiers)).toMatchObject({ ok: true, entries: 25, checkpoints: 3 });
  });

  it('a torn last frame (crash mid-append) is truncated on open; the log verifies', async () => {
    const dir = await buildLog(5, 5);
    const whole = encodeFrame({ index: 5, offset: '100', leaf_hash: receiptLeafHash(receipt(5)).toString('hex'), receipt: receipt(5) });
    await appendFile(join(dir, ENTRIES_FILE), whole.subarray(0, whole.length - 7));
    const log = await MerkleLog.open(dir, ORIGIN);
    expect(log.size).toBe(5);
    await log.append([{ offset: '100', receipt: receipt(5) }]);
    await log.close();
    expect(await verifyLogDirectory(dir, ORIGIN, verifiers)).toMatchObject({ ok: true, entries: 6 });
  });

  it('killed with SIGKILL while appending: reopens to a whole prefix that verifies', async () => {
    const dir = await tempDir();
    const script = `
      import { MerkleLog } from ${JSON.stringify(join(import.meta.dirname, '..', 'src', 'index.ts'))};
      import { randomUUID } from 'node:crypto';
      const log = await MerkleLog.open(${JSON.stringify(dir)}, 'o');
      for (let i = 0; ; i++) {
        await log.append([{ offset: String(i), receipt: { receipt_id: randomUUID(), kind: 'decision', intent_id: randomUUID(), body: { pad: 'x'.repeat(4000), i }, producer: 'p', produced_at: '2026-11-23T12:00:00.000Z' } }]);
        if (i === 50) process.stdout.write('appending\\n');
      }`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout!.on('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 150));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const log = await MerkleLog.open(dir, 'o');
    expect(log.size).toBeGreaterThan(50);
    const size = log.size;
    await log.close();
    const again = await verifyLogDirectory(dir, 'o', verifiers);
    expect(again).toMatchObject({ ok: true, entries: size });
  });
});

describe('tampering is caught and named', () => {
  it('a receipt body changed', async () => {
    const dir = await buildLog(30);
    const entries = await frames(dir);
    entries[12]!.receipt.body = { n: 999 };
    await rewrite(dir, entries);
    expect((await verifyLogDirectory(dir, ORIGIN, verifiers)).problem).toMatchObject({ kind: 'entry', index: 12, reason: expect.stringMatching(/does not hash/) });
  });

  it('an entry deleted', async () => {
    const dir = await buildLog(30);
    const entries = await frames(dir);
    entries.splice(7, 1);
    await rewrite(dir, entries);
    expect((await verifyLogDirectory(dir, ORIGIN, verifiers)).problem).toMatchObject({ kind: 'entry', index: 7, reason: expect.stringMatching(/missing/) });
  });

  it('two entries swapped', async () => {
    const dir = await buildLog(30);
    const entries = await frames(dir);
    [entries[20], entries[21]] = [entries[21]!, entries[20]!];
    await rewrite(dir, entries);
    expect((await verifyLogDirectory(dir, ORIGIN, verifiers)).problem).toMatchObject({ kind: 'entry', index: 20, reason: expect.stringMatching(/out of order/) });
  });

  it('a forged entry inserted, with indices, offsets and hashes all recomputed', async () => {
    const dir = await buildLog(30);
    const entries = await frames(dir);
    const forged = receipt(-1);
    const forgedEntry: LogEntry = { index: 0, offset: String(Number(entries[14]!.offset) + 1), leaf_hash: receiptLeafHash(forged).toString('hex'), receipt: forged };
    entries.splice(15, 0, forgedEntry);
    entries.forEach((e, i) => (e.index = i));
    await rewrite(dir, entries);
    expect((await verifyLogDirectory(dir, ORIGIN, verifiers)).problem).toMatchObject({ kind: 'checkpoint', checkpoint: 1, firstSuspectIndex: 10 });
  });

  it('the tail truncated', async () => {
    const dir = await buildLog(30);
    const entries = await frames(dir);
    await rewrite(dir, entries.slice(0, 26));
    expect((await verifyLogDirectory(dir, ORIGIN, verifiers)).problem).toMatchObject({ kind: 'entry', index: 26, reason: expect.stringMatching(/truncated/) });
  });

  it('a checkpoint signature replaced', async () => {
    const dir = await buildLog(30);
    const lines = (await readFile(join(dir, CHECKPOINTS_FILE), 'utf8')).trim().split('\n');
    const other = generateKeyPairSync('ed25519');
    const cp = JSON.parse(lines[1]!);
    const resigned = signCheckpoint(ORIGIN, cp.tree_size, Buffer.from(cp.root_hash, 'hex'), signerFor('ledger.test', other.privateKey, other.publicKey));
    lines[1] = JSON.stringify(resigned);
    await writeFile(join(dir, CHECKPOINTS_FILE), `${lines.join('\n')}\n`);
    expect((await verifyLogDirectory(dir, ORIGIN, verifiers)).problem).toMatchObject({ kind: 'checkpoint', checkpoint: 1, reason: expect.stringMatching(/signature/) });
  });

  it('a fork: two checkpoints of the same size with different roots', async () => {
    const dir = await buildLog(30);
    const fork = signCheckpoint(ORIGIN, 20, Buffer.alloc(32, 7), signer);
    await appendFile(join(dir, CHECKPOINTS_FILE), `${JSON.stringify(fork)}\n`);
    expect((await verifyLogDirectory(dir, ORIGIN, verifiers)).problem).toMatchObject({ kind: 'checkpoint', checkpoint: 3, reason: expect.stringMatching(/fork: checkpoints 1 and 3/) });
  });

  it('a corrupt frame in the middle makes the ledger refuse to open (rebuild it from the topic)', async () => {
    const dir = await buildLog(30);
    const data = await readFile(join(dir, ENTRIES_FILE));
    data[200]! ^= 0xff;
    await writeFile(join(dir, ENTRIES_FILE), data);
    await expect(MerkleLog.open(dir, ORIGIN)).rejects.toMatchObject({ code: 'LOG_CORRUPT' });
    expect((await verifyLogDirectory(dir, ORIGIN, verifiers)).problem).toMatchObject({ kind: 'entry', reason: expect.stringMatching(/checksum|unparseable/) });
  });
});
