// Configured reviewers and their secrets. Passwords are stored as scrypt hashes; API tokens
// (for the CLI and automation) as SHA-256 of a 256-bit random token, which a slow hash would
// not make stronger. Nothing here ever holds a plain secret beyond the request that carries it.
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { newBearerToken, tokenDigest as sha256OfToken, TokenDigests } from '@intentgate/evidence';
import type { Reviewer } from './review.ts';

const scrypt = (secret: string, salt: Buffer, keylen: number, options: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) => scryptCb(secret, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));

const SCRYPT = { N: 16_384, r: 8, p: 1, keylen: 32 };
const HASH = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;

/** `scrypt$N$r$p$salt$hash` (base64 salt and hash). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

// Compared against when the reviewer is unknown, so a wrong name costs as long as a wrong password.
const DUMMY = `scrypt$${SCRYPT.N}$8$1$${Buffer.alloc(16).toString('base64')}$${Buffer.alloc(32).toString('base64')}`;

export async function verifyPassword(password: string, stored: string | undefined): Promise<boolean> {
  const m = HASH.exec(stored ?? DUMMY) ?? HASH.exec(DUMMY)!;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const expected = Buffer.from(m[5]!, 'base64');
  const key = await scrypt(password, Buffer.from(m[4]!, 'base64'), expected.length, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 });
  return stored !== undefined && timingSafeEqual(key, expected);
}

/** A new API token and the SHA-256 to configure for it. */
export function newToken(): { token: string; sha256: string } {
  return newBearerToken('igr');
}

export function tokenDigest(token: string): string {
  return sha256OfToken(token);
}

export interface ReviewerAccount extends Reviewer {
  /** scrypt hash (see hashPassword); absent: this reviewer cannot sign in on the page. */
  password?: string;
  /** SHA-256 (hex) of an API token; absent: no API access. */
  tokenSha256?: string;
}

const Account = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9._@-]{1,128}$/, 'reviewer ids are 1-128 of A-Z a-z 0-9 . _ @ -'),
  name: z.string().min(1).max(256),
  principals: z.array(z.string().min(1).max(2048)).max(32).default([]),
  password: z.string().regex(HASH, 'expected scrypt$N$r$p$salt$hash (intentgate approvals hash-password)').optional(),
  token_sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected the hex SHA-256 of the token').optional(),
}).refine((a) => a.password !== undefined || a.token_sha256 !== undefined, { message: 'a reviewer needs a password or a token' });

export const ReviewersFile = z.strictObject({ reviewers: z.array(Account).min(1).max(1000) });

export function parseReviewers(value: unknown): ReviewerAccount[] {
  const parsed = ReviewersFile.safeParse(value);
  if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  const ids = new Set<string>();
  return parsed.data.reviewers.map((a) => {
    if (ids.has(a.id)) throw new Error(`reviewer ${a.id} is configured twice`);
    ids.add(a.id);
    return { id: a.id, name: a.name, principals: a.principals, ...(a.password ? { password: a.password } : {}), ...(a.token_sha256 ? { tokenSha256: a.token_sha256 } : {}) };
  });
}

export async function loadReviewers(path: string): Promise<ReviewerAccount[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the reviewers file ${path}: ${(err as Error).message}`);
  }
  try {
    return parseReviewers(JSON.parse(text));
  } catch (err) {
    throw new Error(`reviewers file ${path}: ${(err as Error).message}`);
  }
}

/** The account a bearer token belongs to, compared in constant time per account. */
export function accountByToken(accounts: readonly ReviewerAccount[], token: string): ReviewerAccount | null {
  return new TokenDigests(accounts.flatMap((a) => (a.tokenSha256 ? [{ sha256: a.tokenSha256, value: a }] : []))).find(token);
}
