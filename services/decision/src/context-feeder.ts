// The context feeder: fills the context store from the topics that are its record (the agent
// registry, the revocations, and, after the store lost its data, the decisions recorded in the
// receipts) and keeps the store's sync mark fresh, so no decision reads a store it cannot vouch for.
import { randomUUID } from 'node:crypto';
import type { Bus, Logger } from '@intentgate/bus';
import type { Decision, Intent, Receipt } from '@intentgate/contracts';
import type { ContextStore } from '@intentgate/context';
import { canonicalJson, sha256Hex, verifyCertifiedRecord, type TrustedKey, type TrustRoots } from '@intentgate/evidence';
import { exportedRowsOf } from './decide.ts';
import { labelRefusal } from './labels.ts';
import { RegistryUnavailable } from './operator-catalog.ts';
import { registrationRefusal } from './registry.ts';
import { TopicReader } from './topic-reader.ts';

/** What a replayed receipt gives the store: the decision it records and, for a policy decision, its intent. */
type Recorded = { decision: Decision; intent: Omit<Intent, 'credentials'> | null };

/**
 * The decision a receipt records, when a decider signed it (the signature, with the certificate in
 * it, checked against the roots) and, for the decision worker's receipts, the intent the
 * decision's input digest commits to. Null for any other receipt: nothing it says is restored.
 */
export function recordedDecision(trust: TrustRoots, receipt: Receipt, verified?: Map<string, TrustedKey>): Recorded | null {
  if (receipt.kind !== 'decision' && receipt.kind !== 'approval') return null;
  const body = receipt.body as { decision?: unknown; input?: unknown };
  const decision = body.decision as Decision | undefined;
  if (typeof decision !== 'object' || decision === null || decision.intent_id !== receipt.intent_id) return null;
  try {
    verifyCertifiedRecord(trust, 'Decision', decision as unknown as Record<string, unknown>, (k) => k.uses.includes('warrant'), undefined, verified);
  } catch {
    return null;
  }
  const input = body.input as { intent?: Omit<Intent, 'credentials'> } | null | undefined;
  if (receipt.kind === 'approval' || input === null || input === undefined) return { decision, intent: null };
  // The receipt itself is not what is trusted: the signed decision's input digest is.
  if (decision.input_digest === null || sha256Hex(canonicalJson(input)) !== decision.input_digest) return { decision, intent: null };
  const intent = input.intent;
  return intent && intent.intent_id === decision.intent_id ? { decision, intent } : { decision, intent: null };
}

export interface ContextFeederOptions {
  bus: Bus;
  /** The context feeder's own store connection (it alone writes the registry and the sync mark). */
  store: ContextStore;
  trust: TrustRoots;
  logger: Logger;
  /** The decision workers' freshness bound: the sync mark is renewed four times within it. */
  freshnessMs: number;
  /** How long start waits to read its topics to their ends before it fails (default 30 s; a store replayed after a loss gets ten times as long). */
  catchUpTimeoutMs?: number;
  groupPrefix?: string;
}

/**
 * Applies agents.registry, resources.labels and identity.revocations to the context store and keeps
 * the context's sync mark fresh. The mark is set only once all were read through: until then every
 * decision denies CONTEXT_UNAVAILABLE rather than read a registry missing its latest suspension or
 * a table without its label. Entries not signed by a configured operator go to bus.dlq and change nothing.
 *
 * A store that holds no feeder's mark (it is new, or it lost its data) also gets back, before the
 * mark, what the decision workers wrote to it: from the receipts of the retention window, every
 * decision a decider signed (remembered, so a resubmitted intent gets its decision again rather
 * than a second one) and each session's and agent's history (so no budget reads as unused).
 */
export class ContextFeeder {
  readonly #options: ContextFeederOptions;
  #registry: TopicReader<'AgentRegistration'>;
  #revocations: TopicReader<'Revocation'>;
  #labels: TopicReader<'ResourceLabel'>;
  #receipts: TopicReader<'Receipt'> | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #stopping: Promise<void> | null = null;
  #beating: Promise<void> | null = null;
  /**
   * Entries applied, found stale and refused; revocations applied; replays after a lost store;
   * decisions restored from receipts, and receipts passed over as not a decider's (for metrics and tests).
   */
  readonly counts = { applied: 0, stale: 0, refused: 0, labels: 0, revocations: 0, replays: 0, restored: 0, unverified: 0 };
  /** The deciders' certificates verified so far in a restore (a few signers, many receipts). */
  readonly #certificates = new Map<string, TrustedKey>();
  /** How long the last read-through took (ms), and whether it restored from receipts. */
  lastReadThrough: { ms: number; restored: boolean } | null = null;

