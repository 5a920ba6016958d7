// KafkaJS 2.2.4 checksums every record batch it produces (CRC-32C, which the broker verifies)
// with a byte-at-a-time JavaScript loop: 5.7% of the decision worker's CPU in a profile at
// 2,000 decisions/s. This hands KafkaJS the native CRC-32C of @node-rs/crc32 (SSE 4.2 where the
// CPU has it) instead. KafkaJS loads its record-batch encoder lazily, on the first produce, and
// takes the checksum function from the module cache then; this module replaces that cache
// entry first (bus.ts imports it before it creates a client). Same function, same result (a
// unit test compares both on random input, and the broker rejects a wrong CRC as
// CORRUPT_MESSAGE); where the native package does not load, KafkaJS's own loop stays.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const INDEX = require.resolve('kafkajs/src/protocol/recordBatch/crc32C/index.js');
const RECORD_BATCH = require.resolve('kafkajs/src/protocol/recordBatch/v0/index.js');
const INSTALLED = Symbol.for('intentgate.fastCrc32c');

function install(): boolean {
  // Too late once the encoder has taken its checksum function (it never would, before this runs).
  if (require.cache[RECORD_BATCH]) return false;
  let native: (input: Buffer) => number;
  try {
    native = (require('@node-rs/crc32') as { crc32c: (input: Buffer, initial?: number) => number }).crc32c;
  } catch {
    return false;
  }
  require(INDEX); // KafkaJS's module in the cache, then its exports swapped
  const entry = require.cache[INDEX];
  if (!entry) return false;
  const fast = Object.assign((buffer: Buffer) => native(buffer), { [INSTALLED]: true });
  entry.exports = fast;
  return true;
}

/** True when KafkaJS checksums with the native CRC-32C. */
export const fastCrc32cInstalled: boolean = (require(INDEX) as { [INSTALLED]?: boolean })[INSTALLED] === true || install();
