// The Merkle code against the published RFC 6962 vectors (transparency-dev), plus the same
// corruptions their suite applies: every altered proof must fail.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EMPTY_ROOT, consistencyProof, inclusionProof, leafHash, rootOf, verifyConsistency, verifyInclusion } from '../src/merkle.ts';

const v = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'rfc6962-vectors.json'), 'utf8')) as {
  leaves: string[]; empty_root: string; roots: string[];
  inclusion: Array<{ leaf: number; size: number; proof: string[] }>;
  consistency: Array<{ size1: number; size2: number; proof: string[] }>;
};
const hex = (h: Uint8Array) => Buffer.from(h).toString('hex');
const bin = (h: string) => Buffer.from(h, 'hex');
const leaves = v.leaves.map((l) => leafHash(bin(l)));
const root = (size: number) => bin(v.roots[size - 1]!);

describe('RFC 6962 tree heads', () => {
  it('the empty tree and every prefix of the eight vector leaves', () => {
    expect(hex(EMPTY_ROOT)).toBe(v.empty_root);
    expect(hex(rootOf([]))).toBe(v.empty_root);
    for (let size = 1; size <= 8; size++) expect(hex(rootOf(leaves, size)), `size ${size}`).toBe(v.roots[size - 1]);
  });
});

describe('inclusion proofs', () => {
  it.each(v.inclusion)('leaf $leaf of $size: generated as published and verifies', ({ leaf, size, proof }) => {
    const generated = inclusionProof(leaves, leaf - 1, size).map(hex);
    expect(generated).toEqual(proof);
    expect(verifyInclusion(leaf - 1, size, leaves[leaf - 1]!, proof.map(bin), root(size))).toBe(true);
  });

  it.each(v.inclusion.filter((c) => c.proof.length > 0))('leaf $leaf of $size: every corruption fails', ({ leaf, size, proof }) => {
    const p = proof.map(bin);
    const i = leaf - 1;
    const h = leaves[i]!;
    const some = bin('abacaba000000000000000000000000000000000000000000060061e00123456');
    const probes: Array<[string, number, number, Buffer, Buffer[], Buffer]> = [
      ['index - 1', i - 1, size, h, p, root(size)],
      ['index + 1', i + 1, size, h, p, root(size)],
      ['index ^ 2', i ^ 2, size, h, p, root(size)],
      ['size * 2', i, size * 2, h, p, root(size)],
      ['size / 2', i, Math.floor(size / 2), h, p, root(size)],
      ['wrong leaf', i, size, Buffer.from('WrongLeaf'), p, root(size)],
      ['empty root', i, size, h, p, EMPTY_ROOT],
      ['random root', i, size, h, p, some],
      ['trailing garbage', i, size, h, [...p, Buffer.alloc(0)], root(size)],
      ['trailing root', i, size, h, [...p, root(size)], root(size)],
      ['preceding root', i, size, h, [root(size), ...p], root(size)],
      ['removed component', i, size, h, p.slice(0, -1), root(size)],
      ...p.map((_, k): [string, number, number, Buffer, Buffer[], Buffer] => {
        const flipped = p.map((x) => Buffer.from(x));
        flipped[k]![0]! ^= 8;
        return [`flipped bit in proof[${k}]`, i, size, h, flipped, root(size)];
      }),
    ];
    for (const [desc, idx, sz, lh, pr, rt] of probes) expect(verifyInclusion(idx, sz, lh, pr, rt), desc).toBe(false);
  });
});

describe('consistency proofs', () => {
  it.each(v.consistency)('$size1 → $size2: generated as published and verifies', ({ size1, size2, proof }) => {
    expect(consistencyProof(leaves, size1, size2).map(hex)).toEqual(proof);
    expect(verifyConsistency(size1, size2, proof.map(bin), root(size1), root(size2))).toBe(true);
  });

  it.each(v.consistency.filter((c) => c.proof.length > 0))('$size1 → $size2: every corruption fails', ({ size1, size2, proof }) => {
    const p = proof.map(bin);
    const [r1, r2] = [root(size1), root(size2)];
    const probes: Array<[string, number, number, Buffer[], Buffer, Buffer]> = [
      ['size1 - 1', size1 - 1, size2, p, r1, r2],
      ['size1 + 1', size1 + 1, size2, p, r1, r2],
      ['size2 * 2', size1, size2 * 2, p, r1, r2],
      ['size2 / 2', size1, Math.floor(size2 / 2), p, r1, r2],
      ['wrong root1', size1, size2, p, Buffer.from('WrongRoot'), r2],
      ['swapped roots', size1, size2, p, r2, r1],
      ['empty proof', size1, size2, [], r1, r2],
      ['trailing root2', size1, size2, [...p, r2], r1, r2],
      ['preceding proof[0]', size1, size2, [p[0]!, ...p], r1, r2],
      ['truncated', size1, size2, p.slice(0, -1), r1, r2],
      ...p.map((_, k): [string, number, number, Buffer[], Buffer, Buffer] => {
        const flipped = p.map((x) => Buffer.from(x));
        flipped[k]![0]! ^= 16;
        return [`flipped bit in proof[${k}]`, size1, size2, flipped, r1, r2];
      }),
    ];
    for (const [desc, s1, s2, pr, a, b] of probes) expect(verifyConsistency(s1, s2, pr, a, b), desc).toBe(false);
  });

  it('every pair of sizes up to 64 leaves: generated proofs verify', () => {
    const many = Array.from({ length: 64 }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
    for (let n = 1; n <= 64; n++) {
      const rn = rootOf(many, n);
      for (let m = 1; m <= n; m++) {
        expect(verifyConsistency(m, n, consistencyProof(many, m, n), rootOf(many, m), rn), `${m}→${n}`).toBe(true);
      }
      for (let i = 0; i < n; i++) expect(verifyInclusion(i, n, many[i]!, inclusionProof(many, i, n), rn), `leaf ${i} of ${n}`).toBe(true);
    }
  });
});
