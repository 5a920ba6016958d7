// Who evaluates the policy for a decision. The decision worker always holds the active bundle
// (an engine: its digest, version and entrypoint are what every decision records); the
// evaluator is what runs it. The default is that engine's own Wasm instance, in process.
// OpaServerEvaluator asks an `opa run --server` holding the same Rego over HTTP instead (the
// common sidecar integration), used as the benchmark's peer. Whatever the evaluator, every
// failure is a deny with a reason code: nothing here can turn an error into an allow.
import { Agent, request } from 'node:http';
import type { PolicyEngine, PolicyRef, PolicyResult } from './engine.ts';
import { checkResult } from './engine.ts';
import { PolicyError } from './errors.ts';
import { failed, type Outcome } from './decide.ts';

export interface PolicyEvaluator {
  /** For logs and reports: "wasm", "opa-server". */
  readonly kind: string;
  /**
   * Evaluates one input under `engine`'s bundle. `json` is the input's JSON text (the same
   * document as `input`). Returns the well-formed result or throws (a PolicyError with its code).
   */
  evaluate(engine: PolicyEngine, input: unknown, json: string, timeoutMicros: number): PolicyResult | Promise<PolicyResult>;
}

/** The default: the engine's Wasm instance, synchronously. */
export const wasmEvaluator: PolicyEvaluator = {
  kind: 'wasm',
  evaluate: (engine, _input, json) => engine.evaluateJson(json),
};

/**
 * decideSafely with any evaluator: never rejects; anything but a well-formed result in time is
 * a deny with its reason code (NO_ACTIVE_BUNDLE, BUNDLE_CORRUPT, POLICY_*).
 */
export async function decideWith(
  evaluator: PolicyEvaluator,
  engine: PolicyEngine | PolicyError | null,
  input: unknown,
  json: string,
  timeoutMicros = 50_000,
): Promise<Outcome> {
  if (engine === null) return failed('NO_ACTIVE_BUNDLE', 'no policy bundle is active', null, 0);
  if (engine instanceof PolicyError) {
    const code = engine.code === 'BUILD_FAILED' ? 'BUNDLE_CORRUPT' : engine.code;
    return failed(code, `no usable policy bundle: ${engine.message}`, null, 0);
  }
  const started = process.hrtime.bigint();
  const elapsed = () => Number((process.hrtime.bigint() - started) / 1000n);
  try {
    const pending = evaluator.evaluate(engine, input, json, timeoutMicros);
    const result = pending instanceof Promise ? await pending : pending;
    const micros = elapsed();
    if (micros > timeoutMicros) return failed('POLICY_TIMEOUT', `evaluation took ${micros} µs, over the ${timeoutMicros} µs bound`, engine.ref, micros);
    return { ...result, policy: engine.ref, evaluationMicros: micros };
  } catch (err) {
    const micros = elapsed();
    if (err instanceof PolicyError && err.code !== 'BUILD_FAILED') return failed(err.code, err.message, engine.ref, micros);
    return failed('POLICY_ERROR', `evaluation failed: ${(err as Error).message}`, engine.ref, micros);
  }
}

export interface OpaServerOptions {
  /** Base URL of `opa run --server`, e.g. http://127.0.0.1:8181 */
  url: string;
  /** Connections kept open to the server. */
  maxSockets?: number;
}

/**
 * Evaluates through OPA's REST Data API (POST /v1/data/<entrypoint> with {"input": …}). The
 * server must hold the same Rego as the engine's bundle (the benchmark checks that every
 * decision agrees). A connection failure, a non-200 answer or an unparseable body is
 * POLICY_ERROR; no `result` is POLICY_UNDEFINED; a result that is not a decision is
 * POLICY_RESULT_INVALID; no answer within the time bound is POLICY_TIMEOUT.
 */
export class OpaServerEvaluator implements PolicyEvaluator {
  readonly kind = 'opa-server';
  readonly #url: URL;
  readonly #agent: Agent;

  constructor(options: OpaServerOptions) {
    this.#url = new URL(options.url);
    this.#agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 16 });
  }

  evaluate(engine: PolicyEngine, _input: unknown, json: string, timeoutMicros: number): Promise<PolicyResult> {
    const ref: PolicyRef = engine.ref;
    const body = `{"input":${json}}`;
    return new Promise<PolicyResult>((resolve, reject) => {
      const req = request({
        host: this.#url.hostname, port: this.#url.port, path: `/v1/data/${ref.entrypoint}`, method: 'POST', agent: this.#agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: Math.max(1, Math.ceil(timeoutMicros / 1000)),
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new PolicyError('POLICY_ERROR', `OPA server answer broken: ${err.message}`, err)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) return reject(new PolicyError('POLICY_ERROR', `OPA server answered HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          let doc: { result?: unknown };
          try {
            doc = JSON.parse(text) as { result?: unknown };
          } catch (err) {
            return reject(new PolicyError('POLICY_ERROR', 'OPA server answer is not JSON', err));
          }
          if (doc === null || typeof doc !== 'object' || doc.result === undefined) {
            return reject(new PolicyError('POLICY_UNDEFINED', `${ref.entrypoint} is undefined for this input (OPA server)`));
          }
          try {
            resolve(checkResult([{ result: doc.result }], ref.entrypoint));
          } catch (err) {
            reject(err);
          }
        });
      });
      req.on('timeout', () => req.destroy(new PolicyError('POLICY_TIMEOUT', `OPA server did not answer within ${timeoutMicros} µs`)));
      req.on('error', (err) => reject(err instanceof PolicyError ? err : new PolicyError('POLICY_ERROR', `OPA server unreachable: ${err.message}`, err)));
      req.end(body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
