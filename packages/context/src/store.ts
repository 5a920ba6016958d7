import { Redis, type ChainableCommander } from 'ioredis';
import { Decision, SENSITIVITY_LEVELS, type Intent } from '@intentgate/contracts';

export type Sensitivity = (typeof SENSITIVITY_LEVELS)[number];

/** What the policy sees of the world for one intent, read from the store, never from the caller. */
export interface ContextSnapshot {
  session: { exported_rows: number; actions: number; denied: number };
  resource: { sensitivity: Sensitivity | null };
  agent: { revoked: boolean };
  /** Principals of the intent's delegation chain, its subject and delegation token ids that are revoked. */
  revoked: string[];
  /** When the context feeder last confirmed the store is current (ms since the epoch). */
  synced_at: number;
}

export interface BatchContext {
  snapshots: Map<string, ContextSnapshot>;
  /** Decisions already made for these intent ids (a redelivered or resubmitted intent). */
  decided: Map<string, Decision>;
}

/** The store cannot vouch for its context: unreachable, timed out, or older than its bound. */
export class ContextUnavailable extends Error {
  readonly code = 'CONTEXT_UNAVAILABLE';
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'ContextUnavailable';
  }
}

export interface ContextStoreOptions {
  redisUrl: string;
  /** Context older than this (since the feeder's last sync) is not trusted. */
  freshnessMs: number;
  /** A Redis command slower than this fails (and the decision denies). */
  commandTimeoutMs?: number;
  /** How long a session's history and a decision are remembered. */
  retentionSeconds?: number;
  now?: () => number;
}

const SYNCED_AT = 'ig:context:synced_at';
const REVOKED = 'ig:revoked';
const sessionKey = (id: string) => `ig:session:${id}`;
const appliedKey = (id: string) => `ig:session:${id}:applied`;
const resourceKey = (type: string, id: string) => `ig:resource:${type}:${id}`;
const agentKey = (id: string) => `ig:agent:${id}`;
const decisionKey = (intentId: string) => `ig:decision:${intentId}`;

// Applies a decision to its session once, whatever the number of deliveries.
const RECORD_DECISION = `
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'actions', 1)
if ARGV[2] == 'deny' then redis.call('HINCRBY', KEYS[1], 'denied', 1) end
if tonumber(ARGV[3]) > 0 then redis.call('HINCRBY', KEYS[1], 'exported_rows', ARGV[3]) end
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
`;

function int(value: string | undefined): number {
  const n = Number(value ?? 0);
  return Number.isSafeInteger(n) ? n : Number.NaN;
}

/**
 * Runs a pipeline; any failed command (or an unreachable Redis) is ContextUnavailable, so no
 * caller can read a partial reply as an answer.
 */
async function execAll(pipeline: ChainableCommander, expected: number, what: string): Promise<unknown[]> {
  let results: Array<[Error | null, unknown]>;
  try {
    results = (await pipeline.exec()) ?? [];
  } catch (err) {
    throw new ContextUnavailable(`context store unreachable: ${(err as Error).message}`, err);
  }
  const failed = results.find(([err]) => err !== null);
  if (failed || results.length !== expected) {
    throw new ContextUnavailable(`${what} failed: ${failed?.[0]?.message ?? 'short reply'}`, failed?.[0]);
  }
  return results.map(([, value]) => value);
}

/** The jti of a compact JWS, unverified: only used to ask whether that link is revoked. */
function jtiOf(token: string): string | null {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { jti?: unknown };
    return typeof payload.jti === 'string' ? payload.jti : null;
  } catch {
    return null;
  }
}

/** What can be revoked for an intent: its chain's principals, its subject, its delegation tokens. */
function principalsOf(intent: Intent): string[] {
  const links = (intent.credentials?.delegation ?? []).map(jtiOf).filter((j): j is string => j !== null);
  return [...new Set([...intent.delegation.map((h) => h.principal), intent.subject.id, ...links])];
}

export class ContextStore {
  readonly redis: Redis;
  readonly #options: Required<Omit<ContextStoreOptions, 'redisUrl'>>;
  #closed: Promise<void> | null = null;

