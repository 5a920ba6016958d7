import { JSON_REFUSAL_CODES } from '@intentgate/contracts';

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
  // A consumer-group member's health (see member.ts): why its service is not ready.
  'CONSUMER_STALLED',
  'CONSUMER_RESTARTING',
  'CONSUMER_DEAD',
  'CONFIG_INVALID',
  'NOT_AUTHORIZED',
  'AUTHENTICATION_FAILED',
  // What the contract refuses before the schema (see @intentgate/contracts' json-limits): poison, each with its reason.
  ...JSON_REFUSAL_CODES,
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

/** The broker's refusals of a principal (ACLs), by KafkaJS error type. */
const AUTHORIZATION_TYPES: Readonly<Record<string, string>> = {
  TOPIC_AUTHORIZATION_FAILED: 'topic',
  GROUP_AUTHORIZATION_FAILED: 'consumer group',
  CLUSTER_AUTHORIZATION_FAILED: 'cluster',
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 'transactional id',
  DELEGATION_TOKEN_AUTHORIZATION_FAILED: 'delegation token',
};

/** KafkaJS wraps what it gives up on (retries exceeded, non-retriable): the errors down the cause chain, outermost first. */
function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e: unknown = err; e !== undefined && e !== null && chain.length < 16; e = (e as { cause?: unknown }).cause) {
    if (chain.includes(e)) break;
    chain.push(e);
  }
  return chain;
}

/** What the bus was doing when the broker refused: for the message and the hint. */
export interface AccessContext {
  /** The authenticated principal (the SASL username), null on an unauthenticated connection. */
  principal: string | null;
  /** e.g. "write to", "read", "join", "use". */
  action: string;
  topics?: readonly string[];
  group?: string;
  transactionalId?: string;
}

function principalName(principal: string | null): string {
  return principal === null ? 'an unauthenticated client (User:ANONYMOUS)' : `User:${principal}`;
}

/**
 * A broker refusal (an ACL, or a failed SASL handshake) as a non-retriable BusError naming the
 * topic, group or transactional id and the principal; null for every other error. KafkaJS marks
 * these non-retriable already, so they come out of its retries at once.
 */
export function accessError(err: unknown, context: AccessContext): BusError | null {
  for (const e of causes(err)) {
    if (isBusError(e, 'NOT_AUTHORIZED') || isBusError(e, 'AUTHENTICATION_FAILED')) return e;
  }
  const chain = causes(err);
  const who = principalName(context.principal);
  const sasl = chain.find((e) => {
    const { name, type } = e as { name?: string; type?: string };
    return name === 'KafkaJSSASLAuthenticationError' || type === 'SASL_AUTHENTICATION_FAILED' || type === 'ILLEGAL_SASL_STATE' || type === 'UNSUPPORTED_SASL_MECHANISM';
  });
  if (sasl !== undefined) {
    return new BusError('AUTHENTICATION_FAILED', `the broker refused to authenticate ${who}: ${describe(sasl)}`, {
      retriable: false, cause: err,
      hint: 'Check the username, password and SASL mechanism (KAFKA_USERNAME / KAFKA_PASSWORD / KAFKA_CREDENTIALS_FILE, or the role\'s file under .intentgate/credentials); the local stack makes new passwords at every start.',
    });
  }
  const refused = chain.find((e) => AUTHORIZATION_TYPES[(e as { type?: string }).type ?? ''] !== undefined) as { type: string } | undefined;
  if (refused === undefined) {
    // An unauthenticated client on a SASL listener: the broker closes the connection before any answer.
    return null;
  }
  const kind = AUTHORIZATION_TYPES[refused.type]!;
  const resource = kind === 'topic' ? `topic${(context.topics?.length ?? 0) === 1 ? '' : 's'} ${(context.topics ?? []).join(', ') || '(unnamed)'}`
    : kind === 'consumer group' ? `consumer group ${context.group ?? '(unnamed)'}${context.topics?.length ? ` (topics ${context.topics.join(', ')})` : ''}`
    : kind === 'transactional id' ? `transactional id ${context.transactionalId ?? '(unnamed)'}`
    : kind;
  const verb = kind === 'transactional id' ? 'use' : kind === 'cluster' ? `${context.action} (a cluster operation, e.g. IDEMPOTENT_WRITE, for)` : context.action;
  const what = kind === 'cluster' ? (context.topics ?? []).join(', ') || 'the cluster' : resource;
  return new BusError('NOT_AUTHORIZED', `${who} may not ${verb} ${what}: the broker answered ${refused.type}`, {
    retriable: false, cause: err,
    hint: `Use the credentials of a role the access catalog (packages/contracts access.ts) allows this, or grant it there and run \`npm run provision\` to create the ACLs.`,
  });
}

/** Tells a broker refusal from other failures (async: an unauthenticated client's refusal needs a probe). */
export type Refuse = (err: unknown, context: Omit<AccessContext, 'principal'>) => Promise<BusError | null>;

/** No classification: every error stays what it is. */
export const noRefusals: Refuse = async () => null;
