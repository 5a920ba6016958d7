import { hostname } from 'node:os';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { pino } from 'pino';
import { Bus, consumerHealthMetrics, probeAnswer, type BatchingProducer, type BusConsumer, type BusSasl, type ConsumerHealthOptions, type IncomingRecord, type Logger, type OutgoingRecord, type TransactionalProcessor, type TransformContext } from '@intentgate/bus';
import { ContextStore, ContextUnavailable, type ContextSnapshot, type ExportBudget } from '@intentgate/context';
import type { Decision, Intent } from '@intentgate/contracts';
import { createHash, randomUUID } from 'node:crypto';
import { digestOf, jwksOf, publicJwkOf, withSignature, type CertifiedSigner, type Jwks, type TrustRoots } from '@intentgate/evidence';
import { ActivePolicy, type PolicyEvaluator } from '@intentgate/policy';
import { decide, denyConflict, denyDeadLetter, denyOverloaded, exportedRowsOf, type DecideSettings, type Decided } from './decide.ts';
import { Admission, compileAdmission, type AdmissionOptions } from './admission.ts';
import { PolicyWatcher, type PolicyRefusal } from './policy-watcher.ts';
import { startHttp } from './http.ts';
import { verifyIntentIdentity, type IdentitySettings } from './identity.ts';

export interface DecisionServiceOptions {
  brokers: string[];
  /** SASL credentials for the broker (the local stack's role for this service); none on an unauthenticated cluster. */
  sasl?: BusSasl;
  registryUrl: string;
  redisUrl: string;
  instanceId?: string;
  tenant?: string;
  warrantTtlSeconds?: number;
  contextFreshnessMs?: number;
  policyTimeoutMicros?: number;
  defaultApprovalDeadlineSeconds?: number;
  /** Caps every escalation deadline, whatever the policy asks. */
  approvalDeadlineCapSeconds?: number;
  /**
   * The deployment's trust roots (policy publishers sign bundles, operators sign activations) and
   * this worker's certified key: it signs warrants, escalations and receipts, and is published
   * on warrant.keys with its certificate.
   */
  trust: { roots: TrustRoots; signer: CertifiedSigner };
  /** 0 picks a free port. */
  httpPort?: number;
  /** Interface for /readyz, /metrics and the JWKS: 127.0.0.1 unless configured otherwise. */
  httpHost?: string;
  /** Consumer group on `intents` (tests use their own). */
  groupId?: string;
  /**
   * Workload identity: trust bundles (trust domain → JWKS) and the maximum delegation depth;
   * every intent must carry a valid JWT-SVID and delegation chain, verified before policy
   * (IDENTITY_REQUIRED without). 'off' takes the subject and chain on the caller's word: it must
   * be asked for, is logged at every start, and is recorded as a mode-change receipt.
   */
  identity: IdentitySettings | 'off';
  /**
   * Who evaluates the active bundle: its own Wasm instance in process when absent (the default),
   * or e.g. an OpaServerEvaluator. Every failure of the evaluator is a deny with its reason code.
   */
  evaluator?: PolicyEvaluator;
  /**
   * Default true: each batch's records and offsets commit in one Kafka transaction. false runs
   * at-least-once (no transaction); it exists only so the benchmark can state what exactly-once costs.
   */
  exactlyOnce?: boolean;
  /** Bounds past which new intents are denied OVERLOADED at once (see AdmissionOptions; defaults in ADMISSION_DEFAULTS). */
  admission?: AdmissionOptions;
  /** When its consumers count as stalled and how they are restarted (CONSUMER_HEALTH_DEFAULTS). */
  health?: ConsumerHealthOptions;
  logger?: Logger;
}

export const DECISION_GROUP = 'intentgate-decision';


/** How many times an export is decided again on fresh totals before it is denied CONTEXT_UNAVAILABLE. */
const RESERVATION_ROUNDS = 3;