  constructor(options: ContextStoreOptions) {
    this.#options = {
      freshnessMs: options.freshnessMs,
      commandTimeoutMs: options.commandTimeoutMs ?? 500,
      retentionSeconds: options.retentionSeconds ?? 7 * 24 * 3600,
      now: options.now ?? Date.now,
    };
    this.redis = new Redis(options.redisUrl, {
      lazyConnect: true,
      // Fail fast instead of queueing: a decision waits for no one; it denies.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: this.#options.commandTimeoutMs,
      connectTimeout: 2_000,
      retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2_000),
    });
    this.redis.on('error', () => {}); // surfaced per command as ContextUnavailable
    this.redis.defineCommand('igRecordDecision', { numberOfKeys: 2, lua: RECORD_DECISION });
  }

  async connect(): Promise<void> {
    if (this.redis.status === 'wait') await this.redis.connect();
  }

  /** Everything a batch of intents needs, in one round trip (a pipeline). */
  async readBatch(intents: readonly Intent[]): Promise<BatchContext> {
    const pipeline = this.redis.pipeline();
    pipeline.get(SYNCED_AT);
    for (const intent of intents) {
      pipeline.hgetall(sessionKey(intent.session.id));
      pipeline.hgetall(resourceKey(intent.resource.type, intent.resource.id));
      pipeline.hgetall(agentKey(intent.subject.id));
      pipeline.smismember(REVOKED, ...principalsOf(intent));
      pipeline.get(decisionKey(intent.intent_id));
    }
    const results = await execAll(pipeline, 1 + intents.length * 5, 'context store read');
    const syncedAt = Number(results[0]);
    const age = this.#options.now() - syncedAt;
    if (!Number.isFinite(syncedAt) || syncedAt <= 0) throw new ContextUnavailable('context store has never been synced (no ig:context:synced_at)');
    if (age > this.#options.freshnessMs) {
      throw new ContextUnavailable(`context is ${age} ms old, over its ${this.#options.freshnessMs} ms freshness bound`);
    }

    const snapshots = new Map<string, ContextSnapshot>();
    const decided = new Map<string, Decision>();
    intents.forEach((intent, i) => {
      const at = 1 + i * 5;
      const session = results[at] as Record<string, string>;
      const resource = results[at + 1] as Record<string, string>;
      const agent = results[at + 2] as Record<string, string>;
      const revokedFlags = results[at + 3] as number[];
      const previous = results[at + 4] as string | null;
      const principals = principalsOf(intent);
      const label = resource.sensitivity;
      snapshots.set(intent.intent_id, {
        session: { exported_rows: int(session.exported_rows), actions: int(session.actions), denied: int(session.denied) },
        // An unknown label in the store is not "no label": the policy sees it and fails closed.
        resource: { sensitivity: label === undefined ? null : (label as Sensitivity) },
        agent: { revoked: agent.revoked === 'true' },
        revoked: principals.filter((_, k) => revokedFlags[k] === 1),
        synced_at: syncedAt,
      });
      if (previous !== null) {
        const parsed = Decision.safeParse(JSON.parse(previous));
        if (parsed.success) decided.set(intent.intent_id, parsed.data);
      }
    });
    return { snapshots, decided };
  }

  /**
   * Remembers a decision for its intent id unless one is already remembered; returns the one
   * that stands. Called before the decision is published, so a retried batch republishes the
   * same decision rather than making a new one. With `{ standing: false }` only the writes go
   * out (one command per decision) and nothing is read back: for a caller that does not use it.
   */
  async rememberDecisions(decisions: readonly Decision[], options: { standing?: boolean } = {}): Promise<Map<string, Decision>> {
    const readBack = options.standing ?? true;
    const pipeline = this.redis.pipeline();
    for (const d of decisions) {
      pipeline.set(decisionKey(d.intent_id), JSON.stringify(d), 'EX', this.#options.retentionSeconds, 'NX');
      if (readBack) pipeline.get(decisionKey(d.intent_id));
    }
    const results = await execAll(pipeline, decisions.length * (readBack ? 2 : 1), 'remembering decisions');
    const standing = new Map<string, Decision>();
    if (!readBack) return standing;
    decisions.forEach((d, i) => {
      const stored = results[i * 2 + 1];
      if (typeof stored !== 'string') throw new ContextUnavailable(`could not remember decision ${d.decision_id}`);
      standing.set(d.intent_id, Decision.parse(JSON.parse(stored)));
    });
    return standing;
  }

  /**
   * Replaces the remembered decision for an intent (an escalation that became final), keeping
   * its expiry, so a resubmitted intent gets the final decision rather than the escalation.
   */
  async replaceDecision(decision: Decision): Promise<void> {
    await this.redis.set(decisionKey(decision.intent_id), JSON.stringify(decision), 'KEEPTTL');
  }

  /** Updates each session's history once per intent (idempotent across redeliveries). */
  async recordOutcomes(outcomes: ReadonlyArray<{ intent: Intent; verdict: string; exportedRows: number }>): Promise<void> {
    if (outcomes.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const o of outcomes) {
      (pipeline as unknown as { igRecordDecision(...args: Array<string | number>): void }).igRecordDecision(
        sessionKey(o.intent.session.id), appliedKey(o.intent.session.id), o.intent.intent_id, o.verdict, o.exportedRows, this.#options.retentionSeconds,
      );
    }
    await execAll(pipeline, outcomes.length, 'session history update');
  }

  // --- writers for the context feeder, the demo and tests ------------------------------

  async markSynced(at = this.#options.now()): Promise<void> {
    await this.redis.set(SYNCED_AT, String(at));
  }

  async labelResource(type: string, id: string, sensitivity: Sensitivity): Promise<void> {
    await this.redis.hset(resourceKey(type, id), { sensitivity, as_of: String(this.#options.now()) });
  }

  async setAgent(spiffeId: string, attributes: { revoked: boolean }): Promise<void> {
    await this.redis.hset(agentKey(spiffeId), { revoked: String(attributes.revoked), as_of: String(this.#options.now()) });
  }

  async revoke(principal: string): Promise<void> {
    await this.redis.sadd(REVOKED, principal);
  }

  async unrevoke(principal: string): Promise<void> {
    await this.redis.srem(REVOKED, principal);
  }

  close(): Promise<void> {
    this.#closed ??= this.redis.quit().then(() => undefined, () => this.redis.disconnect());
    return this.#closed;
  }
}
