export const STACK_ERROR_CODES = [
  'FETCH_FAILED',
  'TOOL_MISSING',
  'START_FAILED',
  'NOT_HEALTHY',
  'CONFIG_INVALID',
  'WRONG_NODE',
  'PROVISION_FAILED',
] as const;
export type StackErrorCode = (typeof STACK_ERROR_CODES)[number];

/** A provisioning failure: what could not be fetched or started, and what to do about it. */
export class StackError extends Error {
  readonly code: StackErrorCode;
  readonly component: string;
  readonly hint: string;

  constructor(code: StackErrorCode, component: string, message: string, hint: string, cause?: unknown) {
    super(`${component}: ${message}`, cause === undefined ? undefined : { cause });
    this.name = 'StackError';
    this.code = code;
    this.component = component;
    this.hint = hint;
  }

  /** The text a user sees: code, message, hint, no stack trace. */
  render(): string {
    return `error ${this.code}: ${this.message}\n  what to do: ${this.hint}`;
  }
}