/** The policy's export_budget obligation: null when there is none, an Error when it is not well formed. */
function exportBudgetOf(decision: Decision): ExportBudget | null | Error {
  const budget = (decision.obligations as { export_budget?: unknown }).export_budget;
  if (budget === undefined) return null;
  const b = budget as Partial<Record<keyof ExportBudget, unknown>>;
  const whole = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  if (typeof budget !== 'object' || budget === null || !whole(b.rows) || !whole(b.session_limit) || !whole(b.agent_limit)) {
    return new ContextUnavailable(`the policy's export_budget obligation is not {rows, session_limit, agent_limit} of whole numbers: ${JSON.stringify(budget).slice(0, 200)}`);
  }
  return { rows: b.rows, session_limit: b.session_limit, agent_limit: b.agent_limit };
}

/**
 * The decision worker: a consumer-group member on `intents` that decides each batch with the
 * active bundle and fresh context, and writes every decision with its records and the consumed
 * offsets in one Kafka transaction.
 */
export class DecisionService {
  readonly active = new ActivePolicy();
  readonly logger: Logger;
  httpUrl = '';
  readonly #options: DecisionServiceOptions;
  readonly #bus: Bus;
  readonly #store: ContextStore;
  readonly #metrics = new Registry();
  readonly #decisions: Counter;
  readonly #reservationsRefused: Counter;
  readonly #evaluation: Histogram;
  #watcher!: PolicyWatcher;
  #producer!: BatchingProducer;
  #processor: TransactionalProcessor<'Intent'> | null = null;
  #http: { url: string; close(): Promise<void> } | null = null;
  #revocations: BusConsumer<'Revocation'> | null = null;
  #trustRefresh: NodeJS.Timeout | null = null;
  #ready = false;
  #stopping: Promise<void> | null = null;
  readonly #admission: Admission;
  /** When the oldest intent of the batch in hand was submitted (ms), while one is in hand. */
  #oldestInHandAt: number | null = null;

