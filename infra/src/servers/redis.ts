import { mkdir } from 'node:fs/promises';
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

/** Sends PING over a raw connection: true on +PONG. */
export function redisPing(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

/** redis-server on a free loopback port, nothing persisted (the context store is rebuilt from the bus). */
export async function startRedis(runDir: string, group: ProcessGroup, progress: Progress): Promise<LocalRedis> {
  const bin = await ensureRedisServer(progress);
  const dir = join(runDir, 'redis');
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const proc = group.start({
    name: 'redis',
    command: bin,
    args: ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'],
    logFile: join(dir, 'redis.log'),
  });
  await proc.waitHealthy(() => redisPing('127.0.0.1', port), 30_000, 'answering PING');
  const version = /v=(\S+)/.exec((await run(bin, ['--version'])).stdout)?.[1] ?? 'unknown';
  return { url: `redis://127.0.0.1:${port}`, version, process: proc };
}
