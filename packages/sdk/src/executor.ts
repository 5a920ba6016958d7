import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Bus, type BatchContext, type BatchingProducer, type BusConsumer, type BusSasl, type ConsumerHealth, type ConsumerHealthOptions, type IncomingRecord, type Logger } from '@intentgate/bus';
import { approvedTopic, executorRole, keyringGroupPrefix, type ApprovedIntent, type Domain, type ExecutionResult } from '@intentgate/contracts';
import { publicJwkOf, withSignature, WarrantError, type CertifiedSigner, type Jwks, type TrustRoots } from '@intentgate/evidence';
import { DeadlineWatch } from './deadline-watch.ts';
import { intentAlreadyExecuted, WarrantGuard } from './guard.ts';
import { WarrantKeyring } from './keyring.ts';
import { encodeRun, startedMark, type Outcome } from './run-record.ts';

/** What a handler may return; throwing is a failed execution. */
export interface HandlerResult {
  detail?: Record<string, unknown>;
}

export type ExecutionHandler = (approved: ApprovedIntent) => Promise<HandlerResult | void>;

export interface ExecutorOptions {
  brokers: string[];
  /** SASL credentials for the broker (the local stack's role for this service); none on an unauthenticated cluster. */
  sasl?: BusSasl;
  registryUrl: string;
  redisUrl: string;
  domain: Domain;
  /** Who we are, in ExecutionResults and receipts. */
  executorId: string;
  /** The warrant issuer(s) we accept. */
  issuer: string | readonly string[];
  /**
   * The deployment's trust roots (warrant keys on the bus count only when a root certified them)
   * and this executor's own certified key, which signs its execution receipts.
   */
  trust: { roots: TrustRoots; signer: CertifiedSigner };
  /**
   * Warrant keys this executor is configured with, instead of following `warrant.keys` (the
   * keys certified by a root). For a fixed issuer key; never a key read from the bus.
   */
  jwks?: Jwks;
  handler: ExecutionHandler;
  /**
   * Which approved intents this executor owns; others (e.g. those another enforcement point,
   * like the MCP gateway, executes itself) are skipped without a claim or a report.
   */
  accept?: (approved: ApprovedIntent) => boolean;
  groupId?: string;
  logger?: Logger;
  /** Seconds a claimed warrant id is kept beyond the warrant's own expiry. */
  claimMarginSeconds?: number;
  /** How far the warrant issuer's clock may run ahead of the claim store's (WarrantGuardOptions.clockSkewMs). */
  clockSkewMs?: number;
  /**
   * How many approved intents run at once, across the partitions' batches in hand (default 16).
   * Intents on the same resource (type and id) always run one after another, in the order they
   * arrived. 1 runs everything in order.
   */
  concurrency?: number;
  /**
   * How long a claimed run's started mark stays good without renewal (default 60 s). The
   * process running it renews it every min(5 s, a third of this); a redelivery that finds a
   * mark this old reports the run failed with OUTCOME_UNKNOWN, and waits for a younger one.
   */
  runLeaseMs?: number;
  /**
   * When its consumers count as stalled and how they are restarted (CONSUMER_HEALTH_DEFAULTS).
   * An action counts as no progress until its batch finishes: stallAfterMs above the longest action.
   */
  health?: ConsumerHealthOptions;
  /**
   * How long before its warrant expires an approved intent this executor has not started is given
   * up and reported refused, NOT_EXECUTED_IN_TIME, so its agent hears before the warrant runs out
   * rather than after (default 5 s; 0: no such report, the executor reports WARRANT_EXPIRED when it
   * reaches the intent).
   */
  deadlineMarginMs?: number;
}

const DEFAULT_CONCURRENCY = 16;
const DEFAULT_DEADLINE_MARGIN_MS = 5_000;
const DEFAULT_RUN_LEASE_MS = 60_000;
const HEARTBEAT_MS = 3_000;
/** How often this process renews the started marks of the runs it has in hand. */
const RENEW_MS = 5_000;

function ended(status: Outcome['status'], reason?: Outcome['reason'], detail?: Record<string, unknown>): Outcome {
  return { status, ...(reason ? { reason } : {}), ...(detail ? { detail } : {}), finished_at: new Date().toISOString(), receipt_id: randomUUID() };
}

/** At most `size` tasks at once; the rest wait in arrival order. */
class Slots {
  readonly size: number;
  #busy = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(size: number) {
    this.size = size;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#busy >= this.size) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#busy++;
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next(); // the slot passes straight to the next task
      else this.#busy--;
    }
  }
}