  private constructor(options: ContextFeederOptions) {
    this.#options = options;
    this.#registry = new TopicReader(options.bus, 'agents.registry', true, options.logger);
    this.#labels = new TopicReader(options.bus, 'resources.labels', true, options.logger);
    this.#revocations = new TopicReader(options.bus, 'identity.revocations', false, options.logger);
  }

  static async start(options: ContextFeederOptions): Promise<ContextFeeder> {
    const feeder = new ContextFeeder(options);
    await options.store.connect();
    try {
      await feeder.#readThrough((await options.store.registryApplied()) === null);
    } catch (err) {
      await feeder.stop();
      throw err;
    }
    feeder.#heartbeat = setInterval(() => {
      feeder.#beating ??= feeder.#beat().finally(() => (feeder.#beating = null));
    }, Math.max(50, Math.floor(options.freshnessMs / 4)));
    return feeder;
  }

  /**
   * Reads agents.registry, resources.labels and identity.revocations from their beginnings into the store, and, for
   * a store that lost its data, the receipts of the retention window; only then marks the context
   * synced. (Revocations are applied by every decision worker too, but only from the worker's
   * start: after a lost store, this is what brings them back.)
   */
  async #readThrough(restore: boolean): Promise<void> {
    const started = Date.now();
    const { logger, store, trust } = this.#options;
    // Set before anything is read in: a store that loses its data during the read-through loses
    // this too, and is not marked synced at the end (the next beat reads everything again).
    const feed = randomUUID();
    await store.beginFeed(feed);
    const prefix = this.#options.groupPrefix ?? 'intentgate-context-feeder-';
    // The readers join their groups at once (each join is a group rebalance): in parallel.
    const starting: Array<Promise<void>> = [];
    starting.push(this.#registry.start(`${prefix}${randomUUID()}`, async (r) => {
      const reason = registrationRefusal(trust, r.value);
      if (reason) {
        this.counts.refused += 1;
        logger.warn({ code: reason.code, offset: r.offset, key: r.key }, `agent registry entry refused: ${reason.message}`);
      }
      return reason;
    }, async (entry) => {
      if (await store.applyRegistration(entry)) {
        this.counts.applied += 1;
        logger.info({ agent: entry.agent, status: entry.status, revision: entry.revision, by: entry.changed_by }, 'agent registry entry applied');
      } else this.counts.stale += 1;
    }));
    starting.push(this.#labels.start(`${prefix}labels-${randomUUID()}`, async (r) => {
      const reason = labelRefusal(trust, r.value);
      if (reason) {
        this.counts.refused += 1;
        logger.warn({ code: reason.code, offset: r.offset, key: r.key }, `resource label refused: ${reason.message}`);
      }
      return reason;
    }, async (label) => {
      if (await store.applyLabel(label)) {
        this.counts.labels += 1;
        logger.info({ type: label.type, id: label.id, sensitivity: label.sensitivity, environment: label.environment ?? null, revision: label.revision, by: label.changed_by }, 'resource label applied');
      } else this.counts.stale += 1;
    }));
    // A revocation can only tighten: applied as it comes (who may write the topic is the ACLs' job).
    starting.push(this.#revocations.start(`${prefix}revocations-${randomUUID()}`, null, async (revocation) => {
      await store.revoke(revocation.link);
      this.counts.revocations += 1;
    }));
    const readers: Array<[string, TopicReader<'AgentRegistration' | 'ResourceLabel' | 'Revocation' | 'Receipt'>]> = [
      ['agents.registry', this.#registry], ['resources.labels', this.#labels], ['identity.revocations', this.#revocations],
    ];
    if (restore) {
      // Receipts are evidence of many writers: one that is not a decider's decision is passed over
      // here (the ledger judges receipts), never dead-lettered or applied.
      this.#receipts = new TopicReader(this.#options.bus, 'receipts', 'mixed', logger);
      starting.push(this.#receipts.start(`${prefix}receipts-${randomUUID()}`, null, async (receipt) => this.#restore([receipt]), Date.now() - store.retentionSeconds * 1000,
        (receipts) => this.#restore(receipts)));
      readers.push(['receipts', this.#receipts]);
    }
    await Promise.all(starting);
    const timeout = (this.#options.catchUpTimeoutMs ?? 30_000) * (restore ? 10 : 1);
    const done = await Promise.all(readers.map(([, reader]) => reader.caughtUp(timeout)));
    const late = readers.filter((_, i) => !done[i]).map(([topic]) => topic);
    await this.#receipts?.stop(); // read once: the workers write what is decided from now on
    this.#receipts = null;
    if (late.length > 0) {
      throw new RegistryUnavailable(`the context feeder could not read ${late.join(' and ')} to the end`,
        'Check the brokers answer and the context-feeder principal may read agents.registry, resources.labels, identity.revocations and receipts.');
    }
    if (!(await store.feedDone(feed))) {
      throw new RegistryUnavailable('the context store lost its data while the context feeder read its topics into it', 'Nothing to do: the feeder reads them again at its next beat.');
    }
    this.lastReadThrough = { ms: Date.now() - started, restored: restore };
    logger.info({ ms: this.lastReadThrough.ms, restored: restore, decisions: this.counts.restored }, restore ? 'context store restored and synced' : 'context store synced');
  }

  /**
   * Restores a batch of receipts' decisions and, for policy decisions, their sessions' and agents'
   * history: in order, in one script each (a Redis round trip, and an fsync, per batch, not per receipt).
   */
  async #restore(receipts: readonly Receipt[]): Promise<void> {
    const decisions: Decision[] = [];
    const outcomes: Array<Parameters<ContextStore['recordOutcomes']>[0][number]> = [];
    for (const receipt of receipts) {
      const recorded = recordedDecision(this.#options.trust, receipt, this.#certificates);
      if (recorded === null) {
        if (receipt.kind === 'decision' || receipt.kind === 'approval') this.counts.unverified += 1;
        continue;
      }
      const { decision, intent } = recorded;
      decisions.push(decision);
      if (intent !== null && decision.verdict !== 'escalate') outcomes.push({ intent, verdict: decision.verdict, exportedRows: exportedRowsOf(intent, decision.verdict) });
    }
    const { store } = this.#options;
    if (decisions.length > 0) this.counts.restored += await store.restoreDecisions(decisions);
    if (outcomes.length > 0) await store.recordOutcomes(outcomes);
  }

  /**
   * Renews the sync mark while the store still holds what was fed and the readers still read. A
   * store that lost its data (Redis restarted empty) or a reader that stopped for good is not
   * vouched for: the topics are read again from their beginnings first, and until then every
   * decision denies CONTEXT_UNAVAILABLE (the mark ages out, or is gone with the data).
   */
  async #beat(): Promise<void> {
    if (this.#stopping) return;
    const { logger, store } = this.#options;
    let held: string | null;
    try {
      held = await store.registryApplied();
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'context sync mark failed');
      return;
    }
    if (this.#stopping) return;
    const readers = [this.#registry, this.#labels, this.#revocations];
    const readersLive = readers.every((r) => r.healthy);
    // A reader retrying a batch it cannot apply (the schema registry down, say) is behind what it
    // vouches for: the mark is not renewed, and ages out (decisions deny) until the batch goes through.
    if (held !== null && readersLive && readers.some((r) => r.failing)) {
      logger.warn('a context feeder reader is retrying a batch it could not apply: the sync mark is not renewed until it goes through');
      return;
    }
    if (held !== null && readersLive) {
      // Renewed only if the store still holds the registry at the moment of the write (it may have lost it since the read).
      const renewed = await store.renewSynced().catch((err: unknown) => {
        logger.error({ err: (err as Error).message }, 'context sync mark failed');
        return true; // not known lost: the next beat looks again
      });
      if (renewed) return;
      held = null;
    }
    logger.warn({ storeLost: held === null, readersLive }, held === null
      ? 'the context store no longer holds the agent registry (Redis lost its data): replaying agents.registry, resources.labels, identity.revocations and the receipts of the retention window before marking it synced'
      : 'a context feeder reader stopped for good: reading its topics again before marking the context synced');
    this.counts.replays += 1;
    try {
      await Promise.all([this.#registry.stop(), this.#labels.stop(), this.#revocations.stop()]);
      if (this.#stopping) return;
      this.#registry = new TopicReader(this.#options.bus, 'agents.registry', true, logger);
      this.#labels = new TopicReader(this.#options.bus, 'resources.labels', true, logger);
      this.#revocations = new TopicReader(this.#options.bus, 'identity.revocations', false, logger);
      await this.#readThrough(held === null);
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'context replay failed; trying again at the next beat');
    }
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#heartbeat) clearInterval(this.#heartbeat);
      await this.#beating;
      await Promise.all([this.#registry.stop(), this.#labels.stop(), this.#revocations.stop(), this.#receipts?.stop()]);
    })();
    return this.#stopping;
  }
}
