import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readStackEnv } from './config.ts';
import { StackError } from './errors.ts';
import { IMAGES, containerRuntimeAnswers, startContainers, type StartedContainers } from './containers.ts';
import { ensureApicurio, ensureKafka, ensureOpa, type Progress } from './fetch.ts';
import { run } from './exec.ts';
import { ProcessGroup } from './processes.ts';
import { spawnReaper } from './reaper.ts';
import { startKafka, type KafkaSecurity, type LocalKafka } from './servers/kafka.ts';
import { ensureBackwardCompatibility, startRegistry, type LocalRegistry } from './servers/registry.ts';
import { provisionRedis } from './redis-functions.ts';
import { registryEndpoint } from '@intentgate/bus';
import { startRedis, type LocalRedis } from './servers/redis.ts';
import { credentialFile, newCredentials, readCredentialFile, redisUrlFor, registryUrlFor, writeCredentialFiles, type RoleCredentials, type StackCredentials } from './credentials.ts';
import { ROLES, type Role } from '@intentgate/contracts';
import type { BusSasl } from '@intentgate/bus';

export type Source = 'env' | 'container' | 'local';

export interface Endpoint {
  source: Source;
  version: string;
  pid?: number;
}

export interface StackInfo {
  kafka: Endpoint & { brokers: string[] };
  schemaRegistry: Endpoint & { url: string };
  /** The server's URL without any user: a role connects with redisUrlOf(info, role). */
  redis: Endpoint & { url: string };
  opa: { path: string; version: string };
  /**
   * Every role's credentials (access catalog): the local stack makes new ones per start; with
   * servers from the environment, read from INTENTGATE_CREDENTIALS_DIR when set; else null
   * (an unauthenticated cluster). In memory only: the stack file names the directory instead.
   */
  credentials: StackCredentials | null;
  /** Where the role files (`<role>.json`, 0600) are, when there are credentials. */
  credentialsDir: string | null;
}

/** The SASL credentials a role uses on this stack's broker; undefined on an unauthenticated stack. */
export function saslOf(info: Pick<StackInfo, 'credentials'>, role: Role): BusSasl | undefined {
  return info.credentials?.[role]?.kafka;
}

/**
 * The registry URL a role connects with: the provisioner's carries its user (it alone registers
 * schemas, on the local stack's registry); every other role's is the plain URL (it reads).
 */
export function registryUrlOf(info: Pick<StackInfo, 'credentials' | 'schemaRegistry'>, role: Role): string {
  return info.schemaRegistry.source === 'local' ? registryUrlFor(info.schemaRegistry.url, info.credentials?.[role]) : info.schemaRegistry.url;
}

/** The Redis URL a role connects with (its ACL user), or the plain URL on a stack without Redis users. */
export function redisUrlOf(info: Pick<StackInfo, 'credentials' | 'redis'>, role: Role): string {
  return redisUrlFor(info.redis.url, info.credentials?.[role]);
}

/** INTENTGATE_CREDENTIALS_DIR: the role files of servers given by the environment (e.g. written by provisioning them). */
async function credentialsFromDir(dir: string): Promise<StackCredentials> {
  const out = {} as StackCredentials;
  for (const role of ROLES) {
    const c: RoleCredentials = await readCredentialFile(credentialFile(dir, role)).catch((err: unknown) => {
      throw new StackError('CONFIG_INVALID', 'credentials', `INTENTGATE_CREDENTIALS_DIR: cannot read ${credentialFile(dir, role)}: ${(err as Error).message}`,
        'Give a directory holding one <role>.json per role of the access catalog, or unset INTENTGATE_CREDENTIALS_DIR.');
    });
    out[role] = c;
  }
  return out;
}

export interface RunningStack {
  info: StackInfo;
  /** Seconds each part took to become ready. */
  timings: Record<string, number>;
  /** Idempotent: stops what this call started (nothing it was merely given). */
  stop(): Promise<void>;
}

export interface StartStackOptions {
  progress?: Progress;
  /** Build/fetch opa as part of the stack (policy tooling). Default true. */
  withOpa?: boolean;
}

