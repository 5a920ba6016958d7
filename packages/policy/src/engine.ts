import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { z } from 'zod';
import { JsonObject, PolicyRef, Reason, Verdict, VERDICTS } from '@intentgate/contracts';
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

/** The parts of opa-wasm's LoadedPolicy the ABI 1.2 fast path uses (public fields, untyped upstream). */
interface PolicyInternals {
  minorVersion?: number;
  mem: { buffer: ArrayBuffer; grow(pages: number): number };
  dataAddr: number;
  dataHeapPtr: number;
  wasmInstance: { exports: { opa_eval?: (reserved: number, entrypoint: number, data: number, input: number, inputLen: number, heap: number, format: number) => number } };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One loaded bundle. Built once; evaluate() is synchronous and reuses the Wasm instance. */
export class PolicyEngine {
  readonly ref: PolicyRef;
  /** The bundle's data document (catalog, config): what the policy reads besides the input. */
  readonly data: Readonly<Record<string, unknown>>;
  readonly #policy: LoadedPolicy;
  readonly #entrypointId: number;
  readonly #fast: PolicyInternals | null;
  #heap: Buffer | null = null;

  private constructor(policy: LoadedPolicy, ref: PolicyRef, data: Record<string, unknown>) {
    this.#policy = policy;
    this.ref = ref;
    this.data = data;
    this.#entrypointId = (policy.entrypoints as Record<string, number>)[ref.entrypoint]!;
    const internals = policy as unknown as PolicyInternals;
    this.#fast = (internals.minorVersion ?? 0) >= 2 && typeof internals.wasmInstance?.exports?.opa_eval === 'function' ? internals : null;
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
    return new PolicyEngine(policy, { bundle_digest: sha256Hex(bytes), version: options.version, entrypoint }, data);
  }

  /**
   * Evaluates one input. Throws PolicyError: POLICY_ERROR (the policy raised), POLICY_UNDEFINED
   * (no result), POLICY_RESULT_INVALID (a result that is not exactly {verdict, reasons, obligations}).
   */
  evaluate(input: unknown): PolicyResult {
    const json = JSON.stringify(input);
    if (json === undefined) throw new PolicyError('POLICY_ERROR', 'the input has no JSON form');
    return this.evaluateJson(json);
  }

  /**
   * Evaluates an input given as JSON text (e.g. the canonical JSON the decision already
   * computed for its input digest), so the object is not serialized a second time. Same
   * errors as evaluate(). With a bundle on ABI 1.2 the text is written straight into the
   * instance's heap and `opa_eval` called once (what opa-wasm's evaluate does, without its
   * per-call encoder, decoder and byte-by-byte scans); older ABIs go through opa-wasm.
   */
  evaluateJson(json: string): PolicyResult {
    let results: unknown;
    try {
      results = this.#fast ? this.#evalFast(this.#fast, json) : this.#policy.evaluate(encoder.encode(json).buffer, this.#entrypointId);
    } catch (err) {
      // opa-wasm throws Errors for aborts but plain values for some runtime errors.
      const what = err instanceof Error ? err.message : JSON.stringify(err) ?? String(err);
      throw new PolicyError('POLICY_ERROR', `policy raised an error: ${what}`, err);
    }
    return checkResult(results, this.ref.entrypoint);
  }

  #evalFast(p: PolicyInternals, json: string): unknown {
    const at = p.dataHeapPtr;
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    const need = at + json.length * 3 - p.mem.buffer.byteLength;
    if (need > 0) p.mem.grow(Math.ceil(need / 65_536));
    const { read, written } = encoder.encodeInto(json, new Uint8Array(p.mem.buffer, at));
    if (read !== json.length) throw new Error('input did not fit the policy heap');
    const result = p.wasmInstance.exports.opa_eval!(0, this.#entrypointId, p.dataAddr, at, written, at + written, 0);
    // A Buffer over the memory (its indexOf is memchr; Uint8Array's took 0.2 µs), renewed when
    // memory grows (the evaluation may have grown it).
    if (this.#heap?.buffer !== p.mem.buffer) this.#heap = Buffer.from(p.mem.buffer);
    const heap = this.#heap;
    const end = heap.indexOf(0, result);
    if (end < 0) throw new Error('unterminated result');
    return JSON.parse(decoder.decode(heap.subarray(result, end)));
  }
}

/**
 * A result set as opa returns it, checked: exactly one result, and that result exactly
 * {verdict, reasons, obligations}. Throws POLICY_UNDEFINED or POLICY_RESULT_INVALID.
 */
export function checkResult(results: unknown, entrypoint: string): PolicyResult {
  if (!Array.isArray(results) || results.length === 0 || (results[0] as { result?: unknown }).result === undefined) {
    throw new PolicyError('POLICY_UNDEFINED', `${entrypoint} is undefined for this input`);
  }
  if (results.length > 1) throw new PolicyError('POLICY_RESULT_INVALID', `${entrypoint} returned ${results.length} results`);
  const result = (results[0] as { result: unknown }).result;
  const quick = wellFormed(result);
  if (quick) return quick;
  const parsed = PolicyResult.safeParse(result);
  if (!parsed.success) {
    throw new PolicyError('POLICY_RESULT_INVALID', `result is not a decision: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

const VERDICT_SET: ReadonlySet<unknown> = new Set(VERDICTS);
const REASON_CODE = /^[A-Z][A-Z0-9_]{1,63}$/;
const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * PolicyResult.parse for the results a policy normally returns, without zod (which took about
 * 1 µs of a 20 µs evaluation): the same checks and the same output (fresh objects in schema key
 * order, obligations copied shallowly), or null for anything else (including everything zod
 * would reject), which then goes through zod for its verdict and its error message.
 */
export function wellFormed(result: unknown): PolicyResult | null {
  if (!isRecord(result) || Object.keys(result).length !== 3) return null;
  const { verdict, reasons, obligations } = result;
  if (!VERDICT_SET.has(verdict) || !Array.isArray(reasons) || reasons.length < 1 || reasons.length > 64 || !isRecord(obligations)) return null;
  const checked: Reason[] = [];
  for (const reason of reasons as unknown[]) {
    if (!isRecord(reason) || Object.keys(reason).length !== 3) return null;
    const { code, rule, message } = reason;
    if (typeof code !== 'string' || !REASON_CODE.test(code) || typeof rule !== 'string' || rule.length < 1 || rule.length > 256 || typeof message !== 'string' || message.length > 2048) return null;
    checked.push({ code, rule, message });
  }
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(obligations)) {
    if (key === '__proto__') return null; // zod's record assigns it (setting the prototype): leave that to zod
    copy[key] = obligations[key];
  }
  return { verdict: verdict as PolicyResult['verdict'], reasons: checked, obligations: copy };
}
