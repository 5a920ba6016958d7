// The native CRC-32C handed to KafkaJS is the same function as KafkaJS's own loop, and it is
// the one KafkaJS's record-batch encoder uses.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import '@intentgate/bus';
import { fastCrc32cInstalled } from '../src/fast-crc32c.ts';

const require = createRequire(import.meta.url);

describe('KafkaJS with the native CRC-32C', () => {
  it('is installed before KafkaJS loads its record-batch encoder', () => {
    expect(fastCrc32cInstalled).toBe(true);
  });

  it('gives the same checksums as KafkaJS JavaScript loop', () => {
    const fast = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number;
    const loop = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as (b: Buffer) => number;
    expect(fast).not.toBe(loop);
    expect(fast(Buffer.from('123456789'))).toBe(0xe3069283); // the CRC-32C check value
    for (const size of [0, 1, 7, 8, 9, 63, 64, 65, 1000, 4096, 100_003]) {
      const bytes = randomBytes(size);
      expect(fast(bytes), `${size} bytes`).toBe(loop(bytes));
    }
  });

  it('is what the record-batch encoder writes into a batch', async () => {
    const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as { RecordBatch: (args: object) => Promise<{ buffer: Buffer }> };
    const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (args: object) => unknown;
    const loop = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as (b: Buffer) => number;
    const encoded = await RecordBatch({ records: [Record({ key: Buffer.from('k'), value: randomBytes(300), offsetDelta: 0, timestampDelta: 0, headers: {} })] });
    const buffer = encoded.buffer;
    // v2 batch layout: baseOffset(8) batchLength(4) leaderEpoch(4) magic(1) crc(4) then the checksummed rest.
    expect(buffer.readUInt32BE(17)).toBe(loop(buffer.subarray(21)));
  });
});

describe('KafkaJS without the native CRC-32C', () => {
  it('keeps its own loop when @node-rs/crc32 does not load, and still checksums correctly', async () => {
    // A child process in which resolving the native package fails, as on a platform it has no build for.
    const preload = `const M = require('node:module'); const resolve = M._resolveFilename;
      M._resolveFilename = function (request, ...rest) {
        if (request === '@node-rs/crc32') throw Object.assign(new Error('no native build here'), { code: 'MODULE_NOT_FOUND' });
        return resolve.call(this, request, ...rest);
      };`;
    const script = `
      const { fastCrc32cInstalled } = await import(${JSON.stringify(fileURLToPath(new URL('../src/fast-crc32c.ts', import.meta.url)))});
      const { createRequire } = await import('node:module');
      const require = createRequire(${JSON.stringify(import.meta.url)});
      const used = require('kafkajs/src/protocol/recordBatch/crc32C/index.js');
      const loop = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js');
      const bytes = require('node:crypto').randomBytes(4099);
      console.log(JSON.stringify({
        fastCrc32cInstalled, native: used[Symbol.for('intentgate.fastCrc32c')] === true,
        check: used(Buffer.from('123456789')), sameAsLoop: used(bytes) === loop(bytes) >>> 0,
      }));`;
    const dir = await mkdtemp(join(tmpdir(), 'crc-fallback-'));
    try {
      await writeFile(join(dir, 'no-native.cjs'), preload);
      const { stdout } = await promisify(execFile)(process.execPath, ['--require', join(dir, 'no-native.cjs'), '--input-type=module', '-e', script]);
      expect(JSON.parse(stdout)).toEqual({ fastCrc32cInstalled: false, native: false, check: 0xe3069283, sameAsLoop: true });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
