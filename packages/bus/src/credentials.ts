import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BusSasl } from './bus.ts';

/** What a standalone process needs of .intentgate/stack.json to find its role's credentials. */
export interface StackFileCredentials {
  kafka?: { brokers: string[] };
  redis?: { url: string };
  /** Where npm start wrote one `<role>.json` (0600) per role. */
  credentialsDir?: string | null;
}

/** A role file (`<role>.json`): its broker user and, for roles with Redis access, its Redis user. */
interface RoleFile {
  kafka?: { mechanism?: BusSasl['mechanism']; username?: string; password?: string };
  redis?: { username: string; password: string } | null;
}

const MECHANISMS = new Set<BusSasl['mechanism']>(['scram-sha-512', 'scram-sha-256', 'plain']);

/** Configuration a process cannot start with (a missing or unreadable credentials file). */
export class CredentialsError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly hint: string;
  constructor(message: string, hint: string) {
    super(message);
    this.name = 'CredentialsError';
    this.hint = hint;
  }
}

function readRoleFile(path: string, what: string): RoleFile {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as RoleFile;
  } catch (err) {
    throw new CredentialsError(`${what}: cannot read ${path}: ${(err as Error).message}`,
      'Point KAFKA_CREDENTIALS_FILE at a role file (npm start writes them under .intentgate/credentials), or set KAFKA_USERNAME and KAFKA_PASSWORD.');
  }
}

function saslOfFile(file: RoleFile, path: string): BusSasl {
  const k = file.kafka;
  const mechanism = k?.mechanism ?? 'scram-sha-512';
  if (!k?.username || !k.password || !MECHANISMS.has(mechanism)) {
    throw new CredentialsError(`${path} holds no usable kafka credentials ({ kafka: { mechanism, username, password } })`, 'Use a role file written by npm start, or set KAFKA_USERNAME and KAFKA_PASSWORD.');
  }
  return { mechanism, username: k.username, password: k.password };
}

function withUser(url: string, user: { username: string; password: string }): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user.username);
  u.password = encodeURIComponent(user.password);
  return u.toString().replace(/\/$/, '');
}

/**
 * A standalone process's credentials, for the role it runs as:
 * - Kafka: KAFKA_USERNAME + KAFKA_PASSWORD (KAFKA_SASL_MECHANISM, default scram-sha-512); else
 *   KAFKA_CREDENTIALS_FILE (a role file); else, when the brokers come from the stack file, the
 *   role's file in its credentialsDir; else none (an unauthenticated cluster).
 * - Redis: REDIS_URL is used as given (put the user in it: redis://user:password@host:port);
 *   without it, the stack file's Redis with the role's Redis user from its file.
 */
export function credentialsFromEnv(env: NodeJS.ProcessEnv, role: string, stackFile?: StackFileCredentials | null): { sasl?: BusSasl; redisUrl?: string } {
  const out: { sasl?: BusSasl; redisUrl?: string } = {};
  const blank = (v: string | undefined) => v === undefined || v.trim() === '';
  const stackRoleFile = stackFile?.credentialsDir ? join(stackFile.credentialsDir, `${role}.json`) : null;
  if (!blank(env.KAFKA_USERNAME)) {
    const mechanism = (env.KAFKA_SASL_MECHANISM?.trim().toLowerCase() || 'scram-sha-512') as BusSasl['mechanism'];
    if (!MECHANISMS.has(mechanism)) throw new CredentialsError(`KAFKA_SASL_MECHANISM ${env.KAFKA_SASL_MECHANISM} is not one of ${[...MECHANISMS].join(', ')}`, 'Unset it (SCRAM-SHA-512) or name one of those.');
    if (blank(env.KAFKA_PASSWORD)) throw new CredentialsError('KAFKA_USERNAME is set but KAFKA_PASSWORD is not', 'Set both, or use KAFKA_CREDENTIALS_FILE.');
    out.sasl = { mechanism, username: env.KAFKA_USERNAME!.trim(), password: env.KAFKA_PASSWORD! };
  } else if (!blank(env.KAFKA_CREDENTIALS_FILE)) {
    const path = env.KAFKA_CREDENTIALS_FILE!.trim();
    out.sasl = saslOfFile(readRoleFile(path, 'KAFKA_CREDENTIALS_FILE'), path);
  } else if (blank(env.KAFKA_BROKERS) && stackRoleFile) {
    out.sasl = saslOfFile(readRoleFile(stackRoleFile, `the ${role} role of the running stack`), stackRoleFile);
  }
  if (blank(env.REDIS_URL) && stackFile?.redis?.url && stackRoleFile) {
    const file = readRoleFile(stackRoleFile, `the ${role} role of the running stack`);
    out.redisUrl = file.redis ? withUser(stackFile.redis.url, file.redis) : stackFile.redis.url;
  }
  return out;
}
