import { randomUUID } from 'node:crypto';
import { Bus, type BatchingProducer, type BusConsumer, type BusSasl, type Logger } from '@intentgate/bus';
import { agentGroupPrefix, parseMessage, type Decision, type Intent } from '@intentgate/contracts';
import { digestOf, TrustError, verifyCertifiedRecord, type TrustRoots } from '@intentgate/evidence';
import { withCredentials, type AgentCredentials } from './identity.ts';

/** No final decision arrived in time. Never to be read as an allow. */
export class DecisionTimeout extends Error {
  readonly code = 'DECISION_TIMEOUT';
  readonly intentId: string;
  constructor(intentId: string, timeoutMs: number) {
    super(`no final decision for intent ${intentId} within ${timeoutMs} ms; treat the action as denied`);
    this.name = 'DecisionTimeout';
    this.intentId = intentId;
  }
}

/** A signed decision arrived for this intent id, but for another version of the intent. Never to be read as an allow. */
export class DecisionMismatch extends Error {
  readonly code = 'DECISION_MISMATCH';
  readonly intentId: string;
  constructor(intentId: string) {
    super(`the decision for intent ${intentId} was made for another version of it (its intent_digest differs); treat the action as denied and submit under a new intent_id`);
    this.name = 'DecisionMismatch';
    this.intentId = intentId;
  }
}

/**
 * Not submitted: the decision worker said it is overloaded (it denied one of this client's
 * recent intents OVERLOADED), or this client has `maxInFlight` intents awaiting decisions. Never to be read as an allow; try
 * again after `retryAfterMs`.
 */
export class Overloaded extends Error {
  readonly code = 'OVERLOADED';
  readonly retriable = true;
  readonly intentId: string;
  readonly retryAfterMs: number;
  readonly hint: string;
  constructor(intentId: string, why: string, retryAfterMs: number) {
    super(`intent ${intentId} was not submitted: ${why}; treat the action as denied`);
    this.name = 'Overloaded';
    this.intentId = intentId;
    this.retryAfterMs = retryAfterMs;
    this.hint = `Try again after ${retryAfterMs} ms (a new intent, or this one: it was never submitted).`;
  }
}

export interface AgentClientOptions {
  brokers: string[];
  /** SASL credentials for the broker (the local stack's role for this service); none on an unauthenticated cluster. */
  sasl?: BusSasl;
  registryUrl: string;
  /**
   * The deployment's trust roots: a decision counts only when a decider's key (certified for
   * warrants: the decision worker, the approvals service) signed it; the signature carries the
   * key's certificate, so the client reads nothing but `decisions`. Any other record there is
   * dropped (and counted), so a forged allow can never be returned.
   */
  trust: { roots: TrustRoots };
  clientId?: string;
  /** Its consumer groups' prefix: its role's (the access catalog gives each role its own). Default the agent platform's. */
  groupPrefix?: string;
  logger?: Logger;
  /**
   * The agent's credentials (JWT-SVID and delegation tokens), attached to every intent submitted
   * without credentials of its own: decision workers deny an intent without them (IDENTITY_REQUIRED).
   * Called per intent, so short-lived SVIDs can be fetched fresh (from SPIRE's Workload API, say).
   */
  credentials?: (intent: Intent) => Promise<AgentCredentials>;
  /**
   * How many intents this client may have awaiting a decision at once (default 10,000); past it,
   * decide() fails at once with Overloaded instead of queueing more behind a worker that is behind.
   */
  maxInFlight?: number;
}

const DEFAULT_MAX_IN_FLIGHT = 10_000;
/** How long the client holds back after an OVERLOADED decision that names no retry_after_ms. */
const DEFAULT_RETRY_AFTER_MS = 5_000;

interface Waiter {
  resolve(d: Decision): void;
  cancel(): void;
  /** Non-final decisions seen so far (an escalation), for callers that want them. */
  interim: Decision[];
}

/**
 * What an agent platform uses: submit an intent, await its final decision. One producer and
 * one decisions consumer per client; waiters are matched by intent_id.
 */
export class AgentClient {
  readonly #bus: Bus;
  readonly #waiters = new Map<string, Waiter>();
  /** Final decisions that arrived before anyone waited (short memory, bounded). */
  readonly #early = new Map<string, Decision>();
  #producer!: BatchingProducer;
  #consumer!: BusConsumer<'Decision'>;
  #closed: Promise<void> | null = null;
  readonly #roots: TrustRoots;
  readonly #logger: Logger | undefined;
  /** Records on `decisions` no decider signed, dropped. */
  refusedDecisions = 0;
  readonly #credentials: AgentClientOptions['credentials'];
  readonly #maxInFlight: number;
  /** Until when (ms) new intents are not submitted: a decider denied one of ours OVERLOADED. */
  #overloadedUntil = 0;
  /** The intents this client submitted that have no final decision yet (bounded): only their OVERLOADED decisions hold it back. */
  readonly #pending = new Set<string>();

