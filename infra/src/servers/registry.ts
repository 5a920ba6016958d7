import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { registryEndpoint } from '@intentgate/bus';
import { join } from 'node:path';
import { StackError } from '../errors.ts';
import { ensureApicurio, type Progress } from '../fetch.ts';
import { freePort } from '../ports.ts';
import { urlWithUser } from '../credentials.ts';
import type { ManagedProcess, ProcessGroup } from '../processes.ts';

export interface LocalRegistry {
  /** The Confluent-compatible API root, as @kafkajs/confluent-schema-registry wants it. */
  url: string;
  version: string;
  process: ManagedProcess;
}

export const CCOMPAT_PATH = '/apis/ccompat/v7';

/** The largest request body the local registry reads (Quarkus's size syntax). */
export const REGISTRY_MAX_BODY = '1M';

/**
 * Makes sure the registry's global compatibility is BACKWARD. Apicurio answers GET /config/{subject}
 * with the global level even for subjects without their own rule, and the client then refuses
 * to register unless that level equals what it asks for.
 */
export async function ensureBackwardCompatibility(registryUrl: string): Promise<void> {
  // The provisioner's URL (its credentials in it, where the registry has users): setting the global level is an admin's.
  const { url, headers } = registryEndpoint(registryUrl);
  const current = await fetch(`${url}/config`, { headers, signal: AbortSignal.timeout(10_000) }).then((r) => (r.ok ? (r.json() as Promise<{ compatibilityLevel?: string }>) : null));
  if (current?.compatibilityLevel?.toUpperCase() === 'BACKWARD') return;
  const put = await fetch(`${url}/config`, {
    method: 'PUT', signal: AbortSignal.timeout(10_000),
    headers: { ...headers, 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ compatibility: 'BACKWARD' }),
  });
  if (!put.ok) {
    throw new StackError('START_FAILED', 'schema-registry', `could not set global compatibility to BACKWARD: HTTP ${put.status} ${await put.text()}`,
      'Provision with the registry\'s admin (SCHEMA_REGISTRY_URL=http://user:password@host/apis/ccompat/v7), or set it by hand: PUT <registry>/config {"compatibility":"BACKWARD"}.');
  }
}

export async function registryAnswers(url: string): Promise<boolean> {
  const res = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2_000) });
  return res.ok;
}

/** Apicurio Registry 3.x, in-memory storage, Confluent-compatible API. */
/**
 * Apicurio's users (Quarkus's embedded realm) and its role-based authorization: the provisioner
 * is the registry's admin (registers schemas, sets the global compatibility); every other client
 * reads anonymously (schemas by id, lookups) and may register, delete or reconfigure nothing. The
 * password goes in the environment as a digest (Quarkus's user:realm:password, SHA-256), never on
 * the command line, which any local user can read.
 */
function registryAuthEnv(provisioner: { username: string; password: string }): Record<string, string> {
  if (!/^[a-z0-9]+$/.test(provisioner.username)) throw new Error(`registry user ${provisioner.username}: a-z and 0-9 only (an environment variable name carries it)`);
  const user = provisioner.username.toUpperCase();
  return {
    QUARKUS_HTTP_AUTH_BASIC: 'true',
    QUARKUS_SECURITY_USERS_EMBEDDED_ALGORITHM: 'digest-sha-256',
    [`QUARKUS_SECURITY_USERS_EMBEDDED_USERS_${user}`]: createHash('sha256').update(`${provisioner.username}:Quarkus:${provisioner.password}`).digest('hex'),
    [`QUARKUS_SECURITY_USERS_EMBEDDED_ROLES_${user}`]: 'sr-admin',
    APICURIO_AUTH_ROLE_BASED_AUTHORIZATION: 'true',
    // Roles from the authenticated identity only (never a request header a client can set).
    APICURIO_AUTH_ROLE_SOURCE: 'token',
    APICURIO_AUTH_ANONYMOUS_READ_ACCESS_ENABLED: 'true',
  };
}

export async function startRegistry(runDir: string, group: ProcessGroup, progress: Progress, provisioner?: { username: string; password: string }): Promise<LocalRegistry> {
  const apicurio = await ensureApicurio(progress);
  const dir = join(runDir, 'registry');
  await mkdir(dir, { recursive: true });
  const [port, managementPort] = [await freePort(), await freePort()];
  const proc = group.start({
    name: 'schema-registry',
    command: apicurio.java.path,
    args: [
      '-Xms128m', '-Xmx512m', '-XX:+ExitOnOutOfMemoryError',
      '-Dquarkus.http.host=127.0.0.1', `-Dquarkus.http.port=${port}`,
      '-Dquarkus.management.host=127.0.0.1', `-Dquarkus.management.port=${managementPort}`,
      '-Dapicurio.rules.global.compatibility=BACKWARD',
      '-jar', apicurio.jar,
    ],
    // Apicurio takes request bodies up to 50 MB and parses them whole: a dozen anonymous
    // compatibility checks of that size ran its heap out (it exits, and the CLI's revocations and
    // suspensions with it). IntentGate's schemas are a few KB.
    env: { ...process.env, QUARKUS_HTTP_LIMITS_MAX_BODY_SIZE: REGISTRY_MAX_BODY, ...(provisioner ? registryAuthEnv(provisioner) : {}) },
    cwd: dir,
    logFile: join(dir, 'registry.log'),
  });
  const url = `http://127.0.0.1:${port}${CCOMPAT_PATH}`;
  await proc.waitHealthy(() => registryAnswers(url), 180_000, 'answering /subjects');
  await ensureBackwardCompatibility(urlWithUser(url, provisioner));
  return { url, version: apicurio.version, process: proc };
}
