// Reading a topic through says "read" only when it was: a batch that fails and is retried (the
// schema registry down) delivers nothing, which is not the quiet tail of a topic. The operator's
// `agents list` once printed "no agents registered" over a registry it could not read.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { Bus } from '@intentgate/bus';
import { publishRegistration, readRegistry } from '@intentgate/decision';
import { connection, testBus, testTrust } from '@intentgate/test';

const buses: Bus[] = [];
afterAll(async () => {
  for (const b of buses) await b.close().catch(() => {});
});

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

describe('reading a catalog topic through', () => {
  it('over a schema registry that does not answer: an error, never an empty catalog', async () => {
    const { roots, operator } = await testTrust();
    const operatorBus = testBus(`intentgate-operator-reader-${randomUUID().slice(0, 8)}`, 'operator');
    buses.push(operatorBus);
    const agent = `spiffe://example.org/agents/reader-${randomUUID().slice(0, 8)}`;
    await publishRegistration(operatorBus, { agent, owner: 'alice@example.org', autonomy: 'assisted', domains: ['data'], actions: ['*'], status: 'active', reason: 'test' }, operator, undefined);
    // The same principal, through a registry address where nothing answers.
    const blind = new Bus({ ...connection('operator'), registryUrl: `http://127.0.0.1:${await deadPort()}/apis/ccompat/v7`, clientId: `intentgate-operator-blind-${randomUUID().slice(0, 8)}` });
    buses.push(blind);
    await expect(readRegistry(blind, roots, { timeoutMs: 8_000 })).rejects.toMatchObject({ code: 'REGISTRY_UNAVAILABLE' });
    // A registry that takes the connection and never answers: a batch held longer than any silence window.
    const hung = createServer(() => {});
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    try {
      const held = new Bus({ ...connection('operator'), registryUrl: `http://127.0.0.1:${(hung.address() as { port: number }).port}/apis/ccompat/v7`, clientId: `intentgate-operator-hung-${randomUUID().slice(0, 8)}` });
      buses.push(held);
      await expect(readRegistry(held, roots, { timeoutMs: 6_000 })).rejects.toMatchObject({ code: 'REGISTRY_UNAVAILABLE' });
    } finally {
      hung.close();
    }
    // Through the registry that answers, the entry is there.
    expect((await readRegistry(operatorBus, roots)).get(agent)).toMatchObject({ status: 'active' });
  });
});
