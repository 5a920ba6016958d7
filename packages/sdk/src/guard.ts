import { Redis } from 'ioredis';
import { DOMAINS, redisErrorMessage, redisFunctionLibrary, type Decision, type Domain, type Intent, type WarrantClaims } from '@intentgate/contracts';
import { digestOf, verifyWarrant, warrantKeyId, WarrantError, type Jwks } from '@intentgate/evidence';
import { WarrantKeyring } from './keyring.ts';
import { decodeRun, encodeRun, type Outcome, type RunRecord } from './run-record.ts';

export type Refusal = { code: string; message: string };

/**
 * A domain's claim keys: each enforcement point's Redis user reaches only its own domain's
 * (`ig:claim:<domain>:*`), so no executor or gateway can erase another domain's claims.
 */
export const claimKeys = (domain: Domain) => ({
  warrant: (jti: string) => `ig:claim:${domain}:warrant:${jti}`,
  executed: (intentId: string) => `ig:claim:${domain}:executed:${intentId}`,
  /**
   * When this domain's claim memory began (ms, Redis's clock): set once, by the first enforcement
   * point to reach an empty store. A claim store that lost its data (restarted empty, flushed)
   * begins again later than any warrant issued before the loss, and refuses those warrants: it
   * cannot tell whether they were used. A replica that is behind keeps the epoch and lacks the
   * latest claims, so a failover to one must be treated as a loss (README: Redis durability).
   */
  epoch: `ig:claim:${domain}:epoch`,
});

/** Sets the epoch to Redis's now unless the store has one. KEYS: the epoch. Reply: the epoch. */
const EPOCH_SCRIPT_BODY = `
local epoch = redis.call('GET', KEYS[1])
if epoch then return epoch end
local t = redis.call('TIME')
epoch = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
redis.call('SET', KEYS[1], epoch, 'NX')
return redis.call('GET', KEYS[1])`;

/** When a domain's claim memory began (ms), beginning it now on an empty store. Throws when Redis does not answer. */
export async function claimStoreEpoch(redis: Redis, domain: Domain): Promise<number> {
  return Number(await redis.fcall(CLAIM_FUNCTIONS.name('epoch'), 1, claimKeys(domain).epoch));
}

/**
 * Begins a new claim store's memory for every domain (for a provisioner that has just created the
 * store), so the warrants issued in the first moments of a new deployment are not taken for older than it.
 */
export async function beginClaimStore(redisUrl: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5_000 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    for (const domain of DOMAINS) await claimStoreEpoch(redis, domain);
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}

/**
 * The claim in one step: the store's epoch first (a warrant issued before it, allowing for clock
 * skew, is refused before anything is claimed), then the warrant's jti (with a TTL past its
 * expiry), then the intent, then, when given, the run key of the record being executed: marked
 * started (ARGV[6]) when claimed, or given the refusal's outcome (ARGV[7]) when the intent ran
 * under another decision, so a redelivery reports that refusal again. KEYS: warrant, intent,
 * epoch, [run]. ARGV: holder, jti, ttl, the warrant's iat (ms), the skew allowed (ms), [started,
 * conflict]. Reply: 0 claimed, 1 warrant used, 2 intent executed, {3, epoch} store newer.
 */
const CLAIM_SCRIPT_BODY = `
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[3], tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)), 'NX')
  epoch = redis.call('GET', KEYS[3])
end
if tonumber(ARGV[4]) < tonumber(epoch) + tonumber(ARGV[5]) then return { 3, epoch } end
if not redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3], 'NX') then return 1 end
if not redis.call('SET', KEYS[2], ARGV[2], 'NX') then
  if KEYS[4] then redis.call('SET', KEYS[4], ARGV[7], 'EX', ARGV[3]) end
  return 2
end
if KEYS[4] then redis.call('SET', KEYS[4], ARGV[6], 'EX', ARGV[3]) end
return 0`;

/**
 * Gives a warrant up: claims its jti as forfeit (the executor's claim of it then fails) and records
 * the refusal as the record's outcome, in one step; nothing when the jti was claimed before (the
 * intent started, or was given up already), and nothing when the store's memory does not reach
 * back to the warrant (no epoch, or one newer than the warrant): it may have run before the store
 * lost its data, and "not executed" would be a claim nobody can make. KEYS: warrant, run, epoch.
 * ARGV: holder, ttl, outcome, the warrant's iat (ms), the skew allowed (ms). Reply: 1 forfeit, 0 not.
 */
const FORFEIT_SCRIPT_BODY = `
local epoch = redis.call('GET', KEYS[3])
if not epoch or tonumber(ARGV[4]) < tonumber(epoch) + tonumber(ARGV[5]) then return 0 end
if not redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX') then return 0 end
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
return 1`;

