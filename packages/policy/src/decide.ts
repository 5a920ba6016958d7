import type { PolicyEngine, PolicyRef, PolicyResult } from './engine.ts';
import { PolicyError, type PolicyFailureCode } from './errors.ts';

export interface Outcome extends PolicyResult {
  /** null when no policy was evaluated (no active bundle). */
  policy: PolicyRef | null;
  evaluationMicros: number;
}

export function failed(code: PolicyFailureCode, message: string, policy: PolicyRef | null, micros: number): Outcome {
  return { verdict: 'deny', reasons: [{ code, rule: 'intentgate.engine', message }], obligations: {}, policy, evaluationMicros: micros };
}

/**
 * Fail-closed evaluation: never throws, and anything but a well-formed policy result is a deny
 * with a reason code. Wasm evaluation is synchronous and cannot be interrupted, so the time
 * bound is checked after the fact: a result that took longer than `timeoutMicros` is not
 * trusted and denies with POLICY_TIMEOUT.
 */
export function decideSafely(engine: PolicyEngine | PolicyError | null, input: unknown, timeoutMicros = 50_000): Outcome {
  if (engine === null) return failed('NO_ACTIVE_BUNDLE', 'no policy bundle is active', null, 0);
  if (engine instanceof PolicyError) {
    const code = engine.code === 'BUILD_FAILED' ? 'BUNDLE_CORRUPT' : engine.code;
    return failed(code, `no usable policy bundle: ${engine.message}`, null, 0);
  }
  const started = process.hrtime.bigint();
  try {
    const result = engine.evaluate(input);
    const micros = Number((process.hrtime.bigint() - started) / 1000n);
    if (micros > timeoutMicros) return failed('POLICY_TIMEOUT', `evaluation took ${micros} µs, over the ${timeoutMicros} µs bound`, engine.ref, micros);
    return { ...result, policy: engine.ref, evaluationMicros: micros };
  } catch (err) {
    const micros = Number((process.hrtime.bigint() - started) / 1000n);
    if (err instanceof PolicyError && err.code !== 'BUILD_FAILED') return failed(err.code, err.message, engine.ref, micros);
    return failed('POLICY_ERROR', `evaluation failed: ${(err as Error).message}`, engine.ref, micros);
  }
}
