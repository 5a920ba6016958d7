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

export class PolicyError extends Error {
  readonly code: PolicyFailureCode | 'BUILD_FAILED';
  constructor(code: PolicyFailureCode | 'BUILD_FAILED', message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'PolicyError';
    this.code = code;
  }
}
