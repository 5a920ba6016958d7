// Bearer tokens for IntentGate's HTTP APIs (RFC 6750). A token is 256 random bits; a server keeps
// only its SHA-256 (a slow hash would not make a 256-bit secret stronger) and compares the
// presented token's digest with every stored one in constant time, so neither the match nor
// its position shows in the timing.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Hex SHA-256 of a token: what a server stores and configuration files hold. */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A new token (`<prefix>_` + 43 base64url characters) and the SHA-256 to configure for it. */
export function newBearerToken(prefix: string): { token: string; sha256: string } {
  const token = `${prefix}_${randomBytes(32).toString('base64url')}`;
  return { token, sha256: tokenDigest(token) };
}

/** The credential of an `Authorization: Bearer <token>` header (scheme case-insensitive), or null. */
export function bearerToken(header: string | undefined): string | null {
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header ?? '');
  return m ? m[1]! : null;
}

export const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Stored token digests and what each one grants. `find` hashes the presented token and compares
 * it with every entry (no early exit); an entry whose digest is malformed never matches.
 */
export class TokenDigests<T> {
  readonly #entries: Array<{ digest: Buffer; value: T }>;

  constructor(entries: Iterable<{ sha256: string; value: T }>) {
    this.#entries = [...entries].map((e) => {
      if (!SHA256_HEX.test(e.sha256)) throw new Error('a token digest must be 64 lowercase hex characters (the SHA-256 of the token)');
      return { digest: Buffer.from(e.sha256, 'hex'), value: e.value };
    });
  }

  get size(): number {
    return this.#entries.length;
  }

  find(token: string): T | null {
    const presented = Buffer.from(tokenDigest(token), 'hex');
    let found: T | null = null;
    for (const e of this.#entries) if (timingSafeEqual(e.digest, presented)) found ??= e.value;
    return found;
  }
}

/**
 * The URL a client uses for a server listening on `host`:`port` (a wildcard address is reached
 * through loopback; an IPv6 literal goes in brackets). Until the shared runtime package for HTTP
 * exists, the services' listeners share this here, beside the tokens that guard them.
 */
export function listenUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}`;
}