/** Replaces a run key's value only if it is still the one given (KEEPTTL). 1 replaced, 0 not. */
const REPLACE_SCRIPT_BODY = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1`;

/** The claim store's functions (provisioned with FUNCTION LOAD; enforcement points only FCALL them). */
export const CLAIM_FUNCTIONS = redisFunctionLibrary('intentgate_claims', {
  epoch: { body: EPOCH_SCRIPT_BODY },
  claim: { body: CLAIM_SCRIPT_BODY },
  forfeit: { body: FORFEIT_SCRIPT_BODY },
  replace_run: { body: REPLACE_SCRIPT_BODY },
});


/** The refusal for a warrant whose jti was claimed before. */
function warrantReused(claims: WarrantClaims): Refusal {
  return { code: 'WARRANT_REUSED', message: `warrant ${claims.jti} was already used` };
}

/** The refusal for a warrant issued before the claim store's memory began. */
function claimStoreReset(claims: WarrantClaims, epochMs: number): Refusal {
  return {
    code: 'CLAIM_STORE_RESET',
    message: `the claim store's memory begins at ${new Date(epochMs).toISOString()}, after warrant ${claims.jti} was issued (${new Date(claims.iat * 1000).toISOString()}): `
      + 'it cannot tell whether the warrant was used before, so it is refused. If this enforcement point ran it before the store lost its data, the side effect may have happened: check the resource. '
      + 'To act, submit the action again as a new intent.',
  };
}

/** The refusal for an intent executed under another decision. */
export function intentAlreadyExecuted(claims: WarrantClaims): Refusal {
  return { code: 'INTENT_ALREADY_EXECUTED', message: `intent ${claims.sub} was already executed under another decision` };
}

/** A run key's part in a claim: its started mark, and the outcome to keep if the intent ran under another decision. */
export interface RunClaim {
  key: string;
  started: string;
  intentConflict: Outcome;
}

/**
 * Where warrant keys come from: the keys on `warrant.keys` that a configured deployment root
 * certified (a WarrantKeyring), or a JWKS this process was configured with. Never a key taken
 * from the bus or an HTTP endpoint on its word.
 */
export type KeySource = WarrantKeyring | Jwks;

export interface WarrantGuardOptions {
  /** Accepted warrant issuers: the decision worker's and, for reviewed escalations, the approvals service's. */
  issuer: string | readonly string[];
  domain: Domain;
  /** Who claims (recorded with the claim). */
  holder: string;
  jwks: KeySource;
  /** Seconds a claimed warrant id is kept beyond the warrant's own expiry. */
  claimMarginSeconds?: number;
  /**
   * How far the warrant issuer's clock may run ahead of the claim store's: a warrant counts as
   * issued before the store's epoch unless its iat is this much after it (default 2 s; the
   * warrant's expiry check assumes clocks in step too).
   */
  clockSkewMs?: number;
}

const DEFAULT_CLAIM_MARGIN_SECONDS = 3600;
const DEFAULT_CLOCK_SKEW_MS = 2_000;

/**
 * What every enforcement point does before acting: verify the warrant against the intent in
 * hand, then claim its jti and its intent once (Redis SET NX). Used by the executor runtime
 * and the MCP gateway.
 */
export class WarrantGuard {
  readonly #redis: Redis;
  readonly #options: WarrantGuardOptions;

  constructor(redis: Redis, options: WarrantGuardOptions) {
    this.#redis = redis;
    this.#options = options;
    // On every (re)connection: a store that came back empty begins its epoch now, not at the first
    // claim, so warrants issued between its return and that claim are not refused needlessly.
    redis.on('ready', () => void this.epoch().catch(() => {}));
  }

