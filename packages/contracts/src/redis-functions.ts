import { createHash } from 'node:crypto';

/**
 * IntentGate's Redis logic as Redis Functions, loaded by the provisioner and only called by the
 * services (FCALL / FCALL_RO). No role but the provisioner may run EVAL or FUNCTION LOAD: a
 * script of a role's own could loop forever after a write, which nothing but a server restart
 * ends, and every decision and claim would wait on it. Functions run with the caller's ACL, so
 * a function reaches only the keys and commands the calling role may use.
 */
export interface RedisFunctionSource {
  /** The body of `function(KEYS, ARGV) … end`. */
  readonly body: string;
  /** Runs under FCALL_RO (flag no-writes): a reader needs only read access to its keys. */
  readonly readOnly?: boolean;
}

export interface RedisFunctionLibrary<F extends string> {
  /** The library's name (FUNCTION LOAD REPLACE replaces the one loaded before). */
  readonly library: string;
  /** A digest of its functions' sources: part of every function's name. */
  readonly version: string;
  /** The text for FUNCTION LOAD. */
  readonly code: string;
  /**
   * A function's name in this version: a service runs exactly the logic it was built with, and a
   * store holding another version answers "Function not found" (the call fails, and fails closed).
   */
  name(fn: F): string;
}

/**
 * The most keys and arguments one call may pass. A function runs as one step that nothing can
 * interrupt once it has written: a call with millions of keys (a role's own, so its ACL lets
 * them through) held every other client for most of a minute. Callers split larger work.
 */
export const REDIS_FUNCTION_MAX_KEYS = 8192;
export const REDIS_FUNCTION_MAX_ARGS = 32768;

export function redisFunctionLibrary<F extends string>(library: string, functions: Readonly<Record<F, RedisFunctionSource>>): RedisFunctionLibrary<F> {
  if (!/^[a-z_]+$/.test(library)) throw new Error(`Redis function library name ${library}: a-z and _ only`);
  const entries = Object.entries(functions) as Array<[F, RedisFunctionSource]>;
  const LIMITS = `if #KEYS > ${REDIS_FUNCTION_MAX_KEYS} or #ARGV > ${REDIS_FUNCTION_MAX_ARGS} then return redis.error_reply('ERR IntentGate functions take at most ${REDIS_FUNCTION_MAX_KEYS} keys and ${REDIS_FUNCTION_MAX_ARGS} arguments a call') end`;
  const version = createHash('sha256').update(JSON.stringify([LIMITS, entries.map(([fn, f]) => [fn, f.body.trim(), f.readOnly === true])])).digest('hex').slice(0, 12);
  const name = (fn: F) => `${library}_${fn}_${version}`;
  const code = [
    `#!lua name=${library}`,
    ...entries.map(([fn, f]) => `redis.register_function{function_name='${name(fn)}', callback=function(KEYS, ARGV)\n${LIMITS}\n${f.body.trim()}\nend${f.readOnly ? ", flags={'no-writes'}" : ''}}`),
    '',
  ].join('\n');
  return { library, version, code, name };
}

/** Whether a Redis error says the function called is not loaded (never provisioned, lost with the data, or another version). */
export function isRedisFunctionMissing(err: unknown): boolean {
  return /Function not found/i.test((err as Error | undefined)?.message ?? '');
}

export const REDIS_FUNCTIONS_MISSING_HINT =
  'the store does not hold this release\'s IntentGate functions (never provisioned, lost with its data, or provisioned by another release): run provisioning (npm start does; otherwise node infra/bin/provision.ts with REDIS_URL and the provisioner\'s credentials)';

/** A Redis error's message, with what to do when the store lacks the functions called. */
export function redisErrorMessage(err: unknown): string {
  const message = (err as Error | undefined)?.message ?? String(err);
  return isRedisFunctionMissing(err) ? `${message}: ${REDIS_FUNCTIONS_MISSING_HINT}` : message;
}
