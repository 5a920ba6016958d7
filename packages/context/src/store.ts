import { createHash } from 'node:crypto';
import { Redis, type ChainableCommander } from 'ioredis';
import { AgentRegistration, Decision, REDIS_FUNCTION_MAX_ARGS, REDIS_FUNCTION_MAX_KEYS, redisErrorMessage, redisFunctionLibrary, SENSITIVITY_LEVELS, type Intent, type ResourceLabel } from '@intentgate/contracts';

export type Sensitivity = (typeof SENSITIVITY_LEVELS)[number];

/**
 * The agent registry's word on the acting agent (absent fields are null: the policy denies on
 * them). `registered: false` is an agent the registry has never heard of.
 */
export interface AgentFacts {
  revoked: boolean;
  registered: boolean;
  status: string | null;
  owner: string | null;
  autonomy: string | null;
  domains: string[];
  actions: string[];
  revision: number | null;
}

/** What the policy sees of the world for one intent, read from the store, never from the caller. */
export interface ContextSnapshot {
  session: { exported_rows: number; actions: number; denied: number };
  /** The acting agent's own history across all its sessions (session ids are the platform's to choose). */
  usage: { exported_rows: number };
  /** The store's labels for the resource (null where it has none: the policy applies its floor). */
  resource: { sensitivity: Sensitivity | null; environment: string | null };
  agent: AgentFacts;
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
/** Set by the context feeder once the store holds the whole agent registry; gone when Redis lost its data. */
const REGISTRY_APPLIED = 'ig:context:registry_applied';
/** The feeder's read-through in progress: a token set when it begins, gone if the store loses its data meanwhile. */
const FEED = 'ig:context:feed';

// The marks that vouch for the store, each set only if the store still holds what they vouch for,
// in one step: a check and a separate write could straddle a Redis restart and mark an empty store.
// FEED_DONE: KEYS feed, registry_applied, synced_at; ARGV token, now. 1 marked, 0 the feed is not this one's (lost).
const FEED_DONE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], ARGV[2])
return 1`;
// RENEW_SYNCED: KEYS registry_applied, synced_at; ARGV now. 1 renewed, 0 the store no longer holds the registry.
const RENEW_SYNCED = `
if not redis.call('GET', KEYS[1]) then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
return 1`;
const REVOKED = 'ig:revoked';
// Caller-written names go into keys hashed or encoded, so no name can address another's key (a
// session "s:applied" once made session s's applied set a hash, and its budget stopped counting).
const digest = (text: string) => createHash('sha256').update(text).digest('hex');
const sessionKey = (id: string) => `ig:session:${digest(id)}`;
const appliedKey = (id: string) => `ig:session:${digest(id)}:applied`;
const reservedKey = (id: string) => `ig:session:${digest(id)}:reserved`;
const usageKey = (agent: string) => `ig:usage:${digest(agent)}`;
const resourceKey = (type: string, id: string) => `ig:resource:${encodeURIComponent(type)}:${encodeURIComponent(id)}`;
const agentKey = (id: string) => `ig:agent:${id}`;
const decisionKey = (intentId: string) => `ig:decision:${intentId}`;

/** The agent hash's fields a decision reads, in the order agentFactsOf takes them (READ_BATCH and agentFacts). */
const AGENT_FIELDS = ['revoked', 'status', 'owner', 'autonomy', 'domains', 'actions', 'revision'] as const;

// The scripts below each serve a whole batch in one command: per-command client work (a command
// object, a timeout timer, a reply) was about 12% of the decision worker's CPU with 7 commands
// per intent.

// Everything a batch of intents needs. KEYS: synced_at, the revoked set, then per intent its
// session, resource, agent, decision, agent-usage and reserved-export keys. ARGV: per intent, its
// number of principals, then them, then its id. Reply: synced_at, then per intent [exported_rows,
// actions, denied], [sensitivity, environment], the agent's [revoked, status, owner, autonomy,
// domains, actions, revision], one revoked flag per principal, the remembered decision (nil
// where absent), the agent's exported rows, the rows an earlier attempt at it reserved (nil: none).
const READ_BATCH = `
local out = { redis.call('GET', KEYS[1]) }
local a = 1
for k = 3, #KEYS, 6 do
  local n = tonumber(ARGV[a])
  local flags = {}
  if n > 0 then flags = redis.call('SMISMEMBER', KEYS[2], unpack(ARGV, a + 1, a + n)) end
  local id = ARGV[a + n + 1]
  a = a + n + 2
  out[#out + 1] = redis.call('HMGET', KEYS[k], 'exported_rows', 'actions', 'denied')
  out[#out + 1] = redis.call('HMGET', KEYS[k + 1], 'sensitivity', 'environment')
  out[#out + 1] = redis.call('HMGET', KEYS[k + 2], ${AGENT_FIELDS.map((f) => `'${f}'`).join(', ')})
  out[#out + 1] = flags
  out[#out + 1] = redis.call('GET', KEYS[k + 3])
  out[#out + 1] = redis.call('HGET', KEYS[k + 4], 'exported_rows')
  out[#out + 1] = redis.call('HGET', KEYS[k + 5], id)
end
return out
`;

// Applies each decision to its session and its agent once, whatever the number of deliveries.
// Rows an export reserved when it was decided (RESERVE_EXPORT) are counted already: an allow
// adds nothing more, and any other final verdict gives them back (an attempt that reserved them
// was not the one that committed). KEYS: per outcome its session, applied-set, agent-usage and
// reserved-export keys. ARGV: the retention (s), then per outcome the intent id, the verdict and
// the rows exported.
const RECORD_OUTCOMES = `
local ttl = ARGV[1]
local j = 2
local applied = 0
for i = 1, #KEYS, 4 do
  local held = tonumber(redis.call('HGET', KEYS[i + 3], ARGV[j]) or '0')
  if held > 0 then redis.call('HDEL', KEYS[i + 3], ARGV[j]) end
  if redis.call('SADD', KEYS[i + 1], ARGV[j]) == 1 then
    redis.call('HINCRBY', KEYS[i], 'actions', 1)
    if ARGV[j + 1] == 'deny' then redis.call('HINCRBY', KEYS[i], 'denied', 1) end
    local delta = tonumber(ARGV[j + 2]) - held
    if delta ~= 0 then
      redis.call('HINCRBY', KEYS[i], 'exported_rows', delta)
      redis.call('HINCRBY', KEYS[i + 2], 'exported_rows', delta)
      redis.call('EXPIRE', KEYS[i + 2], ttl)
    end
    redis.call('EXPIRE', KEYS[i], ttl)
    redis.call('EXPIRE', KEYS[i + 1], ttl)
    applied = applied + 1
  end
  j = j + 3
end
return applied
`;

// Reserves an export's rows against the live totals of its session and its agent, in one step,
// so two decision workers cannot both spend the same remaining budget: the rows are counted now
// if both totals stay within their limits, and held under the intent's id (a redelivery of it
// reserves nothing more, and one of another size nothing at all; its outcome, recorded after
// commit, settles them). KEYS: session,
// agent-usage, reserved-export. ARGV: intent id, rows, session limit, agent limit, retention (s).
// Reply: {1 reserved or 0 over a limit, the session's total, the agent's total} before it.
const RESERVE_EXPORT = `
local s = tonumber(redis.call('HGET', KEYS[1], 'exported_rows') or '0')
local a = tonumber(redis.call('HGET', KEYS[2], 'exported_rows') or '0')
local held = redis.call('HGET', KEYS[3], ARGV[1])
if held then
  if held == ARGV[2] then return { 1, s, a } end
  return { 0, s, a }
end
local rows = tonumber(ARGV[2])
if s + rows > tonumber(ARGV[3]) or a + rows > tonumber(ARGV[4]) then return { 0, s, a } end
redis.call('HINCRBY', KEYS[1], 'exported_rows', rows)
redis.call('HINCRBY', KEYS[2], 'exported_rows', rows)
redis.call('HSET', KEYS[3], ARGV[1], rows)
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('EXPIRE', KEYS[3], ARGV[5])
return { 1, s, a }
`;

// Remembers each decision unless one is remembered. KEYS: decision keys. ARGV: the retention
// (s), then each decision's JSON.
const REMEMBER_DECISIONS = `
for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[1], 'NX') end
return #KEYS
`;

// Applies one registry entry unless the store holds a newer revision of that agent (a replayed
// or reordered older entry never undoes a suspension). Two entries under one revision (two
// operators at once): a suspension wins, whichever came first, so the store after a replay of
// the compacted topic says what it said live. KEYS: the agent's key. ARGV: the revision, the
// status, then the other field/value pairs. Reply: 1 applied, 0 not.
const APPLY_REGISTRATION = `
local stored = tonumber(redis.call('HGET', KEYS[1], 'revision') or '0')
local incoming = tonumber(ARGV[1])
if stored > incoming then return 0 end
if stored == incoming and (ARGV[2] ~= 'suspended' or redis.call('HGET', KEYS[1], 'status') == 'suspended') then return 0 end
redis.call('HSET', KEYS[1], 'revision', ARGV[1], 'status', ARGV[2], unpack(ARGV, 3))
return 1
`;

// Restores remembered decisions from the record: a decision is remembered unless one is, and a
// final decision replaces a remembered escalation (the approvals service's answer to it). KEYS:
// decision keys. ARGV: per key its decision's JSON, its verdict and its remaining retention (s).
const RESTORE_DECISIONS = `
local restored = 0
for i = 1, #KEYS do
  local json, verdict, ttl = ARGV[i * 3 - 2], ARGV[i * 3 - 1], ARGV[i * 3]
  local held = redis.call('GET', KEYS[i])
  if not held then
    redis.call('SET', KEYS[i], json, 'EX', ttl)
    restored = restored + 1
  elseif verdict ~= 'escalate' and cjson.decode(held).verdict == 'escalate' then
    redis.call('SET', KEYS[i], json, 'KEEPTTL')
    restored = restored + 1
  end
end
return restored
`;

// Applies one resource label unless the store holds a newer revision of it (a replayed older
// label never declassifies a resource). Two labels under one revision (two operators at once):
// each field takes the stricter of the two, whichever came first: the higher sensitivity, and
// for the environment production, or none (the policy's floor, production), over any other. KEYS:
// the resource's key. ARGV: the revision, the sensitivity's rank, the sensitivity, the
// environment ('' for none), the time. Reply: 1 applied, 0 not.
const APPLY_LABEL = `
local stored = tonumber(redis.call('HGET', KEYS[1], 'revision') or '0')
local incoming = tonumber(ARGV[1])
if stored > incoming then return 0 end
local rank, sensitivity, environment = ARGV[2], ARGV[3], ARGV[4]
if stored == incoming then
  local held = redis.call('HMGET', KEYS[1], 'rank', 'sensitivity', 'environment')
  if tonumber(held[1] or '-1') > tonumber(rank) then rank, sensitivity = held[1], held[2] end
  local heldEnv = held[3] or ''
  if heldEnv == '' or heldEnv == 'production' then environment = heldEnv
  elseif environment ~= '' and environment ~= 'production' then environment = heldEnv end
  if rank == held[1] and sensitivity == held[2] and environment == heldEnv then return 0 end
end
redis.call('HSET', KEYS[1], 'revision', ARGV[1], 'rank', rank, 'sensitivity', sensitivity, 'as_of', ARGV[5])
if environment == '' then redis.call('HDEL', KEYS[1], 'environment') else redis.call('HSET', KEYS[1], 'environment', environment) end
return 1
`;

/**
 * The context store's functions (provisioned with FUNCTION LOAD; the services only FCALL them).
 * READ_BATCH is read-only (FCALL_RO): Redis's ACLs treat FCALL's keys as written and FCALL_RO's
 * as read, so a reader (the decision worker) needs only read access to the context it is given.
 */
export const CONTEXT_FUNCTIONS = redisFunctionLibrary('intentgate_context', {
  read_batch: { body: READ_BATCH, readOnly: true },
  record_outcomes: { body: RECORD_OUTCOMES },
  reserve_export: { body: RESERVE_EXPORT },
  remember_decisions: { body: REMEMBER_DECISIONS },
  apply_registration: { body: APPLY_REGISTRATION },
  restore_decisions: { body: RESTORE_DECISIONS },
  apply_label: { body: APPLY_LABEL },
  feed_done: { body: FEED_DONE },
  renew_synced: { body: RENEW_SYNCED },
});


function int(value: string | null | undefined): number {
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

/** A JSON list of strings from the store; anything else reads as empty (which allows nothing). */
function stringList(text: string | null | undefined): string[] {
  if (text === null || text === undefined) return [];
  try {
    const value = JSON.parse(text) as unknown;
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  } catch {
    return [];
  }
}

function agentFactsOf(fields: ReadonlyArray<string | null | undefined>): AgentFacts {
  const [revoked, status, owner, autonomy, domains, actions, revision] = fields;
  const registered = status !== null && status !== undefined;
  const rev = revision === null || revision === undefined ? null : Number(revision);
  return {
    revoked: revoked === 'true', registered, status: status ?? null, owner: owner ?? null, autonomy: autonomy ?? null,
    domains: stringList(domains), actions: stringList(actions), revision: rev !== null && Number.isSafeInteger(rev) ? rev : null,
  };
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

/** Items per function call where each takes a few keys and arguments (well inside the functions' limits). */
const CHUNK = 1000;

/** An allowed export's rows and the limits its decision checked them against (the policy's export_budget obligation). */
export interface ExportBudget {
  rows: number;
  session_limit: number;
  agent_limit: number;
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
  }

  /** How long a session's history and a decision are remembered (s). */
  get retentionSeconds(): number {
    return this.#options.retentionSeconds;
  }

  async connect(): Promise<void> {
    if (this.redis.status === 'wait') await this.redis.connect();
  }

  /** Calls one of the store's functions (each takes its key count first). */
  #call(fn: Parameters<typeof CONTEXT_FUNCTIONS.name>[0], keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    return this.redis.fcall(CONTEXT_FUNCTIONS.name(fn), keys.length, ...keys, ...args);
  }

  /** Runs one batch script; a failure (or an unreachable Redis) is ContextUnavailable. */
  async #script<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw new ContextUnavailable(`${what} failed: ${redisErrorMessage(err)}`, err);
    }
  }

  /** READ_BATCH, read-only. */
  async #readOnly(keys: string[], args: string[]): Promise<unknown[]> {
    return (await this.redis.fcall_ro(CONTEXT_FUNCTIONS.name('read_batch'), keys.length, ...keys, ...args)) as unknown[];
  }

  /** Everything a batch of intents needs, in one round trip (one script). */
  async readBatch(intents: readonly Intent[]): Promise<BatchContext> {
    const principals = intents.map(principalsOf);
    // In calls of at most the functions' key and argument limits; the oldest sync mark read counts.
    const calls: Array<{ keys: string[]; args: string[]; count: number }> = [];
    let call = { keys: [SYNCED_AT, REVOKED], args: [] as string[], count: 0 };
    intents.forEach((intent, i) => {
      const keys = [sessionKey(intent.session.id), resourceKey(intent.resource.type, intent.resource.id), agentKey(intent.subject.id), decisionKey(intent.intent_id), usageKey(intent.subject.id), reservedKey(intent.session.id)];
      const args = [String(principals[i]!.length), ...principals[i]!, intent.intent_id];
      if (call.count > 0 && (call.keys.length + keys.length > REDIS_FUNCTION_MAX_KEYS || call.args.length + args.length > REDIS_FUNCTION_MAX_ARGS)) {
        calls.push(call);
        call = { keys: [SYNCED_AT, REVOKED], args: [], count: 0 };
      }
      call.keys.push(...keys);
      call.args.push(...args);
      call.count++;
    });
    calls.push(call);
    const replies = await Promise.all(calls.map((c) => this.#script('context store read', () => this.#readOnly(c.keys, c.args))));
    if (replies.some((r, k) => !Array.isArray(r) || r.length !== 1 + calls[k]!.count * 7)) throw new ContextUnavailable('context store read failed: short reply');
    const marks = replies.map((r) => Number(r[0]));
    const results: unknown[] = [marks.some((m) => !Number.isFinite(m) || m <= 0) ? null : Math.min(...marks), ...replies.flatMap((r) => r.slice(1))];
    const syncedAt = Number(results[0]);
    const age = this.#options.now() - syncedAt;
    if (!Number.isFinite(syncedAt) || syncedAt <= 0) throw new ContextUnavailable('context store has never been synced (no ig:context:synced_at)');
    if (age > this.#options.freshnessMs) {
      throw new ContextUnavailable(`context is ${age} ms old, over its ${this.#options.freshnessMs} ms freshness bound`);
    }

    // Rows reserved by an earlier attempt at an intent of this batch (one that did not commit) are
    // not yet spent: the batch decides those intents again, so its totals leave them out.
    const heldBySession = new Map<string, number>();
    const heldByAgent = new Map<string, number>();
    const counted = new Set<string>();
    intents.forEach((intent, i) => {
      const held = int(results[1 + i * 7 + 6] as string | null);
      if (held > 0 && !counted.has(intent.intent_id)) {
        counted.add(intent.intent_id);
        heldBySession.set(intent.session.id, (heldBySession.get(intent.session.id) ?? 0) + held);
        heldByAgent.set(intent.subject.id, (heldByAgent.get(intent.subject.id) ?? 0) + held);
      }
    });
    const snapshots = new Map<string, ContextSnapshot>();
    const decided = new Map<string, Decision>();
    intents.forEach((intent, i) => {
      const at = 1 + i * 7;
      const [exportedRows, actions, denied] = results[at] as Array<string | null>;
      const [label, environment] = results[at + 1] as Array<string | null>;
      const agent = results[at + 2] as Array<string | null>;
      const revokedFlags = results[at + 3] as number[];
      const previous = results[at + 4] as string | null;
      const agentExported = results[at + 5] as string | null;
      snapshots.set(intent.intent_id, {
        session: { exported_rows: int(exportedRows) - (heldBySession.get(intent.session.id) ?? 0), actions: int(actions), denied: int(denied) },
        usage: { exported_rows: int(agentExported) - (heldByAgent.get(intent.subject.id) ?? 0) },
        // An unknown label in the store is not "no label": the policy sees it and fails closed.
        resource: { sensitivity: label === null ? null : (label as Sensitivity), environment: environment ?? null },
        agent: agentFactsOf(agent),
        revoked: principals[i]!.filter((_, k) => revokedFlags[k] === 1),
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
   * out (one script for the batch) and nothing is read back: for a caller that does not use it.
   */
  async rememberDecisions(decisions: readonly Decision[], options: { standing?: boolean } = {}): Promise<Map<string, Decision>> {
    if (options.standing === false) {
      if (decisions.length > CHUNK) {
        for (let i = 0; i < decisions.length; i += CHUNK) await this.rememberDecisions(decisions.slice(i, i + CHUNK), options);
        return new Map();
      }
      if (decisions.length === 0) return new Map();
      const keys = decisions.map((d) => decisionKey(d.intent_id));
      await this.#script('remembering decisions', () => this.#call('remember_decisions', keys, [this.#options.retentionSeconds, ...decisions.map((d) => JSON.stringify(d))]));
      return new Map();
    }
    const pipeline = this.redis.pipeline();
    for (const d of decisions) {
      pipeline.set(decisionKey(d.intent_id), JSON.stringify(d), 'EX', this.#options.retentionSeconds, 'NX');
      pipeline.get(decisionKey(d.intent_id));
    }
    const results = await execAll(pipeline, decisions.length * 2, 'remembering decisions');
    const standing = new Map<string, Decision>();
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

  /**
   * Restores decisions from the record (the context feeder, replaying receipts after the store lost
   * its data): each is remembered unless one is, for what is left of its retention; a final
   * decision replaces a remembered escalation. Returns how many were written.
   */
  async restoreDecisions(decisions: readonly Decision[]): Promise<number> {
    if (decisions.length > CHUNK) {
      let restored = 0;
      for (let i = 0; i < decisions.length; i += CHUNK) restored += await this.restoreDecisions(decisions.slice(i, i + CHUNK));
      return restored;
    }
    const now = this.#options.now();
    const live = decisions
      .map((d) => ({ d, ttl: Math.floor((Date.parse(d.decided_at) + this.#options.retentionSeconds * 1000 - now) / 1000) }))
      .filter(({ ttl }) => ttl > 0);
    if (live.length === 0) return 0;
    const keys = live.map(({ d }) => decisionKey(d.intent_id));
    const args = live.flatMap(({ d, ttl }) => [JSON.stringify(d), d.verdict, ttl]);
    return this.#script('restoring decisions', () => this.#call('restore_decisions', keys, args) as Promise<number>);
  }

  /** Updates each session's history once per intent (idempotent across redeliveries). */
  async recordOutcomes(outcomes: ReadonlyArray<{ intent: Pick<Intent, 'intent_id' | 'session' | 'subject'>; verdict: string; exportedRows: number }>): Promise<void> {
    if (outcomes.length > CHUNK) {
      for (let i = 0; i < outcomes.length; i += CHUNK) await this.recordOutcomes(outcomes.slice(i, i + CHUNK));
      return;
    }
    if (outcomes.length === 0) return;
    const keys = outcomes.flatMap((o) => [sessionKey(o.intent.session.id), appliedKey(o.intent.session.id), usageKey(o.intent.subject.id), reservedKey(o.intent.session.id)]);
    const args = outcomes.flatMap((o) => [o.intent.intent_id, o.verdict, o.exportedRows]);
    await this.#script('session history update', () => this.#call('record_outcomes', keys, [this.#options.retentionSeconds, ...args]));
  }

  /**
   * Reserves an allowed export's rows against the live totals of its session and its agent
   * (atomic across decision workers). Not reserved: the totals it found, to decide again on.
   * A store that does not answer is ContextUnavailable.
   */
  async reserveExport(intent: Pick<Intent, 'intent_id' | 'session' | 'subject'>, budget: ExportBudget): Promise<{ reserved: boolean; sessionRows: number; agentRows: number }> {
    const keys = [sessionKey(intent.session.id), usageKey(intent.subject.id), reservedKey(intent.session.id)];
    const reply = await this.#script('export budget reservation', () => this.#call('reserve_export', keys, [intent.intent_id, budget.rows, budget.session_limit, budget.agent_limit, this.#options.retentionSeconds]));
    const [reserved, sessionRows, agentRows] = Array.isArray(reply) ? reply.map(Number) : [];
    if (!Number.isSafeInteger(sessionRows) || !Number.isSafeInteger(agentRows)) throw new ContextUnavailable('export budget reservation failed: a malformed reply');
    return { reserved: reserved === 1, sessionRows: sessionRows!, agentRows: agentRows! };
  }

  // --- writers for the context feeder, the demo and tests ------------------------------

  async markSynced(at = this.#options.now()): Promise<void> {
    await this.redis.set(SYNCED_AT, String(at));
  }

  /** Begins a read-through of the feeder's topics into the store (token: what feedDone is given). */
  async beginFeed(token: string): Promise<void> {
    await this.redis.set(FEED, token);
  }

  /**
   * Ends the read-through begun with `token`: marks the registry applied and the store synced, only
   * if the store kept everything since it began (the token is still there). False: it lost its data meanwhile.
   */
  async feedDone(token: string, at = this.#options.now()): Promise<boolean> {
    return (await this.#script('marking the store synced', () => this.#call('feed_done', [FEED, REGISTRY_APPLIED, SYNCED_AT], [token, String(at)]))) === 1;
  }

  /** Renews the sync mark only while the store still holds the registry; false after it lost its data. */
  async renewSynced(at = this.#options.now()): Promise<boolean> {
    return (await this.#script('renewing the sync mark', () => this.#call('renew_synced', [REGISTRY_APPLIED, SYNCED_AT], [String(at)]))) === 1;
  }

  /** Whether the store still holds what the feeder applied: null after Redis lost its data. */
  async registryApplied(): Promise<string | null> {
    return this.redis.get(REGISTRY_APPLIED);
  }

  /**
   * Applies a resource label (already verified by the caller) unless the store holds a newer
   * revision, or a stricter label under the same one; returns whether it was applied.
   */
  async applyLabel(label: ResourceLabel): Promise<boolean> {
    const applied = await this.#script('resource label update', () => this.#call('apply_label', [resourceKey(label.type, label.id)], [
      label.revision, SENSITIVITY_LEVELS.indexOf(label.sensitivity), label.sensitivity, label.environment ?? '', label.changed_at]));
    return applied === 1;
  }

  /** The store's labels on one resource, as a decision would read them (null where it has none), with their revision. */
  async resourceLabels(type: string, id: string): Promise<{ sensitivity: string | null; environment: string | null; revision: number | null }> {
    try {
      const [sensitivity, environment, revision] = await this.redis.hmget(resourceKey(type, id), 'sensitivity', 'environment', 'revision');
      return { sensitivity: sensitivity ?? null, environment: environment ?? null, revision: revision === null || revision === undefined ? null : Number(revision) };
    } catch (err) {
      throw new ContextUnavailable(`context store unreachable: ${(err as Error).message}`, err);
    }
  }

  /** Labels a resource directly, outside the resource catalog (tests; an operator's label goes through resources.labels). */
  async labelResource(type: string, id: string, sensitivity: Sensitivity, environment?: string): Promise<void> {
    await this.redis.hset(resourceKey(type, id), { sensitivity, ...(environment !== undefined ? { environment } : {}), as_of: String(this.#options.now()) });
  }

  /**
   * Applies a registry entry (already verified by the caller) unless the store holds that
   * revision or a newer one; returns whether it was applied.
   */
  async applyRegistration(entry: AgentRegistration): Promise<boolean> {
    const fields = {
      owner: entry.owner, autonomy: entry.autonomy,
      domains: JSON.stringify(entry.domains), actions: JSON.stringify(entry.actions), as_of: entry.changed_at,
    };
    const applied = await this.#script('agent registry update', () => this.#call('apply_registration', [agentKey(entry.agent)], [entry.revision, entry.status, ...Object.entries(fields).flat()]));
    return applied === 1;
  }

  /** The registry's facts on one agent, as a decision would read them. */
  async agentFacts(agent: string): Promise<AgentFacts> {
    try {
      return agentFactsOf(await this.redis.hmget(agentKey(agent), ...AGENT_FIELDS));
    } catch (err) {
      throw new ContextUnavailable(`context store unreachable: ${(err as Error).message}`, err);
    }
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
