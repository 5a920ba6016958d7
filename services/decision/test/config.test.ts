import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { certifyService, ensureLocalTrustDomain, ensureTrustMaterial } from '@intentgate/evidence';
import { ConfigError, configFromEnv } from '../src/config.ts';

const base = { KAFKA_BROKERS: '127.0.0.1:9092', SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8080/apis/ccompat/v7', REDIS_URL: 'redis://127.0.0.1:6379' };
let servers: Record<string, string>;
let stateDir: string;

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'ig-state-'));
  const { jwksFile } = await ensureLocalTrustDomain(join(stateDir, 'identity'), 'config.test');
  servers = { ...base, TRUST_BUNDLES: `config.test=${jwksFile}` };
  await ensureTrustMaterial(join(stateDir, 'trust'));
  await certifyService(join(stateDir, 'trust'), 'decision', 'decision');
});

describe('decision service configuration', () => {
  it('reads the environment with sensible defaults, and its signer from the state dir', async () => {
    const c = await configFromEnv(servers, null, stateDir);
    expect(c).toMatchObject({ brokers: ['127.0.0.1:9092'], tenant: 'default', warrantTtlSeconds: 30, contextFreshnessMs: 60_000, httpPort: 0 });
    expect(c.trust.signer).toMatchObject({ principal: 'intentgate-decision', uses: ['warrant', 'approval-request', 'receipt'] });
    expect(c.trust.roots.roots).toHaveLength(1);
  });

  it('requires identity: trust bundles, or INTENTGATE_IDENTITY=off said outright', async () => {
    const on = await configFromEnv(servers, null, stateDir);
    expect(on.identity).not.toBe('off');
    expect(on.identity !== 'off' && [...on.identity.trust.keys()]).toEqual(['config.test']);
    const missing = await configFromEnv(base, null, stateDir).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ConfigError);
    expect((missing as Error).message).toMatch(/identity is required and no trust bundles are configured: set TRUST_BUNDLES=.*or INTENTGATE_IDENTITY=off/);
    expect((await configFromEnv({ ...base, INTENTGATE_IDENTITY: 'off' }, null, stateDir)).identity).toBe('off');
    await expect(configFromEnv({ ...base, INTENTGATE_IDENTITY: 'no' }, null, stateDir)).rejects.toThrow(/INTENTGATE_IDENTITY/);
  });

  it('falls back to the stack file for servers', async () => {
    const c = await configFromEnv({ TRUST_BUNDLES: servers.TRUST_BUNDLES! }, { kafka: { brokers: ['a:1', 'b:2'] }, schemaRegistry: { url: 'http://r:1' }, redis: { url: 'redis://x:1' } }, stateDir);
    expect(c).toMatchObject({ brokers: ['a:1', 'b:2'], registryUrl: 'http://r:1', redisUrl: 'redis://x:1' });
  });

  it('refuses missing servers and out-of-range values with a typed error that says what to do', async () => {
    await expect(configFromEnv({}, null, stateDir)).rejects.toThrow(/run `npm start` first/);
    const err = await configFromEnv({ ...servers, WARRANT_TTL_SECONDS: '3600' }, null, stateDir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/WARRANT_TTL_SECONDS/);
  });

  it('refuses to start without a trust file or a signer, saying how to make them', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'ig-empty-'));
    const noTrust = await configFromEnv(servers, null, empty).catch((e: unknown) => e);
    expect(noTrust).toBeInstanceOf(ConfigError);
    expect((noTrust as Error).message).toMatch(/no trust file .*trust init/);
    const file = join(empty, 'signer.json');
    writeFileSync(file, '{"principal":"x"}');
    const badSigner = await configFromEnv({ ...servers, INTENTGATE_SIGNER_FILE: file }, null, stateDir).catch((e: unknown) => e);
    expect(badSigner).toBeInstanceOf(ConfigError);
    expect((badSigner as Error).message).toMatch(/signer file .*signer\.json/);
  });
});
