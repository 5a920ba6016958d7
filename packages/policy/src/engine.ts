import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { z } from 'zod';
import { JsonObject, PolicyRef, Reason, Verdict } from '@intentgate/contracts';
import { sha256Hex } from '@intentgate/evidence';
import { DEFAULT_ENTRYPOINT, readBundle } from './bundle.ts';
import { PolicyError } from './errors.ts';

/** What the policy must return; anything else counts as undefined and denies. */
export const PolicyResult = z.strictObject({
  verdict: Verdict,
  reasons: z.array(Reason).min(1).max(64),
  obligations: JsonObject,
});
export type PolicyResult = z.infer<typeof PolicyResult>;
export type PolicyRef = z.infer<typeof PolicyRef>;

export interface EngineOptions {
  version: string;
  entrypoint?: string;
  /** Bundles start small; the policy grows memory as it needs. */
  memoryPages?: number;
}

/** One loaded bundle. Built once; evaluate() is synchronous and reuses the Wasm instance. */
export class PolicyEngine {
  readonly ref: PolicyRef;
  readonly #policy: LoadedPolicy;

  private constructor(policy: LoadedPolicy, ref: PolicyRef) {
    this.#policy = policy;
    this.ref = ref;
  }

  static async load(bytes: Uint8Array, options: EngineOptions): Promise<PolicyEngine> {
    const { wasm, data } = readBundle(bytes);
    const entrypoint = options.entrypoint ?? DEFAULT_ENTRYPOINT;
    let policy: LoadedPolicy;
    try {
      policy = await loadPolicy(wasm, { initial: options.memoryPages ?? 5, maximum: 1024 });
      policy.setData(data);
    } catch (err) {
      throw new PolicyError('BUNDLE_CORRUPT', `policy.wasm does not load: ${(err as Error).message}`, err);
    }
    if (!(entrypoint in (policy.entrypoints as Record<string, number>))) {
      throw new PolicyError('BUNDLE_CORRUPT', `bundle has no entrypoint ${entrypoint} (has ${Object.keys(policy.entrypoints as object).join(', ')})`);
    }
    return new PolicyEngine(policy, { bundle_digest: sha256Hex(bytes), version: options.version, entrypoint });
  }

  /**
   * Evaluates one input. Throws PolicyError: POLICY_ERROR (the policy raised), POLICY_UNDEFINED
   * (no result), POLICY_RESULT_INVALID (a result that is not exactly {verdict, reasons, obligations}).
   */
  evaluate(input: unknown): PolicyResult {
    let results: unknown;
    try {
      results = this.#policy.evaluate(input, this.ref.entrypoint);
    } catch (err) {
      // opa-wasm throws Errors for aborts but plain values for some runtime errors.
      const what = err instanceof Error ? err.message : JSON.stringify(err) ?? String(err);
      throw new PolicyError('POLICY_ERROR', `policy raised an error: ${what}`, err);
    }
    if (!Array.isArray(results) || results.length === 0 || (results[0] as { result?: unknown }).result === undefined) {
      throw new PolicyError('POLICY_UNDEFINED', `${this.ref.entrypoint} is undefined for this input`);
    }
    if (results.length > 1) throw new PolicyError('POLICY_RESULT_INVALID', `${this.ref.entrypoint} returned ${results.length} results`);
    const parsed = PolicyResult.safeParse((results[0] as { result: unknown }).result);
    if (!parsed.success) {
      throw new PolicyError('POLICY_RESULT_INVALID', `result is not a decision: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    return parsed.data;
  }
}
