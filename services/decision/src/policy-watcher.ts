import { randomUUID } from 'node:crypto';
import type { Bus, BusConsumer, Logger } from '@intentgate/bus';
import type { MessageName, PolicyActivation, PolicyBundle } from '@intentgate/contracts';
import type { ActivePolicy } from '@intentgate/policy';

/**
 * Follows policy.bundles and policy.activations (from the beginning, in a group of its own, so
 * every worker instance sees every activation) and swaps the active bundle for its tenant.
 */
export class PolicyWatcher {
  readonly #bus: Bus;
  readonly #active: ActivePolicy;
  readonly #tenant: string;
  readonly #logger: Logger;
  #consumer: BusConsumer<MessageName> | null = null;
  #pending: { digest: string; version: string } | null = null;
  #lastActivationOffset = -1n;

  constructor(bus: Bus, active: ActivePolicy, tenant: string, logger: Logger) {
    this.#bus = bus;
    this.#active = active;
    this.#tenant = tenant;
    this.#logger = logger;
  }

  async start(): Promise<void> {
    this.#consumer = this.#bus.consumer<MessageName>({
      groupId: `intentgate-policy-watch-${randomUUID()}`,
      topics: ['policy.bundles', 'policy.activations'],
      fromBeginning: true,
      handle: async (records) => {
        for (const r of records) {
          if (r.topic === 'policy.bundles') await this.#onBundle(r.value as PolicyBundle);
          else {
            await this.#onActivation(r.value as PolicyActivation);
            this.#lastActivationOffset = BigInt(r.offset);
          }
        }
      },
    });
    await this.#consumer.start();
  }

  async #onBundle(bundle: PolicyBundle): Promise<void> {
    this.#active.offer(bundle.digest, bundle.version, Buffer.from(bundle.bundle, 'base64'));
    if (this.#pending?.digest === bundle.digest) await this.#activate(bundle.digest, this.#pending.version);
  }

  async #onActivation(activation: PolicyActivation): Promise<void> {
    if (activation.tenant !== this.#tenant) return;
    if (this.#active.has(activation.bundle_digest)) await this.#activate(activation.bundle_digest, activation.version);
    else this.#pending = { digest: activation.bundle_digest, version: activation.version }; // the bundle record has not arrived yet
  }

  async #activate(digest: string, version: string): Promise<void> {
    this.#pending = null;
    try {
      const engine = await this.#active.activate(digest, version);
      this.#logger.info({ digest, version: engine.ref.version }, 'policy bundle activated');
    } catch (err) {
      this.#logger.error({ digest, err: (err as Error).message }, 'activated bundle cannot be loaded: denying everything until a good bundle is activated');
    }
  }

  /**
   * Resolves once the activations that existed when this was called have been applied, so the
   * worker does not start deciding under an older bundle (or none) than the one in force.
   */
  async caughtUp(timeoutMs: number): Promise<void> {
    const admin = this.#bus.kafka.admin();
    await admin.connect();
    let high: bigint;
    try {
      const offsets = await admin.fetchTopicOffsets('policy.activations');
      high = offsets.reduce((max, o) => (BigInt(o.high) > max ? BigInt(o.high) : max), 0n);
    } finally {
      await admin.disconnect();
    }
    if (high === 0n) return;
    // The last data record sits at high-1, or at high-2 when a transaction marker follows it.
    const deadline = Date.now() + timeoutMs;
    while (!(this.#lastActivationOffset >= high - 2n && this.#pending === null)) {
      if (Date.now() > deadline) {
        this.#logger.warn({ high: String(high), seen: String(this.#lastActivationOffset) }, 'policy activations not caught up; deciding anyway (intents deny until a bundle is active)');
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  stop(): Promise<void> {
    return this.#consumer?.stop() ?? Promise.resolve();
  }
}
