// The local issuer end to end: a trust domain, SVIDs and delegation tokens made with the
// `intentgate identity` command, trusted by a decision worker through TRUST_BUNDLES, and a
// revocation published on the bus with `intentgate identity revoke`.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleIntent } from '@intentgate/contracts/examples';
import { main } from '@intentgate/cli';
import { ContextStore } from '@intentgate/context';
import { DecisionService, configFromEnv } from '@intentgate/decision';
import { AgentClient } from '@intentgate/sdk';
import { activate, connection, eventually, roleEnv, serviceTrust, stack, starterBundle, testBus, testLogger, testTrust, uniqueGroup, registerAgents } from '@intentgate/test';

const TD = 'cli.test';
const bus = testBus();
const stoppers: Array<() => Promise<unknown>> = [];
let dir: string;
let agent: AgentClient;

async function cli(...args: string[]): Promise<string[]> {
  const lines: string[] = [];
  const code = await main(args, (l) => lines.push(l), (l) => lines.push(l));
  if (code !== 0) throw new Error(`intentgate ${args.join(' ')} → ${code}: ${lines.join('\n')}`);
  return lines;
}

beforeAll(async () => {
  const s = stack();
  dir = await mkdtemp(join(tmpdir(), 'ig-identity-cli-'));
  await cli('identity', 'init', TD, '--out', dir);
  const tenant = `cli-${randomUUID().slice(0, 8)}`;
  await activate(bus, await starterBundle(), { version: '1', tenant, by: 'test' });
  const store = new ContextStore({ redisUrl: connection('provisioner').redisUrl, freshnessMs: 600_000 });
  await store.connect();
  await store.markSynced();
  await store.close();
  await registerAgents([`spiffe://${TD}/agents/reporter`, `spiffe://${TD}/agents/rotator`]);
  // The worker's identity settings come from the same configuration path a deployment uses.
  const fromEnv = await configFromEnv({
    ...roleEnv('provisioner'),
    TRUST_BUNDLES: `${TD}=${join(dir, `${TD}.jwks.json`)}`, MAX_DELEGATION_DEPTH: '3', TRUST_REFRESH_MS: '1000', DECISION_TENANT: tenant, CONTEXT_FRESHNESS_MS: '600000',
    INTENTGATE_TRUST_FILE: (await testTrust()).paths.trustFile, INTENTGATE_SIGNER_FILE: (await serviceTrust('decision')).signerFile,
  });
  const service = await DecisionService.start({ ...fromEnv, groupId: uniqueGroup('identity-cli'), logger: testLogger() });
  stoppers.push(() => service.stop());
  agent = await AgentClient.connect({ ...connection('agent-platform'), trust: { roots: (await testTrust()).roots } });
  stoppers.push(() => agent.close());
}, 600_000);

afterAll(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => {});
  await bus.close();
  await rm(dir, { recursive: true, force: true });
});

describe('intentgate identity', () => {
  it('tokens from the local issuer are allowed; revoking the link on the bus denies the next intent', async () => {
    const key = join(dir, `${TD}.key.json`);
    const agentId = `spiffe://${TD}/agents/reporter`;
    const [svid] = await cli('identity', 'svid', agentId, '--key', key, '--ttl', '300');
    const [token, jtiLine] = await cli('identity', 'delegate', '--key', key, '--from', 'dana@cli.test', '--from-kind', 'human', '--to', agentId, '--to-kind', 'agent', '--scope', 'data:*');
    const jti = /jti ([0-9a-f-]{36})/.exec(jtiLine!)![1]!;
    const intent = () => ({ ...exampleIntent(), action: { name: 'data.query', domain: 'data' as const, reversible: true }, resource: { type: 'table', id: 'cli.table', properties: { sensitivity: 'internal' as const } }, context: {} });
    const credentials = { svid: svid!, delegation: [token!] };
    expect((await agent.decide(intent(), 30_000, credentials)).verdict).toBe('allow');

    const s = stack();
    // The CLI as the operator (the role that may publish revocations).
    const operator = roleEnv('operator');
    const names = ['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL', 'KAFKA_USERNAME', 'KAFKA_PASSWORD', 'KAFKA_SASL_MECHANISM'] as const;
    const saved = Object.fromEntries(names.map((n) => [n, process.env[n]]));
    for (const n of names) if (operator[n] !== undefined) process.env[n] = operator[n];
    process.env.KAFKA_BROKERS = s.kafka.brokers.join(',');
    process.env.SCHEMA_REGISTRY_URL = s.schemaRegistry.url;
    try {
      expect(await cli('identity', 'revoke', jti, '--kind', 'delegation', '--reason', 'test')).toEqual([`revoked delegation ${jti}`]);
    } finally {
      for (const n of names) {
        if (saved[n] === undefined) delete process.env[n];
        else process.env[n] = saved[n];
      }
    }
    let last = '';
    await eventually(() => last === 'DELEGATION_REVOKED', 'the revocation to take effect', 30_000, async () => {
      last = (await agent.decide(intent(), 30_000, credentials)).reasons[0]!.code;
    });
  });

  it('a rotated trust bundle is picked up without a restart: the new key is trusted, the retired one is not', async () => {
    const { exportPrivateJwk, generateSigningKey, jwksOf } = await import('@intentgate/evidence');
    const { writeFile } = await import('node:fs/promises');
    const oldKey = join(dir, `${TD}.key.json`);
    const agentId = `spiffe://${TD}/agents/rotator`;
    const oldSvid = (await cli('identity', 'svid', agentId, '--key', oldKey))[0]!;
    const fresh = await generateSigningKey(`${TD}-rotated`);
    const newKey = join(dir, 'rotated.key.json');
    await writeFile(newKey, JSON.stringify({ trust_domain: TD, jwk: await exportPrivateJwk(fresh) }));
    await writeFile(join(dir, `${TD}.jwks.json`), JSON.stringify(jwksOf([fresh])));
    const newSvid = (await cli('identity', 'svid', agentId, '--key', newKey))[0]!;
    const grant = (keyFile: string) => cli('identity', 'delegate', '--key', keyFile, '--from', 'erin@cli.test', '--to', agentId, '--scope', 'data:*').then((l) => l[0]!);
    const intent = () => ({ ...exampleIntent(), action: { name: 'data.query', domain: 'data' as const, reversible: true }, resource: { type: 'table', id: 'cli.table', properties: { sensitivity: 'internal' as const } }, context: {} });
    const newCredentials = { svid: newSvid, delegation: [await grant(newKey)] };
    let verdict = '';
    await eventually(() => verdict === 'allow', 'the rotated key to be trusted', 30_000, async () => {
      verdict = (await agent.decide(intent(), 30_000, newCredentials)).verdict;
    });
    const retired = await agent.decide(intent(), 30_000, { svid: oldSvid, delegation: [await grant(oldKey)] });
    expect(retired.reasons[0]!.code).toBe('SVID_BAD_SIGNATURE');
  });

  it('a bad TRUST_BUNDLES entry is a configuration error that says what to do', async () => {
    const s = stack();
    const base = {
      ...roleEnv('provisioner'),
      INTENTGATE_TRUST_FILE: (await testTrust()).paths.trustFile, INTENTGATE_SIGNER_FILE: (await serviceTrust('decision')).signerFile,
    };
    await expect(configFromEnv({ ...base, TRUST_BUNDLES: 'nodomain' })).rejects.toThrow(/not <trust-domain>=<JWKS file or URL>/);
    await expect(configFromEnv({ ...base, TRUST_BUNDLES: `${TD}=/nope.json` })).rejects.toThrow(/cannot load/);
  });
});
