// The catalog against a registry that stops answering: a request that gets no answer is
// abandoned at its deadline and tried again, and a registry that never answers is a typed,
// retriable REGISTRY_UNAVAILABLE, never a start that waits forever.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BusError, SchemaCatalog } from '../src/index.ts';

const servers: Server[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** A Confluent-style registry whose first `stall` registrations are read and never answered. */
async function stallingRegistry(stall: number) {
  const seen = { posts: 0, abandoned: 0, configs: 0, lookups: 0, known: new Set<string>(), authorization: [] as string[] };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      seen.authorization.push(req.headers.authorization ?? '');
      if (req.method === 'GET' && req.url?.startsWith('/config/')) {
        seen.configs++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ compatibilityLevel: 'BACKWARD' }));
        return;
      }
      if (req.method === 'POST' && /^\/subjects\/[^/]+$/.test(req.url ?? '')) {
        seen.lookups++;
        if (seen.known.has(req.url!)) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 9 }));
        else res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error_code: 40403, message: 'Schema not found' }));
        return;
      }
      if (req.method === 'POST' && /^\/subjects\/[^/]+\/versions$/.test(req.url ?? '')) {
        seen.posts++;
        if (seen.posts <= stall) {
          res.on('close', () => seen.abandoned++); // the client gave up on it and closed the socket
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 7 }));
        return;
      }
      if (req.url?.startsWith('/forbidden/')) {
        res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ error_code: 40301, message: 'not allowed' }));
        return;
      }
      res.writeHead(404).end();
    });
  });
  const connections = { count: 0 };
  server.on('connection', () => connections.count++);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, connections };
}

const SCHEMA = JSON.stringify({ type: 'object', properties: { a: { type: 'string' } } });

describe('SchemaCatalog against a registry that does not answer', () => {
  it('abandons an unanswered registration at its deadline and registers on the next try', async () => {
    const registry = await stallingRegistry(2);
    const catalog = new SchemaCatalog(registry.url, { requestTimeoutMs: 300, attempts: 4 });
    await expect(catalog.registerSchema('t-value', SCHEMA)).resolves.toBe(7);
    expect(registry.seen.posts).toBe(3);
    expect(registry.seen.abandoned).toBe(2);
  });

  it('sends each request on a connection of its own (no keep-alive reuse, where Apicurio lost a POST)', async () => {
    const registry = await stallingRegistry(0);
    const catalog = new SchemaCatalog(registry.url);
    await catalog.registerSchema('a-value', SCHEMA);
    await catalog.registerSchema('b-value', SCHEMA);
    expect(registry.seen.posts).toBe(2);
    expect(registry.seen.lookups).toBe(2); // looked up first: not there yet
    expect(registry.connections.count).toBe(registry.seen.posts + registry.seen.configs + registry.seen.lookups);
    expect(registry.seen.configs).toBeGreaterThan(0); // the client asks for the subject's compatibility first
  });

  it('gives up after its attempts with a retriable REGISTRY_UNAVAILABLE that says what to do', async () => {
    const registry = await stallingRegistry(Number.POSITIVE_INFINITY);
    const catalog = new SchemaCatalog(registry.url, { requestTimeoutMs: 200, attempts: 3 });
    const err = await catalog.registerSchema('t-value', SCHEMA).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(BusError);
    expect(err).toMatchObject({ code: 'REGISTRY_UNAVAILABLE', retriable: true });
    expect((err as BusError).message).toMatch(/t-value/);
    expect((err as BusError).hint).toMatch(/SCHEMA_REGISTRY_URL/);
    expect(registry.seen.posts).toBe(3);
  });

  it('a registry that refuses (403) is not asked again: a non-retriable REGISTRY_REFUSED with what to do', async () => {
    const registry = await stallingRegistry(0);
    const catalog = new SchemaCatalog(`${registry.url}/forbidden`, { requestTimeoutMs: 2_000, attempts: 4 });
    const err = await catalog.registerSchema('t-value', SCHEMA).then(() => null, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'REGISTRY_REFUSED', retriable: false });
    expect((err as BusError).hint).toMatch(/provision/);
  });

  it('looks a schema up before registering it: a provisioned schema costs a reader no registration (which only the provisioner may make)', async () => {
    const registry = await stallingRegistry(0);
    registry.seen.known.add('/subjects/a-value');
    const catalog = new SchemaCatalog(registry.url);
    expect(await catalog.registerSchema('a-value', SCHEMA)).toBe(9);
    expect([registry.seen.lookups, registry.seen.posts, registry.seen.configs]).toEqual([1, 0, 0]);
  });

  it('sends the credentials of the URL as basic auth on every request, and keeps them out of its URL', async () => {
    const registry = await stallingRegistry(0);
    const url = new URL(registry.url);
    url.username = 'provisioner';
    url.password = 'p@ss:word';
    const catalog = new SchemaCatalog(url.toString());
    expect(catalog.url).toBe(registry.url);
    await catalog.registerSchema('c-value', SCHEMA);
    const expected = `Basic ${Buffer.from('provisioner:p@ss:word').toString('base64')}`;
    expect(registry.seen.authorization.length).toBeGreaterThanOrEqual(3);
    expect(new Set(registry.seen.authorization)).toEqual(new Set([expected]));
  });
});
