// The executor's promise to the agent: an allowed intent is executed, or reported as not executed
// before its warrant expires. The executor's own consumer may be far behind (an overload, a long
// action ahead of it); this watch reads the same approved intents at once, in a group of its own
// that does no work, and for each intent still unstarted shortly before its warrant expires it
// gives the warrant up: claims it in the claim store as forfeit (the executor's claim then fails,
// so the intent can no longer run) and reports it refused, NOT_EXECUTED_IN_TIME. Whichever claims
// the warrant first wins, so an intent is either run or forfeit, never both.
import { randomUUID } from 'node:crypto';
import type { Bus, BusConsumer, IncomingRecord, Logger } from '@intentgate/bus';
import { approvedTopic, type ApprovedIntent, type Domain, type WarrantClaims } from '@intentgate/contracts';
import type { WarrantGuard } from './guard.ts';
import type { Outcome } from './run-record.ts';

/** The longest warrant any IntentGate issuer signs (WARRANT_TTL_SECONDS is at most 300). */
export const MAX_WARRANT_TTL_SECONDS = 300;

export interface DeadlineWatchSettings {
  bus: Bus;
  guard: WarrantGuard;
  domain: Domain;
  /** The executor's consumer group; the watch's own group is named after it, one per process. */
  groupId: string;
  /** How long before its warrant expires an unstarted intent is given up. */
  marginMs: number;
  accept: (approved: ApprovedIntent) => boolean;
  /** The record's run key (what a redelivery of it to the executor finds). */
  runKeyOf: (record: IncomingRecord<'ApprovedIntent'>) => string;
  /** Reports an outcome as the executor reports its own. */
  report: (record: IncomingRecord<'ApprovedIntent'>, outcome: Outcome) => Promise<void>;
  outcome: (reason: { code: string; message: string }) => Outcome;
  logger?: Logger;
}

export class DeadlineWatch {
  readonly #s: DeadlineWatchSettings;
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #consumer: BusConsumer<'ApprovedIntent'> | null = null;
  #stopped = false;
  /** Intents given up and reported (for metrics and tests). */
  forfeited = 0;

  constructor(settings: DeadlineWatchSettings) {
    this.#s = settings;
  }

  /**
   * Starts reading where no live warrant can be older (a restarted process finds the intents
   * still waiting): a group of this process's own, positioned by time, so a dead process's
   * watch holds nothing up and counts in no executor's backlog.
   */
  async start(): Promise<void> {
    const topic = approvedTopic(this.#s.domain);
    const groupId = `${this.#s.groupId}-deadlines-${randomUUID().slice(0, 8)}`;
    await this.#s.bus.startGroupAt(groupId, topic, Date.now() - MAX_WARRANT_TTL_SECONDS * 1000 - this.#s.marginMs);
    this.#consumer = this.#s.bus.consumer<'ApprovedIntent'>({ groupId, topics: [topic], fromBeginning: true, handle: (records) => this.#note(records) });
    await this.#consumer.start();
  }

  async #note(records: Array<IncomingRecord<'ApprovedIntent'>>): Promise<void> {
    for (const record of records) {
      if (this.#stopped || !this.#s.accept(record.value)) continue;
      let claims: WarrantClaims;
      try {
        // Only a warrant that verifies is given up: a forged record cannot forfeit a real intent's warrant.
        claims = await this.#s.guard.verify(record.value.intent, record.value.decision, record.value.warrant);
      } catch {
        continue; // the executor refuses it itself, with the reason
      }
      const expiresAt = claims.exp * 1000;
      const runKey = this.#s.runKeyOf(record);
      if (Date.now() >= expiresAt || this.#timers.has(runKey)) continue;
      const timer = setTimeout(() => {
        this.#timers.delete(runKey);
        void this.#forfeit(record, claims, runKey).catch((err: unknown) => {
          this.#s.logger?.warn({ intent: record.value.intent.intent_id, err: (err as Error).message }, 'could not give up an unstarted intent before its warrant expired; the executor reports it when it reaches it');
        });
      }, Math.max(0, expiresAt - this.#s.marginMs - Date.now()));
      timer.unref();
      this.#timers.set(runKey, timer);
    }
  }

  async #forfeit(record: IncomingRecord<'ApprovedIntent'>, claims: WarrantClaims, runKey: string): Promise<void> {
    if (this.#stopped) return;
    const outcome = this.#s.outcome({
      code: 'NOT_EXECUTED_IN_TIME',
      message: `the executor had not started this intent ${Math.round(this.#s.marginMs / 1000)} s before its warrant expired (it is behind); nothing was run, and this warrant can no longer be used. Submit the action again as a new intent.`,
    });
    if (!(await this.#s.guard.forfeit(claims, runKey, outcome))) return; // started (or given up) already
    this.forfeited++;
    this.#s.logger?.info({ intent: record.value.intent.intent_id, warrant_expires_at: new Date(claims.exp * 1000).toISOString() }, 'unstarted intent given up before its warrant expired');
    await this.#s.report(record, outcome);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    await this.#consumer?.stop();
  }
}
