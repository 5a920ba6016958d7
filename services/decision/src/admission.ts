// Admission: an intent the system cannot act on in time is denied at once (OVERLOADED, with when
// to retry) instead of waiting in a queue until its answer, or its warrant, is worthless. Two
// bounds: how long an intent waited for this worker, and how many approved intents the
// executors of its domain have yet to run.
import type { Bus, IncomingRecord, Logger } from '@intentgate/bus';
import { approvedTopic, DOMAINS, type Domain, type Intent } from '@intentgate/contracts';
import type { Overload } from './decide.ts';

export interface AdmissionOptions {
  /**
   * An intent that waited longer than this for the worker (from its append to `intents` to the
   * batch that takes it) is denied OVERLOADED without being evaluated. 0: no bound.
   */
  decisionLagBoundMs?: number;
  /**
   * When the executors of a domain have more approved intents than this yet to run, new intents
   * of that domain are denied OVERLOADED: their warrants would expire in the queue. 0: no bound.
   */
  executorBacklogBound?: number;
  /** The executors' consumer group per domain (default `intentgate-executor-<domain>`). */
  executorGroups?: Partial<Record<Domain, string>>;
  /** How often the executors' backlog is read. */
  executorPollMs?: number;
  /** What a denial asks the caller to wait before it tries again. */
  retryAfterMs?: number;
}

export const ADMISSION_DEFAULTS = {
  decisionLagBoundMs: 10_000,
  executorBacklogBound: 1_000,
  executorPollMs: 1_000,
  retryAfterMs: 5_000,
} as const;

export interface AdmissionConfig {
  decisionLagBoundMs: number;
  executorBacklogBound: number;
  executorGroups: Record<Domain, string>;
  executorPollMs: number;
  retryAfterMs: number;
}

/** Options → defaults → a checked config; a bound that is not a whole number ≥ 0 is refused at start. */
export function compileAdmission(options: AdmissionOptions = {}): AdmissionConfig {
  const config = {
    ...ADMISSION_DEFAULTS, ...options,
    executorGroups: Object.fromEntries(DOMAINS.map((d) => [d, options.executorGroups?.[d] ?? `intentgate-executor-${d}`])) as Record<Domain, string>,
  };
  for (const key of ['decisionLagBoundMs', 'executorBacklogBound', 'executorPollMs', 'retryAfterMs'] as const) {
    const value = config[key];
    if (!Number.isSafeInteger(value) || value < 0 || (key === 'executorPollMs' && value < 50)) {
      throw Object.assign(new Error(`admission.${key} must be a whole number${key === 'executorPollMs' ? ' of at least 50' : ' of 0 or more'}, not ${String(value)}`), { code: 'CONFIG_INVALID' });
    }
  }
  return config;
}

/** Reads the executors' backlog in the background and judges each intent against the bounds. */
export class Admission {
  readonly config: AdmissionConfig;
  readonly #bus: Bus;
  readonly #logger: Logger;
  /** Approved intents each domain's executors have yet to run; null while unknown (no executor has committed, or the read failed). */
  readonly backlog = new Map<Domain, number | null>(DOMAINS.map((d) => [d, null]));
  #timer: NodeJS.Timeout | null = null;
  #polling: Promise<void> | null = null;
  readonly #failing = new Set<Domain>();

  constructor(bus: Bus, config: AdmissionConfig, logger: Logger) {
    this.#bus = bus;
    this.config = config;
    this.#logger = logger;
  }

  start(): void {
    if (this.config.executorBacklogBound === 0 || this.#timer) return;
    this.#timer = setInterval(() => {
      this.#polling ??= this.#poll().finally(() => (this.#polling = null));
    }, this.config.executorPollMs);
    this.#timer.unref();
  }

  async #poll(): Promise<void> {
    await Promise.all(DOMAINS.map(async (domain) => {
      try {
        const lag = await this.#bus.groupLag(this.config.executorGroups[domain], approvedTopic(domain));
        this.backlog.set(domain, lag === null ? null : Number(lag));
        this.#failing.delete(domain);
      } catch (err) {
        // Unknown is not overloaded: the executors still refuse a warrant that expired in their queue.
        this.backlog.set(domain, null);
        if (!this.#failing.has(domain)) this.#logger.warn({ domain, err: (err as Error).message }, 'cannot read the executors\' backlog; admitting without that bound');
        this.#failing.add(domain);
      }
    }));
  }

  /** Why this intent is not admitted now, or null. `nowMs` is when its batch was taken. */
  check(intent: Intent, record: IncomingRecord<'Intent'>, nowMs: number): Overload | null {
    const retryAfterMs = this.config.retryAfterMs;
    const waitedMs = nowMs - Number(record.timestamp);
    const lagBound = this.config.decisionLagBoundMs;
    if (lagBound > 0 && Number.isFinite(waitedMs) && waitedMs > lagBound) {
      return { message: `the decision worker took this intent ${waitedMs} ms after it was submitted, over its ${lagBound} ms bound: not evaluated; submit it again as a new intent after ${retryAfterMs} ms`, retryAfterMs };
    }
    const backlog = this.backlog.get(intent.action.domain) ?? null;
    const backlogBound = this.config.executorBacklogBound;
    if (backlogBound > 0 && backlog !== null && backlog > backlogBound) {
      return { message: `the ${intent.action.domain} executors have ${backlog} approved intents yet to run, over their bound of ${backlogBound}: not evaluated; submit it again as a new intent after ${retryAfterMs} ms`, retryAfterMs };
    }
    return null;
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#polling;
  }
}
