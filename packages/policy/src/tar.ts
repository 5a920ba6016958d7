import { gunzipSync, gzipSync } from 'node:zlib';
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

/**
 * A gzipped ustar archive of the given files (names get the leading slash opa writes), for
 * bundles assembled outside `opa build`.
 */
export function tarGz(files: ReadonlyMap<string, Buffer>): Buffer {
  const blocks: Buffer[] = [];
  for (const [name, content] of files) {
    const header = Buffer.alloc(BLOCK);
    header.write(`/${name}`, 0, 100, 'utf8');
    header.write('0000600\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write(`${content.length.toString(8).padStart(11, '0')}\0`, 124);
    header.write('00000000000\0', 136);
    header.write('        ', 148); // the checksum counts its own field as spaces
    header.write('0', 156);
    header.write('ustar\0', 257);
    header.write('00', 263);
    let sum = 0;
    for (const b of header) sum += b;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(header, content, Buffer.alloc((BLOCK - (content.length % BLOCK)) % BLOCK));
  }
  blocks.push(Buffer.alloc(2 * BLOCK));
  return gzipSync(Buffer.concat(blocks));
}
