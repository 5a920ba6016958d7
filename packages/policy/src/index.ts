export { buildBundle, readBundle, DEFAULT_ENTRYPOINT, type BuiltBundle, type BuildOptions, type BundleContents } from './bundle.ts';
export { PolicyEngine, PolicyResult, checkResult, type EngineOptions, type PolicyRef } from './engine.ts';
export { decideSafely, type Outcome } from './decide.ts';
export { PolicyError, POLICY_FAILURE_CODES, type PolicyFailureCode } from './errors.ts';
export { ActivePolicy } from './active.ts';
export { replayDecision, type ReplayResult, type EngineCache } from './replay.ts';
export { wasmEvaluator, decideWith, OpaServerEvaluator, type PolicyEvaluator, type OpaServerOptions } from './evaluator.ts';
