// Reading a topic through: follows it from its beginning (or a point in time) and says when
// everything published before a call has been read.
import type { Bus, BusConsumer, IncomingRecord, Logger } from '@intentgate/bus';

/**
 * Follows a topic from its beginning (read committed) and reports when everything published
 * before a call has been read (see caughtUp).
 */
export class TopicReader<N extends 'AgentRegistration' | 'ResourceLabel' | 'Revocation' | 'Receipt'> {
  readonly #bus: Bus;
  readonly #topic: string;
  readonly #logger: Logger | undefined;
  readonly #transactional: boolean | 'mixed';
  readonly #seen = new Map<number, bigint>();
  #lastDeliveryAt = Date.now();
  #consumer: BusConsumer<N> | null = null;
  #groupId = '';

  /**
   * `transactional`: the topic's writers use transactions (its last record sits before a commit
   * marker); 'mixed': some do, some do not (a tail of one marker is normal, and waited out).
   */
  constructor(bus: Bus, topic: string, transactional: boolean | 'mixed', logger?: Logger) {
    this.#bus = bus;
    this.#topic = topic;
    this.#transactional = transactional;
    this.#logger = logger;
  }

  /**
   * Starts reading with a new group: from the topic's beginning, or from the first record at or
   * after `sinceMs` when given (a window of a long topic). `apply` takes each record in order;
   * `applyBatch`, when given instead, each fetched batch's records at once (in order).
   */
  async start(
    groupId: string, refuse: ((r: IncomingRecord<N>) => Promise<{ code: string; message: string } | null>) | null, apply: (value: IncomingRecord<N>['value']) => Promise<void>,
    sinceMs?: number, applyBatch?: (values: Array<IncomingRecord<N>['value']>) => Promise<void>,
  ): Promise<void> {
    this.#groupId = groupId;
    if (sinceMs !== undefined) await this.#bus.startGroupAt(groupId, this.#topic, sinceMs);
    this.#consumer = this.#bus.consumer<N>({
      groupId, topics: [this.#topic], fromBeginning: true,
      ...(refuse ? {
        refuse: async (r: IncomingRecord<N>) => {
          const reason = await refuse(r);
          if (reason !== null) this.#mark(r.partition, r.offset);
          return reason;
        },
      } : {}),
      // A record that is not even a record of the topic's type is dead-lettered: read, too.
      onDeadLetter: async (letter) => this.#mark(letter.original.partition, letter.original.offset),
      handle: async (records) => {
        if (applyBatch) {
          await applyBatch(records.map((r) => r.value));
          for (const r of records) this.#mark(r.partition, r.offset);
          return;
        }
        for (const r of records) {
          await apply(r.value);
          this.#mark(r.partition, r.offset);
        }
      },
    });
    await this.#consumer.start();
  }

  #mark(partition: number, offset: string): void {
    this.#lastDeliveryAt = Date.now();
    const o = BigInt(offset);
    if (o > (this.#seen.get(partition) ?? -1n)) this.#seen.set(partition, o);
  }

  /** Whether a fetched batch failed and has not gone through since (its records are not applied yet). */
  get failing(): boolean {
    return this.#consumer?.failing ?? false;
  }

  /** Whether the consumer still reads (a member KafkaJS will not restart reads nothing more). */
  get healthy(): boolean {
    return this.#consumer !== null && !this.#consumer.stoppedForGood;
  }

  /**
   * Whether everything in the topic when this is called has been read, within `timeoutMs`. The
   * target is each partition's log end (Bus.highWatermarks), not its last stable offset: a
   * transaction left open (by a writer that crashed, or on purpose) hides every record after its
   * start from read-committed readers, and reading "to the stable end" would then miss records
   * committed after it. So this waits until the stable offset has passed the target (every
   * transaction open at the call has ended: committed, aborted, or timed out by the broker), and
   * then until the records below it have been delivered: the last one seen is at the target less
   * its commit marker, or nothing more has come for `idleMs` (the tail is aborted records or
   * markers, which read-committed consumers are never given). False at the deadline: the caller
   * must not vouch for what it read.
   */
  async caughtUp(timeoutMs: number, idleMs = 2_000): Promise<boolean> {
    const asked = Date.now();
    const deadline = asked + timeoutMs;
    if (!this.healthy) return false;
    const targets = await this.#bus.highWatermarks(this.#topic, `${this.#groupId}-probe-${asked}`);
    const gap = this.#transactional === true ? 2n : 1n;
    let stableAt: number | null = null;
    let blocked: Array<[number, bigint]> = [];
    for (;;) {
      if (!this.healthy) return false;
      if (stableAt === null) {
        const stable = await this.#bus.endOffsets(this.#topic);
        blocked = [...targets].filter(([p, target]) => (stable.get(p) ?? 0n) < target);
        if (blocked.length === 0) stableAt = Date.now();
      }
      if (stableAt !== null) {
        const late = [...targets].filter(([p, target]) => target > 0n && (this.#seen.get(p) ?? -1n) < target - gap);
        if (late.length === 0) return true;
        // Silence counts only while no batch is in hand or failing: a batch held (a registry that hangs) or retried (one that is down) delivers nothing either.
        if (!this.#consumer!.settling && Date.now() - Math.max(this.#lastDeliveryAt, stableAt) >= idleMs) return true;
      }
      if (Date.now() > deadline) {
        this.#logger?.warn({ topic: this.#topic, blocked: blocked.map(([p, target]) => ({ partition: p, end: String(target) })) }, stableAt === null
          ? 'a transaction open on the topic holds back its stable offset: not read through (read-committed readers see nothing after its start until it ends)'
          : 'records below the end offset were not delivered in time: not read through');
        return false;
      }
      await new Promise((r) => setTimeout(r, stableAt === null ? 250 : 50));
    }
  }

  stop(): Promise<void> {
    return this.#consumer?.stop() ?? Promise.resolve();
  }
}
