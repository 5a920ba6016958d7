import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { ACCESS, REDIS_CONNECTION_COMMANDS, type RoleSpec } from '@intentgate/contracts';
import { connect } from 'node:net';
import { join } from 'node:path';
import { run } from '../exec.ts';
import { ensureRedisServer, type Progress } from '../fetch.ts';
import { freePort } from '../ports.ts';
import type { ManagedProcess, ProcessGroup } from '../processes.ts';

export interface LocalRedis {
  url: string;
  version: string;
  process: ManagedProcess;
}

/** A Redis ACL user: its name and password. */
export interface RedisUser {
  username: string;
  password: string;
}

/**
 * The ACL file for the access catalog (Redis 7 syntax): `default` off, then one user per role with
 * a Redis spec, its password as a SHA-256 (the file holds no password), its key patterns (`%R~`
 * read only, `~` read and write) and its commands. Redis checks the keys and commands a script
 * (EVAL) runs against the caller's user too, and EVAL's own keys as read-write.
 */
export function aclFile(users: ReadonlyMap<string, RedisUser>, catalog: readonly RoleSpec[] = ACCESS): string {
  const lines = ['user default off resetkeys resetchannels -@all'];
  for (const spec of catalog) {
    const user = users.get(spec.role);
    if (spec.redis === null || user === undefined) continue;
    const hash = createHash('sha256').update(user.password).digest('hex');
    const keys = [...spec.redis.read.map((k) => `%R~${k}`), ...spec.redis.readWrite.map((k) => `~${k}`)];
    const commands = spec.redis.commands.includes('@all') ? ['+@all'] : ['-@all', ...[...REDIS_CONNECTION_COMMANDS, ...spec.redis.commands].map((c) => `+${c}`)];
    for (const part of [user.username, ...keys]) {
      if (/\s/.test(part)) throw new Error(`Redis ACL: whitespace in "${part}"`);
    }
    lines.push(`user ${user.username} on #${hash} resetkeys resetchannels ${spec.superUser ? '&* ' : ''}${keys.join(' ')} ${commands.join(' ')}`.replace(/ +/g, ' '));
  }
  return `${lines.join('\n')}\n`;
}

/** Sends PING over a raw connection (after AUTH when given): true on +PONG. */
export function redisPing(host: string, port: number, timeoutMs = 1_000, auth?: RedisUser): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    let seen = '';
    const bulk = (parts: string[]) => `*${parts.length}\r\n${parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join('')}`;
    socket.on('connect', () => socket.write(`${auth ? bulk(['AUTH', auth.username, auth.password]) : ''}PING\r\n`));
    socket.on('data', (d) => {
      seen += d.toString();
      if (seen.includes('+PONG')) done(true);
      else if (seen.includes('-')) done(false);
    });
  });
}

export interface RedisServerOptions {
  /** The loopback port; a free one when not given (a restart on the same port keeps its clients' URL). */
  port?: number;
  /**
   * An append-only file fsynced before each write is acknowledged (default): a claim an executor
   * was told it holds survives a crash of the server. false: nothing persisted (a scratch store).
   */
  persistence?: boolean;
}

/** The server's persistence arguments: AOF with fsync on every write, no snapshots, no eviction. */
export function persistenceArgs(persistence: boolean): string[] {
  // noeviction: a full store refuses writes (claims fail, decisions deny) rather than silently
  // dropping a claim, a remembered decision or the claim store's epoch.
  return persistence
    ? ['--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--maxmemory-policy', 'noeviction', ...LIMIT_ARGS]
    : ['--appendonly', 'no', '--save', '', '--maxmemory-policy', 'noeviction', ...LIMIT_ARGS];
}

/**
 * Bounds on what one client can make the server hold: memory (a role may write large values
 * under its own keys: at the limit Redis refuses writes, so claims fail and decisions deny), one
 * value, and one client's unparsed requests (a call of millions of keys held every other client
 * for most of a minute).
 */
const LIMIT_ARGS = ['--maxmemory', '2gb', '--proto-max-bulk-len', '8mb', '--client-query-buffer-limit', '32mb'];

/**
 * redis-server on a loopback port, persisted (see RedisServerOptions). With `users` (role →
 * user), its ACLs come from the access catalog and the default user is off; the health check
 * signs in as `healthUser`. Without, no authentication (a test's private Redis).
 */
export async function startRedis(
  runDir: string, group: ProcessGroup, progress: Progress, acl?: { users: ReadonlyMap<string, RedisUser>; healthUser: RedisUser }, options: RedisServerOptions = {},
): Promise<LocalRedis> {
  const bin = await ensureRedisServer(progress);
  const dir = join(runDir, 'redis');
  await mkdir(dir, { recursive: true });
  const port = options.port ?? await freePort();
  const aclArgs: string[] = [];
  if (acl) {
    const path = join(dir, 'users.acl');
    await writeFile(path, aclFile(acl.users), { mode: 0o600 });
    aclArgs.push('--aclfile', path);
  }
  const proc = group.start({
    name: 'redis',
    command: bin,
    args: ['--bind', '127.0.0.1', '--port', String(port), ...persistenceArgs(options.persistence ?? true), '--dir', dir, '--daemonize', 'no', ...aclArgs],
    logFile: join(dir, 'redis.log'),
  });
  await proc.waitHealthy(() => redisPing('127.0.0.1', port, 1_000, acl?.healthUser), 30_000, 'answering PING');
  const version = /v=(\S+)/.exec((await run(bin, ['--version'])).stdout)?.[1] ?? 'unknown';
  return { url: `redis://127.0.0.1:${port}`, version, process: proc };
}
