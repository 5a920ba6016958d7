import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { StackError } from '../errors.ts';
import { ensureApicurio, type Progress } from '../fetch.ts';
import { freePort } from '../ports.ts';
import type { ManagedProcess, ProcessGroup } from '../processes.ts';

export interface LocalRegistry {
  /** The Confluent-compatible API root, as @kafkajs/confluent-schema-registry wants it. */
  url: string;
  version: string;
  process: ManagedProcess;
}

export const CCOMPAT_PATH = '/apis/ccompat/v7';

/**
 * Makes sure the registry's global compatibility is BACKWARD. Apicurio answers GET /config/{subject}
 * with the global level even for subjects without their own rule, and the client then refuses
 * to register unless that level equals what it asks for.
 */
export async function ensureBackwardCompatibility(url: string): Promise<void> {
  const current = await fetch(`${url}/config`, { signal: AbortSignal.timeout(10_000) }).then((r) => (r.ok ? (r.json() as Promise<{ compatibilityLevel?: string }>) : null));
  if (current?.compatibilityLevel?.toUpperCase() === 'BACKWARD') return;
  const put = await fetch(`${url}/config`, {
    method: 'PUT', signal: AbortSignal.timeout(10_000),
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ compatibility: 'BACKWARD' }),
  });
  if (!put.ok) {
    throw new StackError('START_FAILED', 'schema-registry', `could not set global compatibility to BACKWARD: HTTP ${put.status} ${await put.text()}`,
      'Set it by hand: PUT <registry>/config {"compatibility":"BACKWARD"}.');
  }
}

export async function registryAnswers(url: string): Promise<boolean> {
  const res = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2_000) });
  return res.ok;
}

/** Apicurio Registry 3.x, in-memory storage, Confluent-compatible API. */
export async function startRegistry(runDir: string, group: ProcessGroup, progress: Progress): Promise<LocalRegistry> {
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
    cwd: dir,
    logFile: join(dir, 'registry.log'),
  });
  const url = `http://127.0.0.1:${port}${CCOMPAT_PATH}`;
  await proc.waitHealthy(() => registryAnswers(url), 180_000, 'answering /subjects');
  await ensureBackwardCompatibility(url);
  return { url, version: apicurio.version, process: proc };
}
