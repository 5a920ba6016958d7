import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROLES, roleSpec, type Role } from '@intentgate/contracts';

/** One role's secrets for the local stack: its SCRAM user on the broker, its Redis ACL user, its registry user. */
export interface RoleCredentials {
  role: Role;
  kafka: { mechanism: 'scram-sha-512'; username: string; password: string };
  /** null for roles without Redis access. */
  redis: { username: string; password: string } | null;
  /**
   * The schema registry's user: the provisioner's only (it registers the schemas); every other
   * role reads schemas without one, and may not register, delete or reconfigure anything.
   * Absent in role files written before the registry had users.
   */
  registry?: { username: string; password: string } | null;
}

export type StackCredentials = Record<Role, RoleCredentials>;

/** Random, URL- and StorageTool-safe (no ',', '=', ']', ':' or '@'). */
function secret(): string {
  return randomBytes(24).toString('hex');
}

/** Fresh passwords for every role in the access catalog (the local stack makes new ones per start). */
export function newCredentials(): StackCredentials {
  const out = {} as StackCredentials;
  for (const role of ROLES) {
    out[role] = {
      role,
      kafka: { mechanism: 'scram-sha-512', username: role, password: secret() },
      redis: roleSpec(role).redis === null ? null : { username: role, password: secret() },
      registry: role === 'provisioner' ? { username: role, password: secret() } : null,
    };
  }
  return out;
}

/** `baseUrl` with `user` as its user:password (as given when there is none). */
export function urlWithUser(baseUrl: string, user: { username: string; password: string } | null | undefined): string {
  if (!user) return baseUrl;
  const url = new URL(baseUrl);
  url.username = encodeURIComponent(user.username);
  url.password = encodeURIComponent(user.password);
  return url.toString().replace(/\/$/, '');
}

/** The Redis URL a role connects with: the server's URL with that role's user and password. */
export function redisUrlFor(baseUrl: string, credentials: RoleCredentials | undefined): string {
  return urlWithUser(baseUrl, credentials?.redis);
}

/** The registry URL a role connects with: the provisioner's with its user and password, every other role's without. */
export function registryUrlFor(baseUrl: string, credentials: RoleCredentials | undefined): string {
  return urlWithUser(baseUrl, credentials?.registry);
}

export function credentialFile(dir: string, role: Role): string {
  return join(dir, `${role}.json`);
}

/**
 * One file per role, `<dir>/<role>.json`, mode 0600 in a 0700 directory: a process started as
 * one role is given that file (KAFKA_CREDENTIALS_FILE) and can read no other's.
 */
export async function writeCredentialFiles(dir: string, credentials: StackCredentials): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  for (const role of ROLES) {
    const path = credentialFile(dir, role);
    await writeFile(path, `${JSON.stringify(credentials[role], null, 2)}\n`, { mode: 0o600 });
    await chmod(path, 0o600); // an existing file keeps its mode on write
  }
}

export async function readCredentialFile(path: string): Promise<RoleCredentials> {
  return JSON.parse(await readFile(path, 'utf8')) as RoleCredentials;
}