/**
 * The executor side of enforcement: consumes approved intents for one domain and, for each,
 * verifies the warrant (signature, expiry, audience, issuer, intent digest), claims its jti
 * once (SET NX with a TTL past its expiry) and the intent once, runs the handler, records how it
 * ended with the claim, and reports an ExecutionResult and its receipt. Anything short of that
 * is a refusal, reported with a code. A redelivered record reports its recorded outcome again
 * (same result, same receipt id) and never runs twice; one whose run started but recorded no
 * outcome (the process died in the handler) is reported failed with OUTCOME_UNKNOWN.
 */
export class ExecutorRuntime {
  readonly #options: ExecutorOptions;
  readonly #bus: Bus;
  readonly #redis: Redis;
  /** The certified keys on warrant.keys, unless the executor was given its keys. */
  readonly #keyring: WarrantKeyring | null;
  readonly #guard: WarrantGuard;
  #producer!: BatchingProducer;
  #consumer!: BusConsumer<'ApprovedIntent'>;
  #stopped: Promise<void> | null = null;
  /** The last queued execution per resource, so the next one on it starts after it. */
  readonly #lanes = new Map<string, Promise<void>>();
  readonly #slots: Slots;
  readonly #groupId: string;
  readonly #runLeaseMs: number;
  /** Names this process in its started marks. */
  readonly #instance = randomUUID();
  /** The runs in hand: run key → its current started mark. */
  readonly #running = new Map<string, string>();
  #renewer: NodeJS.Timeout | null = null;
  #deadlines: DeadlineWatch | null = null;
  readonly #deadlineMarginMs: number;