  private constructor(options: DecisionServiceOptions) {
    this.#options = options;
    this.logger = options.logger ?? pino({ level: 'info', base: { service: 'decision' } });
    this.#bus = new Bus({ brokers: options.brokers, sasl: options.sasl, registryUrl: options.registryUrl, clientId: `decision-${this.instanceId}`, logger: this.logger, ...(options.health ? { health: options.health } : {}) });
    this.#store = new ContextStore({ redisUrl: options.redisUrl, freshnessMs: options.contextFreshnessMs ?? 60_000 });
    this.#decisions = new Counter({ name: 'intentgate_decisions_total', help: 'Decisions made, by verdict and first reason code', labelNames: ['verdict', 'code'], registers: [this.#metrics] });
    this.#reservationsRefused = new Counter({ name: 'intentgate_export_reservations_refused_total', help: 'Allowed exports whose rows the live budget no longer held (decided again on the live totals)', registers: [this.#metrics] });
    const containment = (key: 'failedGroups' | 'isolatedGroups' | 'isolatedRecords') => () => this.#processor?.containment[key] ?? 0;
    for (const [name, help, read] of [
      ['intentgate_decision_redeliveries_skipped', 'Intents fetched again after their transaction had committed, skipped (nothing published twice), since start', () => this.#processor?.skippedRedeliveries ?? 0],
      ['intentgate_decision_batches_failed', 'Batches handed back to the consumer after a failure that was not a record\'s (fetched again), since start', containment('failedGroups')],
      ['intentgate_decision_batches_isolated', 'Batches bisected because one of their records failed them, since start', containment('isolatedGroups')],
      ['intentgate_decision_records_isolated', 'Records dead-lettered by that isolation (each with its final deny), since start', containment('isolatedRecords')],
    ] as const) {
      new Gauge({ name, help, registers: [this.#metrics], collect() { this.set(read()); } });
    }
    this.#admission = new Admission(this.#bus, compileAdmission(options.admission), this.logger);
    const service = this;
    new Gauge({
      name: 'intentgate_decision_oldest_undecided_age_seconds', help: 'How long the oldest intent of the batch in hand has waited since it was submitted (0 between batches)', registers: [this.#metrics],
      collect() { this.set(service.#oldestInHandAt === null ? 0 : Math.max(0, Date.now() - service.#oldestInHandAt) / 1000); },
    });
    new Gauge({
      name: 'intentgate_executor_backlog_records', help: 'Approved intents the executors of a domain have yet to run (absent while unknown)', labelNames: ['domain'], registers: [this.#metrics],
      collect() {
        this.reset();
        for (const [domain, backlog] of service.#admission.backlog) if (backlog !== null) this.set({ domain }, backlog);
      },
    });
    this.#evaluation = new Histogram({ name: 'intentgate_policy_evaluation_seconds', help: 'Wasm policy evaluation time', buckets: [5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 1e-3, 1e-2], registers: [this.#metrics] });
  }

  get instanceId(): string {
    return this.#options.instanceId ?? `${hostname()}-${process.pid}`;
  }

  get jwks(): Jwks {
    return jwksOf([this.#options.trust.signer.key]);
  }

  /** Started, not stopping, and every consumer running and not stalled. */
  get ready(): boolean {
    return probeAnswer('ready', this.#bus.consumerHealth(), this.#ready).status === 200;
  }

  static async start(options: DecisionServiceOptions): Promise<DecisionService> {
    const service = new DecisionService(options);
    try {
      await service.#start();
    } catch (err) {
      await service.stop();
      throw err;
    }
    return service;
  }

  get #settings(): DecideSettings {
    return {
      issuer: this.#options.trust.signer.principal,
      producer: `${this.#options.trust.signer.principal}/${this.instanceId}`,
      warrantTtlSeconds: this.#options.warrantTtlSeconds ?? 30,
      policyTimeoutMicros: this.#options.policyTimeoutMicros ?? 50_000,
      defaultApprovalDeadlineSeconds: this.#options.defaultApprovalDeadlineSeconds ?? 300,
      approvalDeadlineCapSeconds: this.#options.approvalDeadlineCapSeconds ?? 24 * 3600,
      signer: this.#options.trust.signer,
      ...(this.#options.evaluator ? { evaluator: this.#options.evaluator } : {}),
    };
  }

  async #start(): Promise<void> {
    const signer = this.#options.trust.signer;
    if (!signer.uses.includes('warrant') || !signer.uses.includes('receipt')) {
      throw Object.assign(new Error(`the signer ${signer.key.kid} is not certified to sign warrants and receipts`), { code: 'CONFIG_INVALID' });
    }
    this.#http = await startHttp(this.#options.httpPort ?? 0, this.#options.httpHost ?? '127.0.0.1', {
      jwks: () => this.jwks,
      probe: (probe) => probeAnswer(probe, this.#bus.consumerHealth(), this.#ready),
      metrics: async () => `${await this.#metrics.metrics()}${consumerHealthMetrics(this.#bus.consumerHealth(), 'decision')}`,
    });
    this.httpUrl = this.#http.url;
    await this.#bus.registerSchemas();
    // Publish the public key before the first warrant it signs, so executors reading keys from the bus know it.
    this.#producer = this.#bus.producer();
    await this.#producer.send({
      topic: 'warrant.keys', key: signer.key.kid,
      value: { issuer: signer.principal, kid: signer.key.kid, jwk: { ...publicJwkOf(signer.key), alg: 'EdDSA', use: 'sig' }, published_at: new Date().toISOString(), certificate: signer.certificate },
    });
    await this.#store.connect().catch((err: unknown) => {
      // Not fatal: every decision denies with CONTEXT_UNAVAILABLE until Redis answers.
      this.logger.error({ err: (err as Error).message }, 'context store unreachable at start');
    });
    // Revocations published on the bus reach the context store every worker reads.
    this.#revocations = this.#bus.consumer<'Revocation'>({
      groupId: `intentgate-revocations-${this.instanceId}-${Date.now()}`, topics: ['identity.revocations'], fromBeginning: true,
      handle: async (records) => {
        for (const { value } of records) {
          await this.#store.revoke(value.link);
          this.logger.warn({ link: value.link, kind: value.kind, by: value.revoked_by }, 'revocation applied');
        }
      },
    });
    await this.#revocations.start();
    const identity = this.#options.identity;
    if (identity === 'off') await this.#recordIdentityOff();
    else if (identity.reload) {
      const reload = identity.reload;
      this.#trustRefresh = setInterval(() => {
        reload().then(
          (trust) => (identity.trust = trust),
          (err: unknown) => this.logger.error({ err: (err as Error).message }, 'trust bundle reload failed; keeping the last good keys'),
        );
      }, identity.refreshMs ?? 300_000);
      this.#trustRefresh.unref();
    }
    this.#watcher = new PolicyWatcher(this.#bus, this.active, this.#options.tenant ?? 'default', this.logger, this.#options.trust.roots, (r) => this.#recordRefusal(r));
    await this.#watcher.start();
    await this.#watcher.caughtUp(30_000);
    this.#admission.start();
    const settings = this.#settings;
    this.#processor = this.#bus.transactional<'Intent'>({
      groupId: this.#options.groupId ?? DECISION_GROUP,
      topics: ['intents'],
      transactionalId: `${this.#options.groupId ?? DECISION_GROUP}-${this.instanceId}`,
      fromBeginning: true,
      exactlyOnce: this.#options.exactlyOnce ?? true,
      transform: (records, ctx) => this.#decideBatch(records, ctx, settings),
      onDeadLetter: (letter) => {
        const records = denyDeadLetter(letter, settings, Date);
        const code = (records[0]?.value as Decision | undefined)?.reasons[0]?.code;
        if (code) this.#decisions.inc({ verdict: 'deny', code });
        return records;
      },
      onCommitted: (records, outputs) => this.#afterCommit(records, outputs),
    });
    await this.#processor.start();
    this.#ready = true;
    this.logger.info({ http: this.httpUrl, instance: this.instanceId }, 'decision service ready');
  }

