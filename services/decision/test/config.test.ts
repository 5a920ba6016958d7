import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportPrivateJwk, generateSigningKey } from '@intentgate/evidence';
import { ConfigError, configFromEnv } from '../src/config.ts';

const servers = { KAFKA_BROKERS: '127.0.0.1:9092', SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8080/apis/ccompat/v7', REDIS_URL: 'redis://127.0.0.1:6379' };

describe('decision service configuration', () => {
  it('reads the environment with sensible defaults', async () => {
    const c = await configFromEnv(servers);
    expect(c).toMatchObject({ brokers: ['127.0.0.1:9092'], tenant: 'default', warrantTtlSeconds: 30, contextFreshnessMs: 60_000, httpPort: 0 });
    expect(c.key).toBeUndefined();
  });

  it('falls back to the stack file for servers', async () => {
    const c = await configFromEnv({}, { kafka: { brokers: ['a:1', 'b:2'] }, schemaRegistry: { url: 'http://r:1' }, redis: { url: 'redis://x:1' } });
    expect(c).toMatchObject({ brokers: ['a:1', 'b:2'], registryUrl: 'http://r:1', redisUrl: 'redis://x:1' });
  });

  it('refuses missing servers and out-of-range values with a typed error that says what to do', async () => {
    await expect(configFromEnv({})).rejects.toThrow(/run `npm start` first/);
    const err = await configFromEnv({ ...servers, WARRANT_TTL_SECONDS: '3600' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/WARRANT_TTL_SECONDS/);
  });

  it('loads a warrant key from a JWK file, and refuses a bad one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ig-key-'));
    const file = join(dir, 'key.json');
    writeFileSync(file, JSON.stringify(await exportPrivateJwk(await generateSigningKey('prod-1'))));
    expect((await configFromEnv({ ...servers, WARRANT_KEY_FILE: file })).key?.kid).toBe('prod-1');
    writeFileSync(file, '{"kty":"OKP"}');
    await expect(configFromEnv({ ...servers, WARRANT_KEY_FILE: file })).rejects.toThrow(/WARRANT_KEY_FILE/);
  });
});
