import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessGroup } from './processes.ts';
import { spawnReaper } from './reaper.ts';
import { startRedis } from './servers/redis.ts';
import { provisionRedis } from './redis-functions.ts';
import { startKafka, type KafkaSecurity } from './servers/kafka.ts';

export interface StandaloneServer {
  url: string;
  readonly pid: number;
  /** Hard kill, as a crash would: for failure tests. */
  kill(): Promise<void>;
  /**
   * Starts the server again on the same port after kill(): with what its append-only file kept,
   * or `{ empty: true }` with nothing (its files deleted first, as a lost disk or a new instance).
   */
  restart(options?: { empty?: boolean; provision?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A private redis-server for a test that needs to kill its context store: persisted as the local
 * stack's is unless `{ persistence: false }`, and provisioned as the stack's is (its functions
 * loaded, its claim memory begun). A restart provisions it again, as an operator does after
 * restoring a store (a store that lost its data lost the functions too), unless
 * `{ provision: false }`: a store nobody provisioned again, which every caller refuses to use.
 */
export async function startStandaloneRedis(options: { persistence?: boolean } = {}): Promise<StandaloneServer> {
  const runDir = await mkdtemp(join(tmpdir(), 'intentgate-redis-'));
  const group = new ProcessGroup(runDir);
  spawnReaper(process.pid, runDir);
  let redis = await startRedis(runDir, group, () => {}, undefined, options);
  const port = Number(new URL(redis.url).port);
  await provisionRedis(redis.url);
  return {
    url: redis.url,
    get pid() {
      return redis.process.pid;
    },
    kill: async () => {
      process.kill(redis.process.pid, 'SIGKILL');
      await redis.process.exited;
    },
    restart: async ({ empty = false, provision = true } = {}) => {
      if (empty) await rm(join(runDir, 'redis'), { recursive: true, force: true });
      redis = await startRedis(runDir, group, () => {}, undefined, { ...options, port });
      // A store that kept its data keeps its epoch; one that lost it begins now.
      if (provision) await provisionRedis(redis.url);
    },
    stop: async () => {
      await group.stopAll();
      await rm(runDir, { recursive: true, force: true });
    },
  };
}

export interface StandaloneKafka {
  brokers: string[];
  /** The broker's current pid (a new one after restart()). */
  readonly pid: number;
  /** Hard kill (SIGKILL), as a crash would; resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts the killed broker again on the same data directory and ports; resolves once it answers. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A private one-node KRaft broker for a test that needs to kill and restart its broker. */
export async function startStandaloneKafka(security: KafkaSecurity): Promise<StandaloneKafka> {
  const runDir = await mkdtemp(join(tmpdir(), 'intentgate-kafka-'));
  const group = new ProcessGroup(runDir);
  spawnReaper(process.pid, runDir);
  try {
    const kafka = await startKafka(runDir, group, () => {}, security);
    return {
      brokers: kafka.brokers,
      get pid() {
        return kafka.process.pid;
      },
      kill: async () => {
        if (kafka.process.running) process.kill(kafka.process.pid, 'SIGKILL');
        await kafka.process.exited;
      },
      restart: () => kafka.restart(),
      stop: async () => {
        await group.stopAll();
        await rm(runDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await group.stopAll();
    await rm(runDir, { recursive: true, force: true });
    throw err;
  }
}