  private constructor(options: ExecutorOptions) {
    const marginMs = options.deadlineMarginMs ?? DEFAULT_DEADLINE_MARGIN_MS;
    if (!Number.isSafeInteger(marginMs) || marginMs < 0) {
      throw Object.assign(new Error(`deadlineMarginMs must be a whole number of milliseconds, 0 or more, not ${String(marginMs)}`), { code: 'CONFIG_INVALID', hint: 'Give the margin in ms (0 turns the report before expiry off).' });
    }
    this.#deadlineMarginMs = marginMs;
    this.#options = options;
    this.#slots = new Slots(Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY));
    this.#groupId = options.groupId ?? `intentgate-executor-${options.domain}`;
    this.#runLeaseMs = options.runLeaseMs ?? DEFAULT_RUN_LEASE_MS;
    this.#bus = new Bus({
      brokers: options.brokers, registryUrl: options.registryUrl, clientId: `executor-${options.domain}-${options.executorId}`, ...(options.sasl ? { sasl: options.sasl } : {}),
      ...(options.logger ? { logger: options.logger } : {}), ...(options.health ? { health: options.health } : {}),
    });
    this.#redis = new Redis(options.redisUrl, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 1_000 });
    this.#redis.on('error', () => {});
    this.#keyring = options.jwks ? null : new WarrantKeyring(this.#bus, options.trust.roots, options.logger, { groupPrefix: keyringGroupPrefix(executorRole(options.domain)) });
    this.#guard = new WarrantGuard(this.#redis, {
      issuer: options.issuer, domain: options.domain, holder: options.executorId, jwks: this.#keyring ?? options.jwks!,
      ...(options.claimMarginSeconds !== undefined ? { claimMarginSeconds: options.claimMarginSeconds } : {}),
      ...(options.clockSkewMs !== undefined ? { clockSkewMs: options.clockSkewMs } : {}),
    });
  }

  static async start(options: ExecutorOptions): Promise<ExecutorRuntime> {
    const runtime = new ExecutorRuntime(options);
    try {
      await runtime.#start();
    } catch (err) {
      await runtime.stop().catch(() => {}); // nothing half-started keeps consuming
      throw err;
    }
    return runtime;
  }

  async #start(): Promise<void> {
    const options = this.#options;
    this.#renewer = setInterval(() => void this.#renew(), Math.min(RENEW_MS, Math.max(100, Math.floor(this.#runLeaseMs / 3))));
    this.#renewer.unref();
    await this.#redis.connect().catch(() => {}); // claims fail (and refuse) until Redis answers
    await this.#bus.registerSchemas();
    this.#producer = this.#bus.producer({ lingerMs: 1 });
    // The receipt key is published (with its certificate) before the first receipt it signs, so the ledger knows it.
    const signer = options.trust.signer;
    if (!signer.uses.includes('receipt') || !signer.receiptKinds.includes('execution')) {
      throw Object.assign(new Error(`the signer ${signer.key.kid} is not certified to sign execution receipts`), { code: 'CONFIG_INVALID' });
    }
    await this.#producer.send({
      topic: 'warrant.keys', key: signer.key.kid,
      value: { issuer: signer.principal, kid: signer.key.kid, jwk: { ...publicJwkOf(signer.key), alg: 'EdDSA', use: 'sig' }, published_at: new Date().toISOString(), certificate: signer.certificate },
    });
    await this.#keyring?.start();
    this.#consumer = this.#bus.consumer<'ApprovedIntent'>({
      groupId: this.#groupId,
      topics: [approvedTopic(options.domain)],
      fromBeginning: true,
      handle: (records, ctx) => this.#executeAll(records.filter((r) => options.accept?.(r.value) ?? true), ctx),
      partitionsAtOnce: this.#slots.size,
    });
    await this.#consumer.start();
    const marginMs = this.#deadlineMarginMs;
    if (marginMs > 0) {
      this.#deadlines = new DeadlineWatch({
        bus: this.#bus, guard: this.#guard, domain: options.domain, groupId: this.#groupId, marginMs,
        accept: (approved) => options.accept?.(approved) ?? true, runKeyOf: (record) => this.#runKey(record),
        report: (record, outcome) => this.#report(record, outcome, false), outcome: (reason) => ended('refused', reason),
        ...(options.logger ? { logger: options.logger } : {}),
      });
      await this.#deadlines.start();
    }
  }

  /** Unstarted intents given up before their warrants expired (reported NOT_EXECUTED_IN_TIME). */
  get forfeited(): number {
    return this.#deadlines?.forfeited ?? 0;
  }

  /**
   * Runs a batch's approved intents: each waits for the intents before it on the same resource
   * (type and id; across every batch in hand, in the order they arrived), then for one of
   * `concurrency` slots. Every intent finishes (or fails) before this settles, so a batch's offsets
   * are committed only after each of its intents was reported; a failed report fails the batch
   * (redelivered: the claims already made refuse a second execution, and the outcomes recorded
   * with them are reported again).
   */
  async #executeAll(records: Array<IncomingRecord<'ApprovedIntent'>>, ctx: BatchContext): Promise<void> {
    // Long actions must not cost the member its place in the group (and the record a redelivery).
    const beat = setInterval(() => void ctx.heartbeat().catch(() => {}), HEARTBEAT_MS);
    try {
      await this.#settleAll(records);
    } finally {
      clearInterval(beat);
    }
  }

  async #settleAll(records: Array<IncomingRecord<'ApprovedIntent'>>): Promise<void> {
    const settled = await Promise.allSettled(records.map((record) => {
      const { type, id } = record.value.intent.resource;
      const key = `${type}\u0000${id}`;
      const run = (this.#lanes.get(key) ?? Promise.resolve()).then(() => this.#slots.run(() => this.#execute(record)));
      const tail = run.then(() => {}, () => {});
      this.#lanes.set(key, tail);
      void tail.then(() => {
        if (this.#lanes.get(key) === tail) this.#lanes.delete(key);
      });
      return run;
    }));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async #execute(record: IncomingRecord<'ApprovedIntent'>): Promise<void> {
    const approved = record.value;
    const runKey = this.#runKey(record);
    let outcome: Outcome;
    try {
      const claims = await this.#guard.verify(approved.intent, approved.decision, approved.warrant);
      const conflict = ended('refused', intentAlreadyExecuted(claims));
      const started = startedMark(Date.now(), this.#instance);
      const refusal = await this.#guard.claim(claims, { key: runKey, started, intentConflict: conflict });
      outcome = refusal?.code === conflict.reason!.code ? conflict : refusal ? ended('refused', refusal) : await this.#run(approved, runKey, started);
    } catch (err) {
      outcome = ended('refused', err instanceof WarrantError ? { code: err.code, message: err.message } : { code: 'WARRANT_INVALID', message: (err as Error).message });
    }
    // A refusal of a record this executor claimed before is its redelivery (the report failed, or
    // the process died before committing), whatever refused it this time (its warrant is used,
    // expired, or its key not read yet after a restart): its recorded outcome is reported.
    // Not for CLAIM_UNAVAILABLE: Redis did not answer, and the refusal says so.
    const earlier = outcome.status === 'refused' && outcome.reason?.code !== 'CLAIM_UNAVAILABLE' ? await this.#earlierRun(runKey) : null;
    await this.#report(record, earlier ?? outcome, earlier !== null);
  }

  /** Runs the handler for a claimed warrant and records how it ended before it is reported. */
  async #run(approved: ApprovedIntent, runKey: string, started: string): Promise<Outcome> {
    let outcome: Outcome;
    this.#running.set(runKey, started);
    try {
      const detail = (await this.#options.handler(approved))?.detail;
      outcome = ended('executed', undefined, detail);
    } catch (err) {
      outcome = ended('failed', { code: 'HANDLER_FAILED', message: (err as Error).message.slice(0, 2048) });
    } finally {
      this.#running.delete(runKey);
    }
    const recorded = await this.#guard.finishRun(runKey, outcome).catch((err: unknown) => (err as Error).message);
    // Reported anyway; only a redelivery of this record would lack it (and report OUTCOME_UNKNOWN).
    if (recorded !== true) this.#options.logger?.warn({ runKey, problem: recorded === false ? 'run key expired' : recorded }, 'execution outcome not recorded');
    return outcome;
  }

  /**
   * The outcome of this executor's earlier claim on the same record, if it made one. A run whose
   * started mark is younger than `runLeaseMs` may still be going on another member (a rebalance;
   * its process renews the mark while it runs): this waits, and reports the outcome it records,
   * or OUTCOME_UNKNOWN once the mark has aged past the lease. Redis errors fail the batch.
   */
  async #earlierRun(runKey: string): Promise<Outcome | null> {
    for (let round = 0; round < 10_000; round++) {
      const earlier = await this.#guard.runOf(runKey);
      if (earlier === null) return null;
      if (earlier.state === 'finished') return earlier.outcome;
      const age = earlier.at === null ? Number.POSITIVE_INFINITY : Date.now() - earlier.at;
      if (age < this.#runLeaseMs) {
        await new Promise((r) => setTimeout(r, Math.min(1_000, this.#runLeaseMs - age)));
        continue;
      }
      const unknown = ended('failed', {
        code: 'OUTCOME_UNKNOWN',
        message: 'this executor claimed the warrant for this record and started the action, but stopped before recording how it ended; the side effect may have happened: check the resource',
      });
      // Recorded only over the same started mark, so a further redelivery reports this same
      // result, and an outcome recorded meanwhile wins.
      if (await this.#guard.replaceRun(runKey, earlier.mark, encodeRun(unknown))) return unknown;
    }
    throw new Error(`the run record ${runKey} kept changing; retrying the batch`);
  }

  /** Renews the started marks of the runs in hand, so no other member takes them for dead. */
  async #renew(): Promise<void> {
    for (const [runKey, mark] of this.#running) {
      const renewed = startedMark(Date.now(), this.#instance);
      const replaced = await this.#guard.replaceRun(runKey, mark, renewed).catch(() => false);
      if (replaced && this.#running.has(runKey)) this.#running.set(runKey, renewed);
    }
  }

  /** A record's run key: one per consumer group, record and decision, so only a redelivery shares it. */
  #runKey(record: IncomingRecord<'ApprovedIntent'>): string {
    return `ig:run:${this.#options.domain}:${this.#groupId}:${record.topic}:${record.partition}:${record.offset}:${record.value.decision.decision_id}`;
  }

  async #report(record: IncomingRecord<'ApprovedIntent'>, outcome: Outcome, again: boolean): Promise<void> {
    const approved = record.value;
    const result: ExecutionResult = {
      intent_id: approved.intent.intent_id, decision_id: approved.decision.decision_id, domain: this.#options.domain,
      status: outcome.status, ...(outcome.reason ? { reason: outcome.reason } : {}), executor: this.#options.executorId, finished_at: outcome.finished_at,
    };
    this.#options.logger?.info({ intent: result.intent_id, status: result.status, reason: result.reason?.code, ...(again ? { again } : {}) }, 'execution reported');
    const signer = this.#options.trust.signer;
    // Signed (Ed25519 is deterministic): a re-reported outcome is the same receipt, byte for byte.
    const receipt = withSignature(signer.key, 'Receipt', {
      receipt_id: outcome.receipt_id, kind: 'execution' as const, intent_id: result.intent_id,
      body: {
        result, ...(outcome.detail ? { detail: outcome.detail } : {}), warrant_jti: approved.decision.decision_id,
        source: { topic: record.topic, partition: record.partition, offset: record.offset },
      },
      producer: `${signer.principal}/${this.#options.executorId}`, produced_at: result.finished_at,
    });
    await this.#producer.sendMany([
      { topic: 'executions', key: result.intent_id, value: result },
      { topic: 'receipts', key: result.intent_id, value: receipt },
    ]);
  }

  /** The approved-intent consumer's and the key reader's health: not ready when one is stalled, restarting or dead. */
  health(): ConsumerHealth[] {
    return this.#bus.consumerHealth();
  }

  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      await this.#deadlines?.stop();
      await this.#bus.close(); // the runs in hand finish (and keep their marks renewed) first
      if (this.#renewer) clearInterval(this.#renewer);
      await this.#redis.quit().catch(() => this.#redis.disconnect());
    })();
    return this.#stopped;
  }
}
