/** Reason codes for a policy outcome that is not a well-formed decision. Each ends in deny. */
export const POLICY_FAILURE_CODES = [
  'NO_ACTIVE_BUNDLE',
  'BUNDLE_CORRUPT',
  'POLICY_UNDEFINED',
  'POLICY_ERROR',
  'POLICY_RESULT_INVALID',
  'POLICY_TIMEOUT',
] as const;
export type PolicyFailureCode = (typeof POLICY_FAILURE_CODES)[number];

/** Why a published bundle or activation is refused before it is loaded (the policy in force stays). */
export type BundleTrustCode = 'BUNDLE_UNSIGNED' | 'BUNDLE_SIGNATURE_INVALID' | 'ACTIVATION_UNSIGNED' | 'ACTIVATION_SIGNATURE_INVALID' | 'ACTIVATION_STALE' | 'BUNDLE_DIGEST_MISMATCH';

export class PolicyError extends Error {
  readonly code: PolicyFailureCode | 'BUILD_FAILED';
  constructor(code: PolicyFailureCode | 'BUILD_FAILED', message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'PolicyError';
    this.code = code;
  }
}

/** A bundle or activation that is not signed by a configured key: refused, never loaded. */
export class BundleTrustError extends Error {
  readonly code: BundleTrustCode;
  readonly hint: string;
  readonly retriable = false;
  constructor(code: BundleTrustCode, message: string, hint = 'Sign bundles with a configured policy publisher key (opa build --bundle --signing-key) and activations with an operator key.') {
    super(message);
    this.name = 'BundleTrustError';
    this.code = code;
    this.hint = hint;
  }
}