  private constructor(options: AgentClientOptions) {
    this.#logger = options.logger;
    this.#credentials = options.credentials;
    this.#maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.#bus = new Bus({
      brokers: options.brokers, registryUrl: options.registryUrl, ...(options.sasl ? { sasl: options.sasl } : {}),
      clientId: options.clientId ?? `agent-${randomUUID().slice(0, 8)}`, ...(options.logger ? { logger: options.logger } : {}),
    });
    this.#roots = options.trust.roots;
  }

  /** Whether a decider signed this decision; a forged or unsigned one is dropped, never awaited. */
  #signedByDecider(decision: Decision): boolean {
    try {
      verifyCertifiedRecord(this.#roots, 'Decision', decision, (k) => k.uses.includes('warrant'));
      return true;
    } catch (err) {
      this.refusedDecisions++;
      this.#logger?.warn({ intent: decision.intent_id, code: err instanceof TrustError ? err.code : 'DECISION_UNVERIFIED' }, `decision dropped: ${(err as Error).message}`);
      return false;
    }
  }

  static async connect(options: AgentClientOptions): Promise<AgentClient> {
    const client = new AgentClient(options);
    await client.#bus.registerSchemas();
    client.#producer = client.#bus.producer({ lingerMs: 1 });
    client.#consumer = client.#bus.consumer<'Decision'>({
      groupId: `${options.groupPrefix ?? agentGroupPrefix('agent-platform')}${randomUUID()}`,
      topics: ['decisions'],
      handle: async (records) => {
        for (const { value } of records) if (client.#signedByDecider(value)) client.#onDecision(value);
      },
    });
    await client.#consumer.start();
    return client;
  }

  #onDecision(decision: Decision): void {
    // Ours, and the first final answer to it, only: another client's backlog is not this client's
    // to answer for, and a worker that re-reads old intents (a new consumer group) sheds those
    // already decided too.
    const pending = decision.final && this.#pending.delete(decision.intent_id);
    if (pending && decision.reasons[0]?.code === 'OVERLOADED') {
      const after = decision.obligations.retry_after_ms;
      const until = Date.parse(decision.decided_at) + (typeof after === 'number' && Number.isFinite(after) && after >= 0 ? Math.min(after, 300_000) : DEFAULT_RETRY_AFTER_MS);
      if (until > this.#overloadedUntil) this.#overloadedUntil = until;
    }
    const waiter = this.#waiters.get(decision.intent_id);
    if (!decision.final) {
      waiter?.interim.push(decision);
      return;
    }
    if (waiter) {
      this.#waiters.delete(decision.intent_id);
      waiter.resolve(decision);
    } else {
      this.#early.set(decision.intent_id, decision);
      if (this.#early.size > 10_000) this.#early.delete(this.#early.keys().next().value!);
    }
  }

  /** Publishes an intent (validated against the contract first). */
  /** The intent with the client's credentials attached, unless it carries its own (or the client has none). */
  async #withOwnCredentials(intent: Intent): Promise<Intent> {
    return intent.credentials === undefined && this.#credentials ? withCredentials(intent, await this.#credentials(intent)) : intent;
  }

  async submit(intent: Intent): Promise<void> {
    const checked = parseMessage('Intent', await this.#withOwnCredentials(intent));
    this.#pending.add(checked.intent_id);
    if (this.#pending.size > 10_000) this.#pending.delete(this.#pending.values().next().value!);
    await this.#producer.send({ topic: 'intents', key: checked.session.id, value: checked });
  }

  /** The final decision for an intent; a DecisionTimeout (never an allow) when none comes in time. */
  awaitDecision(intentId: string, timeoutMs = 30_000): Promise<Decision> {
    const early = this.#early.get(intentId);
    if (early) {
      this.#early.delete(intentId);
      return Promise.resolve(early);
    }
    return new Promise<Decision>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(intentId);
        reject(new DecisionTimeout(intentId, timeoutMs));
      }, timeoutMs);
      this.#waiters.set(intentId, {
        interim: [],
        resolve: (d) => {
          clearTimeout(timer);
          resolve(d);
        },
        cancel: () => {
          clearTimeout(timer);
          this.#waiters.delete(intentId);
        },
      });
    });
  }

  /**
   * Submit and await in one call; with credentials, the subject, chain and proofs are attached
   * first. The decision must be for exactly this intent (its digest), or it is not returned.
   */
  async decide(intent: Intent, timeoutMs = 30_000, credentials?: AgentCredentials): Promise<Decision> {
    this.#admit(intent.intent_id);
    if (credentials) intent = withCredentials(intent, credentials);
    else intent = await this.#withOwnCredentials(intent);
    const decision = this.awaitDecision(intent.intent_id, timeoutMs);
    try {
      await this.submit(intent);
    } catch (err) {
      this.#waiters.get(intent.intent_id)?.cancel();
      decision.catch(() => {});
      throw err;
    }
    const decided = await decision;
    if (decided.intent_digest !== digestOf(intent)) throw new DecisionMismatch(intent.intent_id);
    return decided;
  }

  /** Throws Overloaded while a decider's OVERLOADED holds, or this client is at its in-flight bound. */
  #admit(intentId: string): void {
    const wait = this.#overloadedUntil - Date.now();
    if (wait > 0) throw new Overloaded(intentId, 'the decision worker is overloaded (it denied a recent intent OVERLOADED)', wait);
    if (this.#waiters.size >= this.#maxInFlight) {
      throw new Overloaded(intentId, `this client already has ${this.#waiters.size} intents awaiting decisions (its maxInFlight)`, DEFAULT_RETRY_AFTER_MS);
    }
  }

  close(): Promise<void> {
    this.#closed ??= this.#bus.close();
    return this.#closed;
  }
}
