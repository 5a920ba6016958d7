import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Counter, Gauge, Registry } from 'prom-client';
import { pino } from 'pino';
import { Bus, consumerHealthMetrics, probeAnswer, type BusConsumer, type ProbeAnswer, type BusSasl, type Logger, type OutgoingRecord } from '@intentgate/bus';
import { ContextStore } from '@intentgate/context';
import { ApprovalResponse, keyringGroupPrefix, parseMessage, type ApprovalRequest, type Decision } from '@intentgate/contracts';
import { digestOf, jwksOf, publicJwkOf, recordKeyId, TrustError, verifyRecord, type CertifiedSigner, type Jwks, type SigningKey, type TrustRoots } from '@intentgate/evidence';
import { WarrantKeyring } from '@intentgate/sdk';
import { finalRecords, type FinalSettings } from './final.ts';
import { AnswerRefused, checkAnswer, settle, type Settlement } from './review.ts';
import type { ReviewerAccount } from './reviewers.ts';
import { ApprovalStore, type StoredRequest } from './store.ts';
import { startWeb, type Web } from './web.ts';

export interface ApprovalsOptions {
  brokers: string[];
  /** SASL credentials for the broker (the local stack's role for this service); none on an unauthenticated cluster. */
  sasl?: BusSasl;
  registryUrl: string;
  redisUrl: string;
  /** Where pending approvals and the signing key live; reuse it across restarts. */
  dataDir: string;
  reviewers: readonly ReviewerAccount[];
  /**
   * The deployment's trust roots (escalations count only when signed by a decision worker's key
   * that a root certified) and this service's certified key, which signs its warrants and
   * receipts; its certificate's principal is the warrants' issuer.
   */
  trust: { roots: TrustRoots; signer: CertifiedSigner };
  warrantTtlSeconds?: number;
  /** 0 picks a free port. */
  httpPort?: number;
  /** Interface the page listens on (127.0.0.1; 0.0.0.0 inside a container whose port is published). */
  httpHost?: string;
  groupId?: string;
  /** Read approvals.requests from the start when the group has no committed offset (default true). */
  fromBeginning?: boolean;
  /** How often deadlines are checked. */
  tickMs?: number;
  /** Mark session cookies Secure (behind TLS). */
  secureCookies?: boolean;
  logger?: Logger;
}

export const APPROVALS_GROUP = 'intentgate-approvals';
export const APPROVALS_ISSUER = 'intentgate-approvals';

export type AnswerOutcome = { status: 'recorded'; request: StoredRequest } | { status: 'settled'; request: StoredRequest; decision: Decision };

export class LookupError extends Error {
  readonly code: 'APPROVAL_NOT_FOUND' | 'APPROVAL_AMBIGUOUS';
  readonly hint: string;
  constructor(code: LookupError['code'], message: string, hint: string) {
    super(message);
    this.name = 'LookupError';
    this.code = code;
    this.hint = hint;
  }
}

/**
 * The approvals service: escalations in (approvals.requests), reviewers' answers through the
 * web page or the API, final decisions out. Pending requests are on disk before their offsets
 * are committed; every change of state runs one at a time, so an answer and a deadline can
 * never both settle the same request.
 */
export class ApprovalsService {
  readonly logger: Logger;
  readonly #options: ApprovalsOptions;
  readonly #bus: Bus;
  readonly #context: ContextStore;
  readonly #metrics = new Registry();
  readonly #settled: Counter;
  readonly #answers: Counter;
  readonly loginFailures: Counter;
  #store!: ApprovalStore;
  #key!: SigningKey;
  #keyring: WarrantKeyring | null = null;
  #consumer: BusConsumer<'ApprovalRequest'> | null = null;
  #web: Web | null = null;
  #timer: NodeJS.Timeout | null = null;
  #serial: Promise<unknown> = Promise.resolve();
  #ready = false;
  #stopping: Promise<void> | null = null;

