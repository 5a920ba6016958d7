import type { Redis } from 'ioredis';
import type { Decision, Domain, Intent, WarrantClaims } from '@intentgate/contracts';
import { digestOf, verifyWarrant, WarrantError, type Jwks } from '@intentgate/evidence';

export type Refusal = { code: string; message: string };

/** Where warrant keys come from: 'bus' (warrant.keys, read by the caller), a JWKS, or a fetcher. */
export type KeySource = 'bus' | Jwks | (() => Promise<Jwks>);

/** A key fetcher over several JWKS URLs (the decision worker's and the approvals service's): one set of all their keys. */
export function jwksFromUrls(urls: readonly string[]): () => Promise<Jwks> {
  return async () => {
    const sets = await Promise.all(urls.map(async (u) => (await fetch(u)).json() as Promise<Jwks>));
    return { keys: sets.flatMap((set) => set.keys) };
  };
}

export interface WarrantGuardOptions {
  /** Accepted warrant issuers: the decision worker's and, for reviewed escalations, the approvals service's. */
  issuer: string | readonly string[];
  domain: Domain;
  /** Who claims (recorded with the claim). */
  holder: string;
  jwks: KeySource;
  /** With jwks 'bus': the keys read so far. */
  busKeys?: () => Jwks;
  /** Seconds a claimed warrant id is kept beyond the warrant's own expiry. */
  claimMarginSeconds?: number;
}

/**
 * What every enforcement point does before acting: verify the warrant against the intent in
 * hand, then claim its jti and its intent once (Redis SET NX). Used by the executor runtime
 * and the MCP gateway.
 */
export class WarrantGuard {
  readonly #redis: Redis;
  readonly #options: WarrantGuardOptions;
  #fetched: Jwks | null = null;

  constructor(redis: Redis, options: WarrantGuardOptions) {
    this.#redis = redis;
    this.#options = options;
  }

  async #keys(refresh: boolean): Promise<Jwks> {
    const source = this.#options.jwks;
    if (source === 'bus') {
      // A key is published before its first warrant; give the topic a moment to deliver it.
      if (refresh) await new Promise((r) => setTimeout(r, 1_000));
      return this.#options.busKeys?.() ?? { keys: [] };
    }
    if (typeof source !== 'function') return source;
    if (this.#fetched === null || refresh) this.#fetched = await source();
    return this.#fetched;
  }

  /** Verifies the warrant for this intent and decision; throws WarrantError with a code. */
  async verify(intent: Intent, decision: Decision, warrant: string | undefined): Promise<WarrantClaims> {
    // The enforcement point computes the digest of the intent it holds; it trusts no digest it is given.
    const intentDigest = digestOf(intent);
    if (decision.intent_digest !== intentDigest) {
      throw new WarrantError('WARRANT_DIGEST_MISMATCH', 'the decision was made for another version of this intent');
    }
    const expect = { issuer: this.#options.issuer, domain: this.#options.domain, intentDigest, decisionId: decision.decision_id };
    try {
      return await verifyWarrant(warrant, { ...expect, jwks: await this.#keys(false) });
    } catch (err) {
      if (err instanceof WarrantError && err.code === 'WARRANT_UNKNOWN_KEY' && (this.#options.jwks === 'bus' || typeof this.#options.jwks === 'function')) {
        return verifyWarrant(warrant, { ...expect, jwks: await this.#keys(true) }); // keys may have rotated
      }
      throw err;
    }
  }

  /** Claims the warrant's jti and its intent, once each; a refusal when either was claimed before. */
  async claim(claims: WarrantClaims): Promise<Refusal | null> {
    const ttl = Math.max(1, claims.exp - Math.floor(Date.now() / 1000)) + (this.#options.claimMarginSeconds ?? 3600);
    try {
      if ((await this.#redis.set(`ig:warrant:${claims.jti}`, this.#options.holder, 'EX', ttl, 'NX')) === null) {
        return { code: 'WARRANT_REUSED', message: `warrant ${claims.jti} was already used` };
      }
      if ((await this.#redis.set(`ig:executed:${claims.sub}`, claims.jti, 'NX')) === null) {
        return { code: 'INTENT_ALREADY_EXECUTED', message: `intent ${claims.sub} was already executed under another decision` };
      }
      return null;
    } catch (err) {
      return { code: 'CLAIM_UNAVAILABLE', message: `cannot claim the warrant: ${(err as Error).message}` };
    }
  }
}
