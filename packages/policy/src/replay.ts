// Replay: re-evaluate a decision's recorded input under the bundle it names, and say whether
// the result is the same, bit for bit (canonical JSON of verdict, reasons, obligations).
import { canonicalJson, digestOf, sha256Hex } from '@intentgate/evidence';
import type { Decision } from '@intentgate/contracts';
import { decideSafely } from './decide.ts';
import { PolicyEngine } from './engine.ts';

export interface ReplayResult {
  identical: boolean;
  /** What differs, one line each; empty when identical. */
  differences: string[];
  replayed: { verdict: string; reasons: unknown; obligations: unknown };
}

/** The parts of a decision that policy produced, in canonical form. */
function policyPart(d: { verdict: string; reasons: unknown; obligations: unknown }): string {
  return canonicalJson({ verdict: d.verdict, reasons: d.reasons, obligations: d.obligations });
}

/** Loaded engines by bundle digest, so replaying many decisions loads each bundle once. */
export type EngineCache = Map<string, PolicyEngine>;

export async function replayDecision(recorded: { decision: Decision; input: unknown }, bundleBytes: Uint8Array, cache?: EngineCache): Promise<ReplayResult> {
  const differences: string[] = [];
  const { decision, input } = recorded;
  if (decision.policy === null || input === null) {
    return { identical: false, differences: ['the decision was not made by a policy (nothing to replay)'], replayed: { verdict: '', reasons: [], obligations: {} } };
  }
  if (sha256Hex(bundleBytes) !== decision.policy.bundle_digest) differences.push(`bundle digest ${sha256Hex(bundleBytes)} is not the recorded ${decision.policy.bundle_digest}`);
  if (digestOf(input) !== decision.input_digest) differences.push('the recorded input does not hash to the recorded input_digest');
  const key = `${sha256Hex(bundleBytes)}|${decision.policy.version}|${decision.policy.entrypoint}`;
  const engine = cache?.get(key) ?? (await PolicyEngine.load(bundleBytes, { version: decision.policy.version, entrypoint: decision.policy.entrypoint }));
  cache?.set(key, engine);
  // No time bound on a replay: an audit may run on a slower machine than the decision did.
  const outcome = decideSafely(engine, input, Number.MAX_SAFE_INTEGER);
  const replayed = { verdict: outcome.verdict, reasons: outcome.reasons, obligations: outcome.obligations };
  // A warrant signing failure turned an allow into a deny after policy; compare what policy said.
  const recordedPart = decision.reasons[0]?.code === 'WARRANT_SIGNING_FAILED' ? null : policyPart(decision);
  if (recordedPart !== null && recordedPart !== policyPart(replayed)) {
    differences.push(`recorded ${policyPart(decision)}`, `replayed ${policyPart(replayed)}`);
  }
  return { identical: differences.length === 0, differences, replayed };
}
