export { buildBundle, readBundle, DEFAULT_ENTRYPOINT, type BuiltBundle, type BuildOptions, type BundleContents } from './bundle.ts';
export { PolicyEngine, PolicyResult, checkResult, type EngineOptions, type PolicyRef } from './engine.ts';
export { decideSafely, type Outcome } from './decide.ts';
export { PolicyError, BundleTrustError, POLICY_FAILURE_CODES, type PolicyFailureCode, type BundleTrustCode } from './errors.ts';
export { verifyBundleSignature, opaFileHash, SIGNATURES_FILE, type PublisherKey, type VerifiedBundleSignature } from './bundle-signature.ts';
export { ActivePolicy } from './active.ts';
export { replayDecision, type ReplayResult, type EngineCache } from './replay.ts';
export { wasmEvaluator, decideWith, OpaServerEvaluator, type PolicyEvaluator, type OpaServerOptions } from './evaluator.ts';
export { untarGz, tarGz } from './tar.ts';
