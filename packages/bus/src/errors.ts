/**
 * Every failure the bus reports is a BusError: a stable code to branch on, whether trying
 * again can help (KafkaJS-style `retriable`), and what the operator should do about it.
 */
export const BUS_ERROR_CODES = [
  'BROKER_UNAVAILABLE',
  'TOPIC_MISSING',
  'TOPIC_MISMATCH',
  'REGISTRY_UNAVAILABLE',
  'REGISTRY_REFUSED',
  'SCHEMA_INCOMPATIBLE',
  'SCHEMA_UNKNOWN',
  'UNDECODABLE',
  'SCHEMA_INVALID',
  'PRODUCE_FAILED',
  'TRANSACTION_FAILED',
  'SHUT_DOWN',
  'OFFSETS_NOT_PINNED',
  'GROUP_JOIN_FAILED',
] as const;
export type BusErrorCode = (typeof BUS_ERROR_CODES)[number];

export interface BusErrorOptions {
  retriable: boolean;
  hint: string;
  cause?: unknown;
}

export class BusError extends Error {
  readonly code: BusErrorCode;
  readonly retriable: boolean;
  /** What to do about it, in one sentence for a human. */
  readonly hint: string;

  constructor(code: BusErrorCode, message: string, options: BusErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BusError';
    this.code = code;
    this.retriable = options.retriable;
    this.hint = options.hint;
  }

  toJSON(): { code: BusErrorCode; message: string; retriable: boolean; hint: string } {
    return { code: this.code, message: this.message, retriable: this.retriable, hint: this.hint };
  }
}

export function isBusError(err: unknown, code?: BusErrorCode): err is BusError {
  return err instanceof BusError && (code === undefined || err.code === code);
}

/** Short text of any thrown value, for messages and DLQ reasons (never a stack trace). */
export function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