  /** When this claim store's memory began (ms), setting it to now on an empty store. Throws when Redis does not answer. */
  epoch(): Promise<number> {
    return claimStoreEpoch(this.#redis, this.#options.domain);
  }

  /** Verifies the warrant for this intent and decision; throws WarrantError with a code. */
  async verify(intent: Intent, decision: Decision, warrant: string | undefined): Promise<WarrantClaims> {
    // The enforcement point computes the digest of the intent it holds; it trusts no digest it is given.
    const intentDigest = digestOf(intent);
    if (decision.intent_digest !== intentDigest) {
      throw new WarrantError('WARRANT_DIGEST_MISMATCH', 'the decision was made for another version of this intent');
    }
    const expect = { issuer: this.#options.issuer, domain: this.#options.domain, intentDigest, decisionId: decision.decision_id };
    const source = this.#options.jwks;
    if (!(source instanceof WarrantKeyring)) return verifyWarrant(warrant, { ...expect, jwks: source });
    const issuers = typeof expect.issuer === 'string' ? [expect.issuer] : expect.issuer;
    let claims: WarrantClaims;
    try {
      claims = await verifyWarrant(warrant, { ...expect, jwks: source.jwks('warrant', issuers) });
    } catch (err) {
      if (!(err instanceof WarrantError && err.code === 'WARRANT_UNKNOWN_KEY')) throw err;
      // A key is published before its first warrant: read warrant.keys to its end, then decide.
      const kid = warrantKeyId(warrant!);
      if (kid !== undefined) await source.lookup(kid);
      claims = await verifyWarrant(warrant, { ...expect, jwks: source.jwks('warrant', issuers) });
    }
    // The certificate names who holds the key: a warrant claims the issuer its key was certified for, or none.
    const signedBy = warrantKeyId(warrant!);
    if (signedBy === undefined || source.get(signedBy)?.principal !== claims.iss) {
      throw new WarrantError('WARRANT_WRONG_ISSUER', `the warrant claims issuer ${claims.iss}, but its key ${signedBy ?? '(none)'} is certified for another`);
    }
    return claims;
  }

  /**
   * Claims the warrant's jti and its intent, once each; a refusal when either was claimed before.
   * With a run (the consumed record's key), the same step marks the run started, or records the
   * intent-conflict refusal, so a redelivery of that record can tell its own earlier attempt
   * from a replay (see runOf).
   */
  async claim(claims: WarrantClaims, run?: RunClaim): Promise<Refusal | null> {
    const ttl = this.#ttl(claims);
    const claim = claimKeys(this.#options.domain);
    const keys = [claim.warrant(claims.jti), claim.executed(claims.sub), claim.epoch, ...(run ? [run.key] : [])];
    const args = [this.#options.holder, claims.jti, ttl, claims.iat * 1000, this.#options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS, ...(run ? [run.started, encodeRun(run.intentConflict)] : [])];
    try {
      const answer = await this.#redis.fcall(CLAIM_FUNCTIONS.name('claim'), keys.length, ...keys, ...args);
      if (Array.isArray(answer) && answer[0] === 3) return claimStoreReset(claims, Number(answer[1]));
      if (answer === 1) return warrantReused(claims);
      if (answer === 2) return intentAlreadyExecuted(claims);
      return null;
    } catch (err) {
      return { code: 'CLAIM_UNAVAILABLE', message: `cannot claim the warrant: ${redisErrorMessage(err)}` };
    }
  }

  /**
   * Gives up a warrant nothing has claimed yet, so it can no longer run, with `outcome` recorded
   * as the outcome of the record `runKey` names (its redelivery reports it). True when given up;
   * false when it was claimed before, or the store's memory begins after the warrant. Throws when
   * Redis does not answer.
   */
  async forfeit(claims: WarrantClaims, runKey: string, outcome: Outcome): Promise<boolean> {
    const claim = claimKeys(this.#options.domain);
    const keys = [claim.warrant(claims.jti), runKey, claim.epoch];
    const args = [`forfeit:${this.#options.holder}`, this.#ttl(claims), encodeRun(outcome), claims.iat * 1000, this.#options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS];
    return (await this.#redis.fcall(CLAIM_FUNCTIONS.name('forfeit'), keys.length, ...keys, ...args)) === 1;
  }

  /**
   * Records how a claimed run ended, in place of whatever its key holds (the truth replaces an
   * "unknown" another member may have written meanwhile), kept as long as the claim. False when
   * the key is gone (expired); throws when Redis does not answer.
   */
  async finishRun(runKey: string, outcome: Outcome): Promise<boolean> {
    return (await this.#redis.call('SET', runKey, encodeRun(outcome), 'XX', 'KEEPTTL')) === 'OK';
  }

  /**
   * Replaces a run key's value only if it is still `expected` (a started mark renewed, or
   * settled as unknown); false when something else was recorded first.
   */
  async replaceRun(runKey: string, expected: string, value: string): Promise<boolean> {
    return (await this.#redis.fcall(CLAIM_FUNCTIONS.name('replace_run'), 1, runKey, expected, value)) === 1;
  }

  /** What an earlier attempt at this record claimed and recorded; null when it claimed nothing. Throws when Redis does not answer. */
  async runOf(runKey: string): Promise<RunRecord | null> {
    return decodeRun(await this.#redis.get(runKey));
  }

  #ttl(claims: WarrantClaims): number {
    return Math.max(1, claims.exp - Math.floor(Date.now() / 1000)) + (this.#options.claimMarginSeconds ?? DEFAULT_CLAIM_MARGIN_SECONDS);
  }
}