  private constructor(options: ApprovalsOptions) {
    this.#options = options;
    this.logger = options.logger ?? pino({ level: 'info', base: { service: 'approvals' } });
    this.#bus = new Bus({ brokers: options.brokers, sasl: options.sasl, registryUrl: options.registryUrl, clientId: 'approvals', logger: this.logger });
    this.#context = new ContextStore({ redisUrl: options.redisUrl, freshnessMs: 60_000 });
    this.#settled = new Counter({ name: 'intentgate_approvals_settled_total', help: 'Settled approval requests by outcome', labelNames: ['outcome'], registers: [this.#metrics] });
    this.#answers = new Counter({ name: 'intentgate_approvals_answers_total', help: 'Reviewer answers, accepted or refused', labelNames: ['result'], registers: [this.#metrics] });
    this.loginFailures = new Counter({ name: 'intentgate_approvals_login_failures_total', help: 'Failed or rate-limited sign-ins', labelNames: ['why'], registers: [this.#metrics] });
    const store = () => this.#store;
    new Gauge({ name: 'intentgate_approvals_pending', help: 'Requests awaiting an answer', registers: [this.#metrics], collect() { this.set(store()?.counts().pending ?? 0); } });
  }

  static async start(options: ApprovalsOptions): Promise<ApprovalsService> {
    const service = new ApprovalsService(options);
    try {
      await service.#start();
    } catch (err) {
      await service.stop();
      throw err;
    }
    return service;
  }

  get url(): string {
    return this.#web?.url ?? '';
  }

  get ready(): boolean {
    return this.#ready;
  }

  get jwks(): Jwks {
    return jwksOf([this.#key]);
  }

  get issuer(): string {
    return this.#options.trust.signer.principal;
  }

  get dataDir(): string {
    return this.#options.dataDir;
  }

  get groupId(): string {
    return this.#options.groupId ?? APPROVALS_GROUP;
  }

  get reviewers(): readonly ReviewerAccount[] {
    return this.#options.reviewers;
  }

  get metrics(): Registry {
    return this.#metrics;
  }

  /** /healthz and /readyz: starting or stopping, or a consumer stalled, restarting or dead, is not ready. */
  probe(probe: 'live' | 'ready'): ProbeAnswer {
    return probeAnswer(probe, this.#bus.consumerHealth(), this.#ready);
  }

  /** Prometheus text: the service's metrics and its consumers' health. */
  async metricsText(): Promise<string> {
    return `${await this.#metrics.metrics()}${consumerHealthMetrics(this.#bus.consumerHealth(), 'approvals')}`;
  }

  get #settings(): FinalSettings {
    return { issuer: this.issuer, producer: `${this.issuer}/${this.#key.kid}`, warrantTtlSeconds: this.#options.warrantTtlSeconds ?? 30, key: this.#key, certificate: this.#options.trust.signer.certificate };
  }

  async #start(): Promise<void> {
    await mkdir(this.#options.dataDir, { recursive: true });
    this.#store = new ApprovalStore(join(this.#options.dataDir, 'approvals.db'));
    const signer = this.#options.trust.signer;
    if (!signer.uses.includes('warrant') || !signer.uses.includes('receipt')) {
      throw Object.assign(new Error(`the signer ${signer.key.kid} is not certified to sign warrants and receipts`), { code: 'CONFIG_INVALID' });
    }
    this.#key = signer.key;
    await this.#bus.registerSchemas();
    await this.#bus.producer().send({
      topic: 'warrant.keys', key: this.#key.kid,
      value: { issuer: this.issuer, kid: this.#key.kid, jwk: { ...publicJwkOf(this.#key), alg: 'EdDSA', use: 'sig' }, published_at: new Date().toISOString(), certificate: signer.certificate },
    });
    this.#keyring = new WarrantKeyring(this.#bus, this.#options.trust.roots, this.logger, { groupPrefix: keyringGroupPrefix('approvals') });
    await this.#keyring.start();
    await this.#context.connect().catch((err: unknown) => {
      // Not fatal: decisions are still published; only the resubmission memory waits for Redis.
      this.logger.error({ err: (err as Error).message }, 'context store unreachable at start');
    });
    // Settlements recorded before a crash but maybe not published: publish them again, unchanged.
    await this.#exclusive(async () => {
      await this.#publishUnpublished();
      // Answers stored before a crash that already settle their request (the settlement itself was not yet recorded).
      for (const item of this.#store.pending()) {
        const settlement = settle(item.request, item.responses, Date.now());
        if (settlement) await this.#settle(item, settlement);
      }
    });
    const groupId = this.#options.groupId ?? APPROVALS_GROUP;
    if (this.#options.fromBeginning === false) {
      // "From now on" is fixed at the group's first start, so a restart never skips a request on a partition not read yet.
      await this.#bus.pinUncommittedToEnd(groupId, 'approvals.requests').catch((err: unknown) => {
        this.logger.warn({ err: (err as Error).message }, 'could not pin the start offsets; a new group starts at the end');
      });
    }
    this.#consumer = this.#bus.consumer<'ApprovalRequest'>({
      groupId, topics: ['approvals.requests'], fromBeginning: this.#options.fromBeginning ?? true,
      // Only escalations a decision worker made: signed by a key a root certified to sign them.
      refuse: (r) => this.#checkRequest(r.value),
      handle: (records) => this.#exclusive(() => this.#intake(records.map((r) => r.value))),
    });
    await this.#consumer.start();
    this.#web = await startWeb(this, { port: this.#options.httpPort ?? 0, host: this.#options.httpHost ?? '127.0.0.1', secureCookies: this.#options.secureCookies ?? false, logger: this.logger });
    this.#timer = setInterval(() => void this.tick().catch((err: unknown) => this.logger.error({ err: (err as Error).message }, 'deadline check failed; retrying')), this.#options.tickMs ?? 250);
    this.#ready = true;
    this.logger.info({ url: this.url, pending: this.#store.counts().pending }, 'approvals service ready');
  }

  /** Why an approval request is not one a decision worker made; null when it is. */
  async #checkRequest(request: ApprovalRequest): Promise<{ code: string; message: string } | null> {
    const keyring = this.#keyring!;
    try {
      // The worker's key is published before its first escalation: one not read yet is looked for.
      const kid = recordKeyId(request);
      if (kid !== undefined) await keyring.lookup(kid);
      verifyRecord('ApprovalRequest', request, (k) => keyring.get(k), (s) => s.uses.includes('approval-request'));
      return null;
    } catch (err) {
      const code = err instanceof TrustError ? `APPROVAL_REQUEST_${err.code.replace(/^RECORD_/, '')}` : 'APPROVAL_REQUEST_UNVERIFIED';
      this.logger.error({ code, intent: request.intent_id, decision: request.decision_id }, `approval request refused: ${(err as Error).message}`);
      return { code, message: (err as Error).message };
    }
  }

  /** Runs state changes one at a time (answers, deadlines, intake). */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(fn, fn);
    this.#serial = run.catch(() => {});
    return run;
  }

