import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readStackEnv } from '../src/config.ts';
import { StackError } from '../src/errors.ts';
import { freePort } from '../src/ports.ts';
import { PidFile, isSameProcess, processStartTime, ProcessGroup } from '../src/processes.ts';
import { assertNodeVersion } from '../src/node-version.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'intentgate-unit-'));
  dirs.push(d);
  return d;
}

describe('stack environment', () => {
  it('reads servers from the environment, trimming and splitting brokers', () => {
    const env = readStackEnv({
      KAFKA_BROKERS: ' 127.0.0.1:9092 , localhost:9093 ',
      SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8080/apis/ccompat/v7/',
      REDIS_URL: 'redis://127.0.0.1:6379',
    });
    expect(env.KAFKA_BROKERS).toEqual(['127.0.0.1:9092', 'localhost:9093']);
    expect(env.SCHEMA_REGISTRY_URL).toBe('http://127.0.0.1:8080/apis/ccompat/v7');
    expect(env.INTENTGATE_CONTAINERS).toBe('auto');
  });
  it('treats blank variables as unset', () => {
    expect(readStackEnv({ KAFKA_BROKERS: '  ', REDIS_URL: '' })).toEqual({ INTENTGATE_CONTAINERS: 'auto' });
  });
  it('refuses malformed values with a typed error that says what to do', () => {
    try {
      readStackEnv({ KAFKA_BROKERS: 'no-port', REDIS_URL: 'http://x' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(StackError);
      const e = err as StackError;
      expect(e.code).toBe('CONFIG_INVALID');
      expect(e.message).toMatch(/KAFKA_BROKERS/);
      expect(e.message).toMatch(/REDIS_URL/);
      expect(e.render()).toMatch(/what to do: .*KAFKA_BROKERS=host:port/);
      expect(e.render()).not.toMatch(/\n\s+at /); // no stack trace
    }
  });
});

describe('node version', () => {
  it('refuses Node 20 with WRONG_NODE and accepts 24', () => {
    expect(() => assertNodeVersion('20.20.2')).toThrow(/Node 24\+/);
    expect(() => assertNodeVersion('24.21.0')).not.toThrow();
  });
});

describe('ports', () => {
  it('hands out a port that can be bound on 127.0.0.1', async () => {
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise((r) => server.close(r));
    expect(port).toBeGreaterThan(0);
  });
});

describe('process tracking', () => {
  it('tells a live process from a dead one by PID and start time', async () => {
    const child = spawn('sleep', ['30']);
    const record = { name: 'sleep', pid: child.pid!, startTime: processStartTime(child.pid!)! };
    expect(isSameProcess(record)).toBe(true);
    expect(isSameProcess({ ...record, startTime: '1' })).toBe(false); // a reused PID would differ here
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    expect(isSameProcess(record)).toBe(false);
  });

  it('a process group records what it starts and stops all of it', async () => {
    const dir = tempDir();
    const group = new ProcessGroup(dir);
    const a = group.start({ name: 'a', command: 'sleep', args: ['30'], logFile: join(dir, 'a.log') });
    const b = group.start({ name: 'b', command: 'sleep', args: ['30'], logFile: join(dir, 'b.log') });
    expect(new PidFile(dir).read().map((r) => r.name)).toEqual(['a', 'b']);
    await group.stopAll();
    expect(a.running || b.running).toBe(false);
    expect(new PidFile(dir).read()).toEqual([]);
  });

  it('a process that dies before it is healthy fails the wait with its log', async () => {
    const dir = tempDir();
    const group = new ProcessGroup(dir);
    const p = group.start({ name: 'doomed', command: 'sh', args: ['-c', 'echo cannot bind port >&2; exit 3'], logFile: join(dir, 'd.log') });
    await expect(p.waitHealthy(async () => false, 10_000, 'listening')).rejects.toThrow(/exited \(code 3\).*\n.*cannot bind port/);
  });
});

describe('kafka cluster ids', () => {
  it('are 22 base64url characters and never start with "-" (the format tool would read an option)', async () => {
    const { newClusterId } = await import('../src/servers/kafka.ts');
    for (let i = 0; i < 5_000; i++) {
      const id = newClusterId();
      expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
    }
  });
});
