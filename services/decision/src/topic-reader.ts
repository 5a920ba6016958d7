// Reading a topic through: follows it from its beginning (or a point in time) and says when
// everything published before a call has been read.
import type { Bus, BusConsumer, IncomingRecord, Logger } from '@intentgate/bus';

/**
 * Follows a topic from its beginning and reports when everything published before a call has
 * been read. A transactional write ends with a commit marker the consumer never sees, so a
 * partition is read through when its last record seen is at high - 2 (a topic written in
 * transactions) or high - 1 (plain writes). A tail the consumer is never given (an aborted
 * transaction, whose records read_committed skips) would wait forever: after `idleMs` with
 * nothing delivered, the reader counts the partition as read through and says so in the log.
 */
export class TopicReader<N extends 'AgentRegistration' | 'ResourceLabel' | 'Revocation' | 'Receipt'> {
  readonly #bus: Bus;
  readonly #topic: string;
  readonly #logger: Logger | undefined;
  readonly #transactional: boolean | 'mixed';
  readonly #seen = new Map<number, bigint>();
  #lastDeliveryAt = Date.now();
  #consumer: BusConsumer<N> | null = null;

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
   * after `sinceMs` when given (a window of a long topic).
   */
  async start(
    groupId: string, refuse: ((r: IncomingRecord<N>) => Promise<{ code: string; message: string } | null>) | null, apply: (value: IncomingRecord<N>['value']) => Promise<void>,
    sinceMs?: number,
  ): Promise<void> {
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

  /** Whether the consumer still reads (a member KafkaJS will not restart reads nothing more). */
  get healthy(): boolean {
    return this.#consumer !== null && !this.#consumer.stoppedForGood;
  }

  async caughtUp(timeoutMs: number, idleMs = 3_000): Promise<boolean> {
    const ends = await this.#bus.endOffsets(this.#topic);
    const asked = Date.now();
    const deadline = asked + timeoutMs;
    const gap = this.#transactional === true ? 2n : 1n;
    const behind = () => [...ends].filter(([p, high]) => high > 0n && (this.#seen.get(p) ?? -1n) < high - gap);
    for (;;) {
      if (!this.healthy) return false;
      const late = behind();
      if (late.length === 0) return true;
      if (Date.now() - Math.max(this.#lastDeliveryAt, asked) >= idleMs) {
        if (this.#transactional === 'mixed') return true; // the tail is a commit marker
        this.#logger?.warn({ topic: this.#topic, partitions: late.map(([p, high]) => ({ partition: p, seen: String(this.#seen.get(p) ?? -1n), end: String(high) })) },
          'nothing more is delivered before the end offset (an aborted transaction at the tail): counting the topic as read through');
        return true;
      }
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  stop(): Promise<void> {
    return this.#consumer?.stop() ?? Promise.resolve();
  }
}
