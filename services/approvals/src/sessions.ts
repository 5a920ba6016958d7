// Reviewer sessions (server-side, random ids, idle and absolute expiry, one CSRF token each)
// and the sign-in rate limit. Kept in memory: a restart signs reviewers out, never loses a request.
import { randomBytes, timingSafeEqual } from 'node:crypto';

export interface Session {
  id: string;
  reviewerId: string;
  csrf: string;
  createdAt: number;
  seenAt: number;
  /** A message for the next page this session sees (after a redirect), shown once. */
  flash?: { kind: 'ok' | 'error'; text: string };
}

export interface SessionOptions {
  idleMs?: number;
  absoluteMs?: number;
  now?: () => number;
}

export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

export function sameToken(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false;
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
}

export class Sessions {
  readonly #sessions = new Map<string, Session>();
  readonly #idleMs: number;
  readonly #absoluteMs: number;
  readonly #now: () => number;

  constructor(options: SessionOptions = {}) {
    this.#idleMs = options.idleMs ?? 30 * 60_000;
    this.#absoluteMs = options.absoluteMs ?? 8 * 3600_000;
    this.#now = options.now ?? Date.now;
  }

  create(reviewerId: string): Session {
    this.#sweep();
    const now = this.#now();
    const session = { id: randomToken(), reviewerId, csrf: randomToken(), createdAt: now, seenAt: now };
    this.#sessions.set(session.id, session);
    return session;
  }

  /** The live session for this id (touching it), or null. */
  get(id: string | undefined): Session | null {
    if (!id) return null;
    const s = this.#sessions.get(id);
    if (!s) return null;
    const now = this.#now();
    if (now - s.seenAt > this.#idleMs || now - s.createdAt > this.#absoluteMs) {
      this.#sessions.delete(id);
      return null;
    }
    s.seenAt = now;
    return s;
  }

  destroy(id: string | undefined): void {
    if (id) this.#sessions.delete(id);
  }

  #sweep(): void {
    const now = this.#now();
    for (const [id, s] of this.#sessions) {
      if (now - s.seenAt > this.#idleMs || now - s.createdAt > this.#absoluteMs) this.#sessions.delete(id);
    }
  }
}

/**
 * Failed sign-ins per key (the client address, and the reviewer name tried): at most `limit`
 * in a sliding `windowMs`; beyond that, sign-in is refused until the oldest failure ages out.
 */
export class LoginLimiter {
  readonly #failures = new Map<string, number[]>();
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #now: () => number;

  constructor(options: { limit?: number; windowMs?: number; now?: () => number } = {}) {
    this.#limit = options.limit ?? 5;
    this.#windowMs = options.windowMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** Milliseconds until another attempt is allowed for any of these keys; 0 when allowed now. */
  retryAfterMs(keys: readonly string[]): number {
    const now = this.#now();
    let wait = 0;
    for (const key of keys) {
      const recent = (this.#failures.get(key) ?? []).filter((t) => now - t < this.#windowMs);
      if (recent.length === 0) this.#failures.delete(key);
      else this.#failures.set(key, recent);
      if (recent.length >= this.#limit) wait = Math.max(wait, recent[recent.length - this.#limit]! + this.#windowMs - now);
    }
    return wait;
  }

  fail(keys: readonly string[]): void {
    const now = this.#now();
    for (const key of keys) this.#failures.set(key, [...(this.#failures.get(key) ?? []), now].slice(-this.#limit * 2));
  }

  succeed(keys: readonly string[]): void {
    for (const key of keys) this.#failures.delete(key);
  }
}