  /**
   * Identity off is a mode of enforcement, so it is evidence: a mode-change receipt at every
   * start, and a log line no operator can miss. Without identity, an intent's subject and its
   * delegation chain are the caller's word.
   */
  async #recordIdentityOff(): Promise<void> {
    const signer = this.#options.trust.signer;
    this.logger.error({ mode: 'identity-off', instance: this.instanceId },
      'IDENTITY VERIFICATION IS OFF: every intent\'s subject and delegation chain are taken on the caller\'s word (configure TRUST_BUNDLES to verify JWT-SVIDs)');
    const receipt = withSignature(signer.key, 'Receipt', {
      receipt_id: randomUUID(), kind: 'mode-change' as const, intent_id: null,
      body: {
        mode: 'identity', value: 'off', service: signer.principal, instance: this.instanceId, tenant: this.#options.tenant ?? 'default',
        effect: 'intents are decided without verifying a JWT-SVID or delegation tokens: subject.id and delegation are claims',
      },
      producer: `${signer.principal}/${this.instanceId}`, produced_at: new Date().toISOString(),
    });
    await this.#producer.send({ topic: 'receipts', key: signer.principal, value: receipt });
  }

  /**
   * A refused bundle or activation becomes a receipt: evidence that someone tried to change the
   * policy and was not obeyed. Its id is derived from the refused record, so every instance (and
   * every restart, which reads the topic again) writes the same receipt, which the ledger keeps once.
   */
  async #recordRefusal(r: PolicyRefusal): Promise<void> {
    const h = createHash('sha256').update(`policy-refusal/${this.#options.tenant ?? 'default'}/${r.record.topic}/${r.record.partition}/${r.record.offset}`).digest('hex');
    const receiptId = `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((Number.parseInt(h.slice(16, 17), 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
    const signer = this.#options.trust.signer;
    const receipt = withSignature(signer.key, 'Receipt', {
      receipt_id: receiptId, kind: 'policy-activation' as const, intent_id: null,
      body: {
        outcome: 'refused', reason: { code: r.code, message: r.message }, refused_record: r.record,
        bundle_digest: r.bundleDigest, version: r.version, tenant: r.tenant, policy_in_force: this.active.current && 'ref' in this.active.current ? this.active.current.ref : null,
      },
      producer: `${signer.principal}/${this.instanceId}`, produced_at: new Date().toISOString(),
    });
    await this.#producer.send({ topic: 'receipts', key: r.bundleDigest, value: receipt });
  }

  /**
   * Decides a batch; the returned records commit together with the batch's offsets. An intent
   * that fails anywhere on its way (its digest, identity, policy input, its records) is handed to
   * ctx.deadLetter: it goes to intents.dlq and gets its final deny in the same transaction, and
   * the rest of the batch is decided as if it were not there.
   */
  async #decideBatch(records: IncomingRecord<'Intent'>[], ctx: TransformContext<'Intent'>, settings: DecideSettings): Promise<OutgoingRecord[]> {
    const takenAt = Date.now();
    this.#oldestInHandAt = Math.min(...records.map((r) => Number(r.timestamp)).filter(Number.isFinite), takenAt);
    try {
      return await this.#decideTaken(records, ctx, settings, takenAt);
    } finally {
      this.#oldestInHandAt = null;
    }
  }

  async #decideTaken(records: IncomingRecord<'Intent'>[], ctx: TransformContext<'Intent'>, settings: DecideSettings, takenAt: number): Promise<OutgoingRecord[]> {
    const intents = records.map((r) => r.value);
    const engine = this.active.current; // one engine for the whole batch (hot swap between batches)
    let context: Awaited<ReturnType<ContextStore['readBatch']>> | Error;
    try {
      context = await this.#store.readBatch(intents);
    } catch (err) {
      // Redis unreachable or stale: every intent denies. Anything else is no reason to deny the
      // whole batch: thrown, so the bus isolates the intent that causes it.
      if (!(err instanceof ContextUnavailable)) throw err;
      context = err;
    }
    const failed = (i: number, code: string, err: unknown) => {
      const message = `${(err as Error)?.message ?? String(err)}`.slice(0, 1024);
      this.logger.error({ intent_id: intents[i]!.intent_id, code, err: message }, 'intent failed in the decision path: dead-lettered, final deny');
      outputs[i] = [];
      ctx.deadLetter(records[i]!, { code, message });
    };
    // Which intents to decide: a redelivered or resubmitted intent gets its earlier decision again
    // (and nothing to execute twice); a second copy within the batch gets nothing more.
    const outputs: OutgoingRecord[][] = intents.map(() => []);
    // Intents that share an agent or a session are decided in one chain, in order (both budgets).
    const chainOf = new Map<string, number>();
    const parent: number[] = [];
    const root = (x: number): number => (parent[x] === x ? x : (parent[x] = root(parent[x]!)));
    const decideInOrder: number[] = [];
    const seen = new Set<string>();
    intents.forEach((intent, i) => {
      const previous = context instanceof Error ? undefined : context.decided.get(intent.intent_id);
      let digest: string | null = null;
      try {
        if (previous) digest = digestOf(intent);
      } catch (err) {
        failed(i, 'INTENT_NOT_CANONICAL', err);
        return;
      }
      if (previous && previous.intent_digest !== digest) {
        // The same id for another action: never its decision (and not remembered over it).
        outputs[i] = denyConflict(intent, previous, settings, Date).records;
        this.#decisions.inc({ verdict: 'deny', code: 'INTENT_ID_CONFLICT' });
        return;
      }
      if (previous || seen.has(intent.intent_id)) {
        if (previous) outputs[i]!.push({ topic: 'decisions', key: intent.session.id, value: previous });
        return;
      }
      seen.add(intent.intent_id);
      const overload = this.#admission.check(intent, records[i]!, takenAt);
      if (overload) {
        try {
          outputs[i] = denyOverloaded(intent, overload, settings, Date).records;
        } catch (err) {
          failed(i, 'INTENT_NOT_CANONICAL', err);
          return;
        }
        this.#decisions.inc({ verdict: 'deny', code: 'OVERLOADED' });
        return;
      }
      parent[i] = i;
      decideInOrder.push(i);
      for (const key of [`a:${intent.subject.id}`, `s:${intent.session.id}`]) {
        const other = chainOf.get(key);
        if (other === undefined) chainOf.set(key, i);
        else parent[root(other)] = root(i);
      }
    });
    const agents = new Map<number, number[]>();
    for (const i of decideInOrder) {
      const r = root(i);
      const chain = agents.get(r);
      if (chain) chain.push(i);
      else agents.set(r, [i]);
    }
    // Chains are independent and decided concurrently (an evaluator that waits, such as a policy
    // server, overlaps its round trips); within a chain intents are decided in order, so a later
    // intent sees an earlier one's export, in its session and in its agent's own total.
    await Promise.all([...agents.values()].map(async (chain) => {
      const byAgent = new Map<string, number>();
      const bySession = new Map<string, number>();
      for (const i of chain) {
        const intent = intents[i]!;
        let snapshot = context instanceof Error ? context : context.snapshots.get(intent.intent_id)!;
        const sessionBefore = bySession.get(intent.session.id) ?? 0;
        const agentBefore = byAgent.get(intent.subject.id) ?? 0;
        if (!(snapshot instanceof Error) && (sessionBefore > 0 || agentBefore > 0)) {
          snapshot = {
            ...snapshot,
            session: { ...snapshot.session, exported_rows: snapshot.session.exported_rows + sessionBefore },
            usage: { exported_rows: snapshot.usage.exported_rows + agentBefore },
          };
        }
        const verifying = this.#options.identity;
        let identity: Awaited<ReturnType<typeof verifyIntentIdentity>> | null = null;
        try {
          identity = verifying !== 'off' && !(snapshot instanceof Error)
            ? await verifyIntentIdentity(intent, verifying, new Set(snapshot.revoked))
            : null;
        } catch (err) {
          failed(i, 'IDENTITY_CHECK_FAILED', err);
          continue;
        }
        let decided: Awaited<ReturnType<typeof decide>>;
        try {
          decided = await decide(intent, snapshot, engine, settings, Date, identity);
          decided = await this.#reserveExport(intent, snapshot, decided, (again) => decide(intent, again, engine, settings, Date, identity));
        } catch (err) {
          // decide() denies every policy problem itself; what it throws is the intent's own (its canonical form, its records).
          failed(i, 'DECISION_FAILED', err);
          continue;
        }
        if (decided.exportedRows > 0) {
          bySession.set(intent.session.id, sessionBefore + decided.exportedRows);
          byAgent.set(intent.subject.id, agentBefore + decided.exportedRows);
        }
        this.#decisions.inc({ verdict: decided.decision.verdict, code: decided.decision.reasons[0]?.code ?? 'NONE' });
        const receipt = decided.records.find((r) => r.topic === 'receipts')?.value as { body: { evaluation_micros: number | null } } | undefined;
        if (receipt?.body.evaluation_micros != null) this.#evaluation.observe(receipt.body.evaluation_micros / 1e6);
        outputs[i] = decided.records;
      }
    }));
    return outputs.flat();
  }

  /**
   * An allowed export stands only once its rows are reserved against the live totals of its
   * session and its agent (another worker may have spent the budget since this batch read it):
   * not reserved, it is decided again on the totals the store holds now, so a deny is the
   * policy's own, replayable from its input. A store that does not answer, or totals that keep
   * moving, deny CONTEXT_UNAVAILABLE; an export_budget obligation that is not well formed denies.
   */
  async #reserveExport(intent: Intent, snapshot: ContextSnapshot | Error, decided: Decided, decideOn: (snapshot: ContextSnapshot | Error) => Promise<Decided>): Promise<Decided> {
    for (let round = 0; round < RESERVATION_ROUNDS; round++) {
      if (decided.decision.verdict !== 'allow' || snapshot instanceof Error) return decided;
      const budget = exportBudgetOf(decided.decision);
      const rows = exportedRowsOf(intent, 'allow');
      // An allowed export with no budget to reserve (an older or a tenant's own bundle) would rest
      // on this batch's totals alone, which another worker may have spent: it does not stand.
      if (budget === null && rows === 0) return decided;
      if (budget === null) return decideOn(new ContextUnavailable(`the policy allowed an export of ${rows} rows without an export_budget obligation to reserve them against; use a bundle whose allowed exports carry it`));
      if (budget instanceof Error) return decideOn(budget);
      if (budget.rows !== rows) return decideOn(new ContextUnavailable(`the policy's export_budget obligation reserves ${budget.rows} rows for an export of ${rows}`));
      let reservation: Awaited<ReturnType<ContextStore['reserveExport']>>;
      try {
        reservation = await this.#store.reserveExport(intent, budget);
      } catch (err) {
        return decideOn(err instanceof ContextUnavailable ? err : new ContextUnavailable(`export budget reservation failed: ${(err as Error).message}`, err));
      }
      if (reservation.reserved) return decided;
      this.#reservationsRefused.inc();
      snapshot = { ...snapshot, session: { ...snapshot.session, exported_rows: reservation.sessionRows }, usage: { exported_rows: reservation.agentRows } };
      decided = await decideOn(snapshot);
    }
    return decided.decision.verdict === 'allow'
      ? decideOn(new ContextUnavailable(`the export budget of ${intent.subject.id} kept changing while this export was decided ${RESERVATION_ROUNDS} times; submit it again`))
      : decided;
  }

  /** After the transaction: remember decisions (for resubmissions) and update session history. */
  async #afterCommit(records: IncomingRecord<'Intent'>[], outputs: OutgoingRecord[]): Promise<void> {
    const intents = new Map(records.map((r) => [r.value.intent_id, r.value]));
    const fresh = outputs.filter((o) => o.topic === 'receipts' && (o.value as { kind: string }).kind === 'decision')
      .map((o) => (o.value as { body: { decision: Decision } }).body.decision)
      .filter((d) => intents.has(d.intent_id) && d.reasons[0]?.code !== 'INTENT_ID_CONFLICT');
    if (fresh.length === 0) return;
    // Independent writes, issued together: ioredis pipelines them on its connection, one round trip.
    const writes = await Promise.allSettled([
      this.#store.rememberDecisions(fresh, { standing: false }),
      this.#store.recordOutcomes(fresh.map((d) => {
        const intent = intents.get(d.intent_id)!;
        return { intent, verdict: d.verdict, exportedRows: exportedRowsOf(intent, d.verdict) };
      })),
    ]);
    const failed = writes.find((w): w is PromiseRejectedResult => w.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Idempotent drain: finish and commit the batch in hand, then close everything. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#ready = false;
      if (this.#trustRefresh) clearInterval(this.#trustRefresh);
      await Promise.all([this.#processor?.stop(), this.#watcher?.stop(), this.#revocations?.stop(), this.#admission.stop()]);
      await this.#bus.close();
      await this.#store.close();
      await this.#http?.close();
    })();
    return this.#stopping;
  }
}
