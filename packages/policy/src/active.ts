import { PolicyEngine } from './engine.ts';
import { PolicyError } from './errors.ts';

/**
 * The bundle in force for a tenant, swapped atomically. Callers take `current` once per batch
 * and decide the whole batch with it, so an in-flight intent is never decided twice and every
 * decision names the exact bundle that made it.
 */
export class ActivePolicy {
  #current: PolicyEngine | null = null;
  #failure: PolicyError | null = null;
  readonly #bundles = new Map<string, { bytes: Uint8Array; version: string }>();
  readonly #listeners = new Set<(engine: PolicyEngine) => void>();

  /**
   * The engine in force; a PolicyError when the last activation could not be loaded (fail
   * closed: the operator replaced the old policy, so it is not kept); null before any activation.
   */
  get current(): PolicyEngine | PolicyError | null {
    return this.#current ?? this.#failure;
  }

  /** Remembers a published bundle (by digest) so a later activation can load it; the first bytes offered for a digest stay. */
  offer(digest: string, version: string, bytes: Uint8Array): void {
    if (!this.#bundles.has(digest)) this.#bundles.set(digest, { bytes, version });
  }

  has(digest: string): boolean {
    return this.#bundles.has(digest);
  }

  /**
   * Loads and swaps in a published bundle. When it cannot be loaded, nothing is in force any
   * more and every decision denies until a good bundle is activated; the error is rethrown.
   */
  async activate(digest: string, version?: string): Promise<PolicyEngine> {
    let engine: PolicyEngine;
    try {
      const bundle = this.#bundles.get(digest);
      if (!bundle) throw new PolicyError('NO_ACTIVE_BUNDLE', `bundle ${digest} was never published`);
      // The activation names the version it activates; the same bytes may have been published under another label.
      engine = await PolicyEngine.load(bundle.bytes, { version: version ?? bundle.version });
      if (engine.ref.bundle_digest !== digest) {
        throw new PolicyError('BUNDLE_CORRUPT', `bundle bytes hash to ${engine.ref.bundle_digest}, not ${digest}`);
      }
    } catch (err) {
      this.#current = null;
      this.#failure = err instanceof PolicyError ? err : new PolicyError('BUNDLE_CORRUPT', (err as Error).message, err);
      throw this.#failure;
    }
    this.#failure = null;
    this.#current = engine;
    for (const listener of this.#listeners) listener(engine);
    return engine;
  }

  onActivate(listener: (engine: PolicyEngine) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
