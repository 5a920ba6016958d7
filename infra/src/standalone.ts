import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessGroup } from './processes.ts';
import { spawnReaper } from './reaper.ts';
import { startRedis } from './servers/redis.ts';

export interface StandaloneServer {
  url: string;
  pid: number;
  /** Hard kill, as a crash would: for failure tests. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** A private redis-server for a test that needs to kill its context store. */
export async function startStandaloneRedis(): Promise<StandaloneServer> {
  const runDir = await mkdtemp(join(tmpdir(), 'intentgate-redis-'));
  const group = new ProcessGroup(runDir);
  spawnReaper(process.pid, runDir);
  const redis = await startRedis(runDir, group, () => {});
  return {
    url: redis.url,
    pid: redis.process.pid,
    kill: async () => {
      process.kill(redis.process.pid, 'SIGKILL');
      await redis.process.exited;
    },
    stop: async () => {
      await group.stopAll();
      await rm(runDir, { recursive: true, force: true });
    },
  };
}