  async #intake(requests: ApprovalRequest[]): Promise<void> {
    const added = this.#store.add(requests, new Date().toISOString());
    if (added > 0) this.logger.info({ added }, 'approval requests received');
    for (const request of requests) {
      // A request whose digest is not its intent's can never be approved: settle it now, as a deny.
      if (digestOf(request.intent) !== request.intent_digest) {
        const item = this.#store.get(request.decision_id);
        if (item?.status === 'pending') await this.#settle(item, { outcome: 'invalid', message: 'the approval request\'s digest does not match its intent' });
      }
    }
  }

  pending(): StoredRequest[] {
    return this.#store.pending();
  }

  pendingIds(): string[] {
    return this.#store.pendingIds();
  }

  history(limit = 100): StoredRequest[] {
    return this.#store.history(limit);
  }

  /** A request by its escalation decision id, or by intent id when that names one request. */
  find(id: string): StoredRequest {
    const byDecision = this.#store.get(id);
    if (byDecision) return byDecision;
    const byIntent = this.#store.byIntent(id);
    const open = byIntent.filter((r) => r.status === 'pending');
    if (open.length > 1) throw new LookupError('APPROVAL_AMBIGUOUS', `intent ${id} has ${open.length} open requests`, 'Use the request id (the escalation decision id).');
    const one = open[0] ?? byIntent.at(-1);
    if (!one) throw new LookupError('APPROVAL_NOT_FOUND', `no approval request for ${id}`, 'Check the id; requests appear once the decision worker escalates the intent.');
    return one;
  }

  /** A reviewer's answer about the exact digest they saw. Throws AnswerRefused or LookupError. */
  answer(reviewer: ReviewerAccount, id: string, answer: 'approve' | 'deny', seenDigest: string, comment?: string): Promise<AnswerOutcome> {
    return this.#exclusive(async () => {
      const item = this.find(id);
      const decisionId = item.request.decision_id;
      try {
        if (item.status !== 'pending') {
          throw new AnswerRefused('APPROVAL_NOT_PENDING', `this request was already settled: ${item.verdict} (${item.reason})`, 'Nothing to do; see the history.');
        }
        const now = Date.now();
        if (now >= Date.parse(item.request.deadline)) await this.#settle(item, { outcome: 'timeout' });
        checkAnswer(item.request, item.responses, reviewer, answer, seenDigest, now);
      } catch (err) {
        this.#answers.inc({ result: err instanceof AnswerRefused ? err.code : 'error' });
        throw err;
      }
      const response = parseMessage('ApprovalResponse', {
        intent_id: item.request.intent_id, decision_id: decisionId, intent_digest: seenDigest, reviewer: reviewer.id, answer,
        ...(comment?.trim() ? { comment: comment.trim().slice(0, 4096) } : {}), responded_at: new Date().toISOString(),
      }) as ApprovalResponse;
      this.#store.addResponse(response);
      this.#answers.inc({ result: answer });
      this.logger.info({ request: decisionId, reviewer: reviewer.id, answer }, 'reviewer answered');
      // The answer is evidence in its own right; the approval receipt repeats every answer.
      await this.#bus.producer().send({ topic: 'approvals.responses', key: response.intent_id, value: response })
        .catch((err: unknown) => this.logger.error({ err: (err as Error).message, request: decisionId }, 'could not publish the answer; it is stored and goes into the approval receipt'));
      const updated = this.#store.get(decisionId)!;
      const settlement = settle(updated.request, updated.responses, Date.now());
      if (!settlement) return { status: 'recorded', request: updated };
      const decision = await this.#settle(updated, settlement);
      return { status: 'settled', request: this.#store.get(decisionId)!, decision };
    });
  }

  /** Settles every request whose deadline passed, and retries unpublished settlements. */
  tick(nowMs = Date.now()): Promise<number> {
    return this.#exclusive(async () => {
      await this.#publishUnpublished();
      const due = this.#store.due(nowMs);
      for (const item of due) await this.#settle(item, settle(item.request, item.responses, nowMs) ?? { outcome: 'timeout' });
      return due.length;
    });
  }

  async #settle(item: StoredRequest, settlement: Settlement): Promise<Decision> {
    const { decision, records } = await finalRecords(item.request, item.responses, settlement, this.#settings, Date.now());
    this.#store.settling(item.request.decision_id, settlement, records, decision.verdict, decision.reasons[0]!.code, decision.decided_at);
    this.#settled.inc({ outcome: settlement.outcome });
    this.logger.info({ request: item.request.decision_id, intent: item.request.intent_id, outcome: settlement.outcome, verdict: decision.verdict }, 'approval request settled');
    await this.#publish(item.request.decision_id, records).catch((err: unknown) => {
      this.logger.error({ err: (err as Error).message, request: item.request.decision_id }, 'settlement not yet published; retrying on the next tick');
    });
    return decision;
  }

  async #publish(decisionId: string, records: OutgoingRecord[]): Promise<void> {
    await this.#bus.sendAtomically(records, `approvals-${this.#key.kid}-${decisionId}`);
    this.#store.published(decisionId);
    const decision = records.find((r) => r.topic === 'decisions')?.value as Decision | undefined;
    // A resubmitted intent now gets the final decision, not the old escalation.
    if (decision) await this.#context.replaceDecision(decision).catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, 'decision memory not updated'));
  }

  async #publishUnpublished(): Promise<void> {
    for (const { decisionId, records } of this.#store.unpublished()) await this.#publish(decisionId, records);
  }

  /** Idempotent drain: the batch in hand is stored and committed, pending work finishes, then everything closes. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#ready = false;
      if (this.#timer) clearInterval(this.#timer);
      await this.#consumer?.stop();
      await this.#serial;
      await this.#web?.close();
      await this.#bus.close();
      await this.#context.close();
      this.#store?.close();
    })();
    return this.#stopping;
  }
}
