import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { join } from 'node:path';
import { loadServiceTrust, type Jwks } from '@intentgate/evidence';
import { credentialsFromEnv } from '@intentgate/bus';
import type { DecisionServiceOptions } from './service.ts';

const Env = z.object({
  KAFKA_BROKERS: z.string().min(1).transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean)),
  SCHEMA_REGISTRY_URL: z.url(),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }),
  DECISION_INSTANCE_ID: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).optional(),
  DECISION_TENANT: z.string().min(1).max(128).default('default'),
  DECISION_GROUP: z.string().regex(/^[A-Za-z0-9._-]{1,200}$/).optional(),
  DECISION_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  DECISION_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  WARRANT_TTL_SECONDS: z.coerce.number().int().min(1).max(300).default(30),
  /** The trust file (roots, operators, policy publishers); default .intentgate/trust/trust.json. */
  INTENTGATE_TRUST_FILE: z.string().optional(),
  /** This worker's certified key (`intentgate trust certify decision`); default .intentgate/trust/signers/decision.json. */
  INTENTGATE_SIGNER_FILE: z.string().optional(),
  CONTEXT_FRESHNESS_MS: z.coerce.number().int().min(100).default(60_000),
  POLICY_TIMEOUT_MICROS: z.coerce.number().int().min(100).default(50_000),
  APPROVAL_DEADLINE_CAP_SECONDS: z.coerce.number().int().min(1).default(24 * 3600),
  /** "<trust-domain>=<JWKS file or https URL>[,…]": the keys JWT-SVIDs and delegation tokens are verified with. */
  TRUST_BUNDLES: z.string().optional(),
  /** "off" (and only that) decides without verifying identity: logged at every start and recorded as a mode-change receipt. */
  INTENTGATE_IDENTITY: z.enum(['on', 'off']).default('on'),
  MAX_DELEGATION_DEPTH: z.coerce.number().int().min(1).max(16).default(4),
  TRUST_REFRESH_MS: z.coerce.number().int().min(1_000).default(300_000),
  /** Admission (see AdmissionOptions): unset takes ADMISSION_DEFAULTS; 0 turns a bound off. */
  DECISION_LAG_BOUND_MS: z.coerce.number().int().min(0).optional(),
  EXECUTOR_BACKLOG_BOUND: z.coerce.number().int().min(0).optional(),
  OVERLOAD_RETRY_AFTER_MS: z.coerce.number().int().min(0).optional(),
});

/** Loads trust bundles; URLs (e.g. a SPIRE OIDC discovery provider's keys) are fetched, files read. */
export async function loadTrustBundles(spec: string): Promise<Map<string, Jwks>> {
  const trust = new Map<string, Jwks>();
  for (const entry of spec.split(',').map((e) => e.trim()).filter(Boolean)) {
    const eq = entry.indexOf('=');
    const [domain, source] = [entry.slice(0, eq), entry.slice(eq + 1)];
    if (eq < 1 || !source) throw new ConfigError(`TRUST_BUNDLES entry "${entry}" is not <trust-domain>=<JWKS file or URL>`);
    try {
      const text = /^https?:\/\//.test(source)
        ? await (await fetch(source, { signal: AbortSignal.timeout(10_000) })).text()
        : await readFile(source, 'utf8');
      const jwks = JSON.parse(text) as Jwks;
      if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) throw new Error('no keys');
      trust.set(domain, jwks);
    } catch (err) {
      throw new ConfigError(`TRUST_BUNDLES ${domain}: cannot load ${source}: ${(err as Error).message}`);
    }
  }
  return trust;
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

/** Options from the environment, with .intentgate/stack.json filling in the servers when unset. */
export async function configFromEnv(
  env: NodeJS.ProcessEnv,
  stackFile?: { kafka: { brokers: string[] }; schemaRegistry: { url: string }; redis: { url: string }; credentialsDir?: string | null } | null,
  stateDir = join(import.meta.dirname, '..', '..', '..', '.intentgate'),
): Promise<DecisionServiceOptions> {
  // Its own principal (decision): KAFKA_USERNAME / KAFKA_PASSWORD, KAFKA_CREDENTIALS_FILE, or the running stack's role file.
  let access: ReturnType<typeof credentialsFromEnv>;
  try {
    access = credentialsFromEnv(env, 'decision', stackFile);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const merged = {
    ...env,
    KAFKA_BROKERS: env.KAFKA_BROKERS ?? stackFile?.kafka.brokers.join(','),
    SCHEMA_REGISTRY_URL: env.SCHEMA_REGISTRY_URL ?? stackFile?.schemaRegistry.url,
    REDIS_URL: env.REDIS_URL ?? access.redisUrl ?? stackFile?.redis.url,
  };
  const parsed = Env.safeParse(merged);
  if (!parsed.success) {
    throw new ConfigError(`invalid configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}. ` +
      'Set KAFKA_BROKERS, SCHEMA_REGISTRY_URL and REDIS_URL, or run `npm start` first so .intentgate/stack.json names them.');
  }
  const c = parsed.data;
  if (c.INTENTGATE_IDENTITY === 'on' && !c.TRUST_BUNDLES) {
    throw new ConfigError('identity is required and no trust bundles are configured: set TRUST_BUNDLES=<trust-domain>=<JWKS file or URL> '
      + '(intentgate identity init <trust-domain> --out <dir> makes a local one), or INTENTGATE_IDENTITY=off to decide on the caller\'s word (recorded as a mode change)');
  }
  let trust: DecisionServiceOptions['trust'];
  try {
    trust = await loadServiceTrust(stateDir, 'decision', c);
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}. ${(err as { hint?: string }).hint ?? ''}`);
  }
  return {
    brokers: c.KAFKA_BROKERS, registryUrl: c.SCHEMA_REGISTRY_URL, redisUrl: c.REDIS_URL, tenant: c.DECISION_TENANT,
    ...(access.sasl ? { sasl: access.sasl } : {}),
    httpPort: c.DECISION_HTTP_PORT, httpHost: c.DECISION_HTTP_HOST, trust, warrantTtlSeconds: c.WARRANT_TTL_SECONDS,
    contextFreshnessMs: c.CONTEXT_FRESHNESS_MS, policyTimeoutMicros: c.POLICY_TIMEOUT_MICROS,
    approvalDeadlineCapSeconds: c.APPROVAL_DEADLINE_CAP_SECONDS,
    ...(c.DECISION_INSTANCE_ID ? { instanceId: c.DECISION_INSTANCE_ID } : {}),
    ...(c.DECISION_GROUP ? { groupId: c.DECISION_GROUP } : {}),
    admission: {
      ...(c.DECISION_LAG_BOUND_MS !== undefined ? { decisionLagBoundMs: c.DECISION_LAG_BOUND_MS } : {}),
      ...(c.EXECUTOR_BACKLOG_BOUND !== undefined ? { executorBacklogBound: c.EXECUTOR_BACKLOG_BOUND } : {}),
      ...(c.OVERLOAD_RETRY_AFTER_MS !== undefined ? { retryAfterMs: c.OVERLOAD_RETRY_AFTER_MS } : {}),
    },
    identity: c.INTENTGATE_IDENTITY === 'off' ? 'off' : {
      trust: await loadTrustBundles(c.TRUST_BUNDLES!), maxDepth: c.MAX_DELEGATION_DEPTH,
      // Rotation: bundles are re-read every TRUST_REFRESH_MS (a SPIRE JWKS URL or a file replaced on disk).
      reload: () => loadTrustBundles(c.TRUST_BUNDLES!), refreshMs: c.TRUST_REFRESH_MS,
    },
  };
}