async function timed<T>(timings: Record<string, number>, name: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await work();
  timings[name] = Math.round((performance.now() - started) / 100) / 10;
  return result;
}

async function opaVersion(path: string): Promise<string> {
  const { stdout } = await run(path, ['version'], { timeoutMs: 20_000 });
  return /Version: (\S+)/.exec(stdout)?.[1] ?? 'unknown';
}

/**
 * The one place that decides where the servers are. For each of Kafka, the schema registry and
 * Redis: the environment (KAFKA_BROKERS, SCHEMA_REGISTRY_URL, REDIS_URL) if set; else a
 * container when a container runtime answers; else a local process from infra/.
 */
export async function startStack(options: StartStackOptions = {}): Promise<RunningStack> {
  const progress = options.progress ?? (() => {});
  const env = readStackEnv();
  if (env.SCHEMA_REGISTRY_URL && registryEndpoint(env.SCHEMA_REGISTRY_URL).auth) {
    // This URL goes to every service and into stack.json: an admin's password in it would be every role's.
    throw new StackError('CONFIG_INVALID', 'schema-registry', 'SCHEMA_REGISTRY_URL carries credentials, and npm start gives that URL to every service and writes it to .intentgate/stack.json',
      'Give npm start the registry URL without user:password@ (services read schemas anonymously), and the admin\'s credentials only to provisioning: SCHEMA_REGISTRY_URL=http://user:password@host/… node infra/bin/provision.ts.');
  }
  const timings: Record<string, number> = {};
  const need = { kafka: !env.KAFKA_BROKERS, registry: !env.SCHEMA_REGISTRY_URL, redis: !env.REDIS_URL };
  const anyNeeded = need.kafka || need.registry || need.redis;

  const opa = options.withOpa === false ? null : timed(timings, 'opa', async () => {
    const path = await ensureOpa(progress);
    return { path, version: await opaVersion(path) };
  });
  opa?.catch(() => {}); // awaited below; avoid an unhandled rejection while the servers start

  let containers: StartedContainers | null = null;
  let group: ProcessGroup | null = null;
  let runDir: string | null = null;
  let stopped: Promise<void> | null = null;
  const stop = () =>
    (stopped ??= (async () => {
      // Reverse dependency order: clients of Kafka (the registry may use it) go first.
      await group?.stopAll();
      await containers?.stop();
      if (runDir) await rm(runDir, { recursive: true, force: true });
    })());

  try {
    const useContainers = anyNeeded && env.INTENTGATE_CONTAINERS === 'auto' && (await containerRuntimeAnswers());
    let local: { kafka?: LocalKafka; registry?: LocalRegistry; redis?: LocalRedis } = {};
    let credentials: StackCredentials | null = null;
    let credentialsDir: string | null = null;
    if (useContainers) {
      progress('a container runtime answered: starting containers with Testcontainers');
      containers = await timed(timings, 'containers', () => startContainers(need));
    } else if (anyNeeded) {
      runDir = await mkdtemp(join(tmpdir(), 'intentgate-stack-'));
      group = new ProcessGroup(runDir);
      // Users (SCRAM on the broker, ACL users in Redis) when the broker is ours to configure.
      if (need.kafka) {
        credentials = newCredentials();
        credentialsDir = join(runDir, 'credentials');
        await writeCredentialFiles(credentialsDir, credentials);
      }
      local = await startLocal(runDir, group, need, timings, progress, credentials);
    }
    const dir = process.env.INTENTGATE_CREDENTIALS_DIR?.trim();
    if (credentials === null && dir) {
      credentials = await credentialsFromDir(dir);
      credentialsDir = dir;
    }
    const c = containers;
    const kafka: StackInfo['kafka'] = env.KAFKA_BROKERS
      ? { source: 'env', brokers: env.KAFKA_BROKERS, version: 'external' }
      : c ? { source: 'container', brokers: c.brokers ?? [], version: IMAGES.kafka }
      : { source: 'local', brokers: local.kafka!.brokers, version: local.kafka!.version, pid: local.kafka!.process.pid };
    const schemaRegistry: StackInfo['schemaRegistry'] = env.SCHEMA_REGISTRY_URL
      ? { source: 'env', url: env.SCHEMA_REGISTRY_URL, version: 'external' }
      : c ? { source: 'container', url: c.registryUrl ?? '', version: IMAGES.registry }
      : { source: 'local', url: local.registry!.url, version: `apicurio ${local.registry!.version}`, pid: local.registry!.process.pid };
    const redis: StackInfo['redis'] = env.REDIS_URL
      ? { source: 'env', url: env.REDIS_URL, version: 'external' }
      : c ? { source: 'container', url: c.redisUrl ?? '', version: IMAGES.redis }
      : { source: 'local', url: local.redis!.url, version: local.redis!.version, pid: local.redis!.process.pid };
    // The functions every service calls (no role but the provisioner may load or run scripts); a
    // new store begins its claim memory now (not at the first executor's claim, which would
    // refuse the warrants issued in between as older than the store).
    await provisionRedis(redisUrlOf({ credentials, redis }, 'provisioner'));
    // Whatever registry we use must have global compatibility BACKWARD (see ensureBackwardCompatibility).
    await ensureBackwardCompatibility(registryUrlOf({ credentials, schemaRegistry }, 'provisioner'));
    const opaInfo = opa ? await opa : { path: '', version: 'not fetched' };
    return { info: { kafka, schemaRegistry, redis, opa: opaInfo, credentials, credentialsDir }, timings, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A broker's users for these credentials: one SCRAM user per role, the provisioner a super user, a new broker password. */
export function kafkaSecurityOf(credentials: StackCredentials | null): KafkaSecurity {
  const roles = credentials ? ROLES.map((r) => credentials[r]) : [];
  return {
    brokerPassword: newCredentials().provisioner.kafka.password,
    users: roles.map((c) => ({ username: c.kafka.username, password: c.kafka.password })),
    superUsers: roles.filter((c) => c.role === 'provisioner').map((c) => c.kafka.username),
  };
}

/** Local processes on 127.0.0.1, watched by a reaper in case this process dies without stopping them. */
async function startLocal(
  runDir: string,
  group: ProcessGroup,
  need: { kafka: boolean; registry: boolean; redis: boolean },
  timings: Record<string, number>,
  progress: Progress,
  credentials: StackCredentials | null,
): Promise<{ kafka?: LocalKafka; registry?: LocalRegistry; redis?: LocalRedis }> {
  const roles = credentials ? ROLES.map((r) => credentials[r]) : [];
  const kafkaSecurity = kafkaSecurityOf(credentials);
  const redisUsers = new Map(roles.flatMap((c) => (c.redis ? [[c.role, c.redis] as const] : [])));
  const redisAcl = credentials?.provisioner.redis ? { users: redisUsers, healthUser: credentials.provisioner.redis } : undefined;
  // Fetch first, one Maven run at a time (they share the local repository); warm, these are no-ops.
  await timed(timings, 'fetch', async () => {
    if (need.kafka) await ensureKafka(progress);
    if (need.registry) await ensureApicurio(progress);
  });
  spawnReaper(process.pid, runDir);
  // allSettled: when one server fails, the others have finished starting (and are in the group) before we stop them all.
  const [kafka, registry, redis] = await Promise.allSettled([
    need.kafka ? timed(timings, 'kafka', () => startKafka(runDir, group, progress, kafkaSecurity)) : undefined,
    need.registry ? timed(timings, 'schema-registry', () => startRegistry(runDir, group, progress, credentials?.provisioner.registry ?? undefined)) : undefined,
    need.redis ? timed(timings, 'redis', () => startRedis(runDir, group, progress, redisAcl)) : undefined,
  ]);
  for (const r of [kafka, registry, redis]) if (r.status === 'rejected') throw r.reason;
  const value = <T>(r: PromiseSettledResult<T | undefined>) => (r.status === 'fulfilled' ? r.value : undefined);
  const out: { kafka?: LocalKafka; registry?: LocalRegistry; redis?: LocalRedis } = {};
  const [k, s, d] = [value(kafka), value(registry), value(redis)];
  if (k) out.kafka = k;
  if (s) out.registry = s;
  if (d) out.redis = d;
  return out;
}
