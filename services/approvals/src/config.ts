import { join } from 'node:path';
import { z } from 'zod';
import { credentialsFromEnv } from '@intentgate/bus';
import { loadServiceTrust } from '@intentgate/evidence';
import { loadReviewers } from './reviewers.ts';
import type { ApprovalsOptions } from './service.ts';

const Env = z.object({
  KAFKA_BROKERS: z.string().min(1).transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean)),
  SCHEMA_REGISTRY_URL: z.url(),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }),
  /** JSON file: {"reviewers":[{"id","name","principals":[…],"password":"scrypt$…","token_sha256":"…"}]}. */
  APPROVALS_REVIEWERS_FILE: z.string().min(1),
  APPROVALS_DATA_DIR: z.string().min(1),
  APPROVALS_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  APPROVALS_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  APPROVALS_GROUP: z.string().regex(/^[A-Za-z0-9._-]{1,200}$/).optional(),
  APPROVALS_SECURE_COOKIES: z.enum(['true', 'false']).default('false'),
  /** Where a group with no committed offset starts on approvals.requests (a new deployment that must not settle old requests: latest). */
  APPROVALS_START_AT: z.enum(['earliest', 'latest']).default('earliest'),
  WARRANT_TTL_SECONDS: z.coerce.number().int().min(1).max(300).default(30),
});

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

/** The trust file and this service's signer (INTENTGATE_TRUST_FILE, INTENTGATE_SIGNER_FILE; npm start writes both). */
async function serviceTrust(root: string, service: string, env: NodeJS.ProcessEnv) {
  try {
    return await loadServiceTrust(join(root, '.intentgate'), service, { INTENTGATE_TRUST_FILE: env.INTENTGATE_TRUST_FILE, INTENTGATE_SIGNER_FILE: env.INTENTGATE_SIGNER_FILE });
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}. ${(err as { hint?: string }).hint ?? ''}`);
  }
}

type Servers = { kafka: { brokers: string[] }; schemaRegistry: { url: string }; redis: { url: string }; credentialsDir?: string | null } | null;

/** Options from the environment, with .intentgate/stack.json filling in the servers when unset. */
export async function configFromEnv(env: NodeJS.ProcessEnv, stackFile: Servers, root: string): Promise<ApprovalsOptions> {
  // Its own principal (approvals): KAFKA_USERNAME / KAFKA_PASSWORD, KAFKA_CREDENTIALS_FILE, or the running stack's role file.
  let access: ReturnType<typeof credentialsFromEnv>;
  try {
    access = credentialsFromEnv(env, 'approvals', stackFile);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const parsed = Env.safeParse({
    APPROVALS_DATA_DIR: join(root, '.intentgate', 'approvals'),
    APPROVALS_REVIEWERS_FILE: join(root, '.intentgate', 'approvals', 'reviewers.json'),
    ...env,
    KAFKA_BROKERS: env.KAFKA_BROKERS ?? stackFile?.kafka.brokers.join(','),
    SCHEMA_REGISTRY_URL: env.SCHEMA_REGISTRY_URL ?? stackFile?.schemaRegistry.url,
    REDIS_URL: env.REDIS_URL ?? access.redisUrl ?? stackFile?.redis.url,
  });
  if (!parsed.success) {
    throw new ConfigError(`invalid configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}. ` +
      'Set KAFKA_BROKERS, SCHEMA_REGISTRY_URL and REDIS_URL, or run `npm start` first so .intentgate/stack.json names them.');
  }
  const c = parsed.data;
  let reviewers;
  try {
    reviewers = await loadReviewers(c.APPROVALS_REVIEWERS_FILE);
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}. Write it as {"reviewers":[{"id","name","principals","password","token_sha256"}]}, with hashes from \`npm run intentgate -- approvals hash-password\` and \`… approvals token\`.`);
  }
  return {
    brokers: c.KAFKA_BROKERS, registryUrl: c.SCHEMA_REGISTRY_URL, redisUrl: c.REDIS_URL, dataDir: c.APPROVALS_DATA_DIR, reviewers,
    ...(access.sasl ? { sasl: access.sasl } : {}),
    httpPort: c.APPROVALS_HTTP_PORT, httpHost: c.APPROVALS_HTTP_HOST, fromBeginning: c.APPROVALS_START_AT === 'earliest', secureCookies: c.APPROVALS_SECURE_COOKIES === 'true', warrantTtlSeconds: c.WARRANT_TTL_SECONDS,
    ...(c.APPROVALS_GROUP ? { groupId: c.APPROVALS_GROUP } : {}),
    trust: await serviceTrust(root, 'approvals', env),
  };
}
