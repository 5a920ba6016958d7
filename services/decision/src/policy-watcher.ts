import { randomUUID } from 'node:crypto';
import type { Bus, BusConsumer, IncomingRecord, Logger } from '@intentgate/bus';
import type { MessageName, PolicyActivation, PolicyBundle } from '@intentgate/contracts';
import { sha256Hex, TrustError, verifyOperatorRecord, type TrustRoots } from '@intentgate/evidence';
import { BundleTrustError, verifyBundleSignature, type ActivePolicy, type BundleTrustCode } from '@intentgate/policy';

/** A bundle or activation refused before it could change what is enforced. */
export interface PolicyRefusal {
  code: BundleTrustCode;
  message: string;
  record: { topic: string; partition: number; offset: string };
  bundleDigest: string;
  tenant: string | null;
  version: string;
}

/**
 * Follows policy.bundles and policy.activations (from the beginning, in a group of its own, so
 * every worker instance sees every activation) and swaps the active bundle for its tenant.
 * Anyone who can write those topics could publish a bundle and activate it, so neither is taken
 * on its word: a bundle counts only when a configured policy publisher signed it (OPA's bundle
 * signature), an activation only when a configured operator signed it. A refused one is logged,
 * dead-lettered, handed to `onRefused` (which records a receipt), and the policy in force stays.
 */
export class PolicyWatcher {
  readonly #bus: Bus;
  readonly #active: ActivePolicy;
  readonly #tenant: string;
  readonly #logger: Logger;
  #consumer: BusConsumer<MessageName> | null = null;
  #pending: { digest: string; version: string } | null = null;
  #lastActivationOffset = -1n;
  readonly #trust: TrustRoots;
  /** When the activation in force for this tenant was signed: an older one published again is a rollback nobody asked for. */
  #inForceSince = Number.NEGATIVE_INFINITY;
  readonly #onRefused: (refusal: PolicyRefusal) => Promise<void>;

  constructor(bus: Bus, active: ActivePolicy, tenant: string, logger: Logger, trust: TrustRoots, onRefused: (refusal: PolicyRefusal) => Promise<void>) {
    this.#bus = bus;
    this.#active = active;
    this.#tenant = tenant;
    this.#logger = logger;
    this.#trust = trust;
    this.#onRefused = onRefused;
  }

  /** Why a bundle or activation record is not to be trusted; null when it is signed as it must be. */
  #check(r: IncomingRecord<MessageName>): PolicyRefusal | null {
    const record = { topic: r.topic, partition: r.partition, offset: r.offset };
    if (r.topic === 'policy.bundles') {
      const bundle = r.value as PolicyBundle;
      const bytes = Buffer.from(bundle.bundle, 'base64');
      // A signed bundle under another bundle's digest (or key) would stand in for it: the label must be the content's.
      if (sha256Hex(bytes) !== bundle.digest || (r.key !== null && r.key !== bundle.digest)) {
        return { code: 'BUNDLE_DIGEST_MISMATCH', message: `the bundle bytes hash to ${sha256Hex(bytes)}; the record names ${bundle.digest} (key ${r.key ?? 'none'})`, record, bundleDigest: bundle.digest, tenant: null, version: bundle.version };
      }
      try {
        verifyBundleSignature(bytes, this.#trust.policyPublishers);
        return null;
      } catch (err) {
        const code = err instanceof BundleTrustError ? err.code : 'BUNDLE_SIGNATURE_INVALID';
        return { code, message: (err as Error).message, record, bundleDigest: bundle.digest, tenant: null, version: bundle.version };
      }
    }
    const activation = r.value as PolicyActivation;
    const refusal = (code: BundleTrustCode, message: string): PolicyRefusal => ({ code, message, record, bundleDigest: activation.bundle_digest, tenant: activation.tenant, version: activation.version });
    try {
      verifyOperatorRecord(this.#trust, 'PolicyActivation', activation);
    } catch (err) {
      return refusal(err instanceof TrustError && err.code === 'RECORD_UNSIGNED' ? 'ACTIVATION_UNSIGNED' : 'ACTIVATION_SIGNATURE_INVALID', (err as Error).message);
    }
    // A signed activation is replayable by anyone who can write the topic; only a newer one may change the policy.
    if (activation.tenant === this.#tenant && Date.parse(activation.activated_at) < this.#inForceSince) {
      return refusal('ACTIVATION_STALE', `activated_at ${activation.activated_at} is older than the activation in force (${new Date(this.#inForceSince).toISOString()}): an old activation published again; activate anew to roll back`);
    }
    return null;
  }

  async start(): Promise<void> {
    this.#consumer = this.#bus.consumer<MessageName>({
      groupId: `intentgate-policy-watch-${randomUUID()}`,
      topics: ['policy.bundles', 'policy.activations'],
      fromBeginning: true,
      refuse: async (r) => {
        const refusal = this.#check(r);
        if (refusal === null) return null;
        if (r.topic === 'policy.activations') this.#lastActivationOffset = BigInt(r.offset);
        // Only this worker's tenant's activations (and every bundle) are its business to record.
        if (refusal.tenant === null || refusal.tenant === this.#tenant) {
          this.#logger.error({ code: refusal.code, ...refusal.record, digest: refusal.bundleDigest, version: refusal.version }, `policy ${r.topic === 'policy.bundles' ? 'bundle' : 'activation'} refused: ${refusal.message}; the policy in force stays`);
          await this.#onRefused(refusal);
        }
        return { code: refusal.code, message: refusal.message };
      },
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
    this.#inForceSince = Math.max(this.#inForceSince, Date.parse(activation.activated_at));
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
