// Ledger benchmark: append rate (receipts per second, fsync per batch) and the time to verify
// 100,000 entries offline, each against a floor measured in the same run on the same disk:
//   append floor = the same frames written and fsynced per batch, with no hashing or JSON work;
//   verify floor = reading the file and SHA-256 over each payload, with no Merkle or JSON work.
// Usage: npm run bench:ledger [-- --entries 100000 --batch 100]
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Receipt } from '@intentgate/contracts';
import { MerkleLog, encodeFrame, verifyLogDirectory, signerFor, signCheckpoint, parseVerifierKey, verifierKeyText, ENTRIES_FILE } from '@intentgate/evidence';

const { values } = parseArgs({ options: { entries: { type: 'string', default: '100000' }, batch: { type: 'string', default: '100' } } });
const N = Number(values.entries);
const BATCH = Number(values.batch);

function receipt(i: number): Receipt {
  return {
    // The log appends what the ledger verified; its cost is measured here without the signature check.
    receipt_id: randomUUID(), kind: 'decision', intent_id: randomUUID(), producer: 'bench', produced_at: new Date().toISOString(), signature: 'eyJhbGciOiJFZERTQSJ9.e30.c2ln',
    body: { decision: { verdict: i % 3 === 0 ? 'allow' : 'deny', reasons: [{ code: 'BENCH', rule: 'bench', message: 'x'.repeat(64) }] }, input: { n: i, pad: 'y'.repeat(400) } },
  };
}

const dir = await mkdtemp(join(tmpdir(), 'ig-bench-ledger-'));
try {
  const receipts = Array.from({ length: N }, (_, i) => receipt(i));

  // Floor: the same bytes, written and fsynced per batch.
  const frames = receipts.map((r, i) => encodeFrame({ index: i, offset: String(i), leaf_hash: '0'.repeat(64), receipt: r }));
  const floorFile = await open(join(dir, 'floor.log'), 'a');
  let t = performance.now();
  for (let i = 0; i < N; i += BATCH) {
    await floorFile.write(Buffer.concat(frames.slice(i, i + BATCH)));
    await floorFile.sync();
  }
  const floorAppendMs = performance.now() - t;
  await floorFile.close();

  // The ledger's append: canonical JSON, leaf hash, framing, fsync per batch.
  const log = await MerkleLog.open(join(dir, 'log'), 'bench/0');
  t = performance.now();
  for (let i = 0; i < N; i += BATCH) {
    await log.append(receipts.slice(i, i + BATCH).map((r, k) => ({ offset: String(i + k), receipt: r })));
  }
  const appendMs = performance.now() - t;
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const signer = signerFor('bench', privateKey, publicKey);
  t = performance.now();
  const root = log.root();
  const rootMs = performance.now() - t;
  await log.addCheckpoint(signCheckpoint('bench/0', log.size, root, signer));
  await log.close();

  // Verify floor: read and hash each payload.
  t = performance.now();
  const data = await readFile(join(dir, 'log', ENTRIES_FILE));
  let at = 0;
  while (at < data.length) {
    const len = data.readUInt32BE(at);
    createHash('sha256').update(data.subarray(at + 8, at + 8 + len)).digest();
    at += 8 + len;
  }
  const floorVerifyMs = performance.now() - t;
  t = performance.now();
  const result = await verifyLogDirectory(join(dir, 'log'), 'bench/0', [parseVerifierKey(verifierKeyText('bench', publicKey))]);
  const verifyMs = performance.now() - t;
  if (!result.ok || result.entries !== N) throw new Error(`verification failed: ${JSON.stringify(result)}`);

  const rate = (N / appendMs) * 1000;
  const floorRate = (N / floorAppendMs) * 1000;
  const bytes = data.length;
  const lines = [
    `# Ledger benchmark`,
    ``,
    `Run: \`npm run bench:ledger -- --entries ${N} --batch ${BATCH}\` on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.versions.node}, ${new Date().toISOString()}.`,
    `${N} receipts of about ${Math.round(bytes / N)} bytes each, ${(bytes / 1e6).toFixed(1)} MB on disk, fsync after every batch of ${BATCH}.`,
    ``,
    `| measure | result | floor (same run) | ratio to floor |`,
    `|---|---|---|---|`,
    `| append rate | ${Math.round(rate)} receipts/s | ${Math.round(floorRate)} frames/s (write + fsync only) | ${(rate / floorRate).toFixed(2)} |`,
    `| verify ${N} entries offline | ${(verifyMs / 1000).toFixed(2)} s | ${(floorVerifyMs / 1000).toFixed(2)} s (read + sha256 only) | ${(verifyMs / floorVerifyMs).toFixed(2)} |`,
    `| tree head over ${N} leaves | ${rootMs.toFixed(0)} ms | | |`,
    ``,
  ];
  const report = lines.join('\n');
  console.log(report);
  await writeFile(join(import.meta.dirname, 'LEDGER.md'), report);
} finally {
  await rm(dir, { recursive: true, force: true });
}
