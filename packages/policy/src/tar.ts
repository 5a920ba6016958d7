import { gunzipSync } from 'node:zlib';
import { PolicyError } from './errors.ts';

const BLOCK = 512;

function field(header: Buffer, start: number, length: number): string {
  const raw = header.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? raw.length : end).toString('utf8');
}

/**
 * The regular files of a gzipped tar (what `opa build` writes), by name without a leading
 * slash. Small and strict on purpose: a truncated or malformed archive is BUNDLE_CORRUPT.
 */
export function untarGz(bytes: Uint8Array): Map<string, Buffer> {
  let tar: Buffer;
  try {
    tar = gunzipSync(bytes);
  } catch (err) {
    throw new PolicyError('BUNDLE_CORRUPT', `bundle is not gzip data: ${(err as Error).message}`, err);
  }
  const files = new Map<string, Buffer>();
  for (let offset = 0; offset + BLOCK <= tar.length; ) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break; // end-of-archive marker
    const name = field(header, 0, 100);
    const prefix = field(header, 345, 155);
    const size = Number.parseInt(field(header, 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] ?? 0);
    if (!Number.isFinite(size) || size < 0) throw new PolicyError('BUNDLE_CORRUPT', `bad size in tar header for ${name}`);
    const start = offset + BLOCK;
    if (start + size > tar.length) throw new PolicyError('BUNDLE_CORRUPT', `tar entry ${name} is truncated`);
    if (type === '0' || type === '\0') {
      const full = (prefix ? `${prefix}/${name}` : name).replace(/^\/+/, '');
      files.set(full, Buffer.from(tar.subarray(start, start + size)));
    }
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  return files;
}
