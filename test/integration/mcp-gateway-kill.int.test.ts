// The MCP gateway killed (SIGKILL, a child process) while a tool call waits for its decision
// (its intent is on the topic): the caller gets an error, never a result, and after a restart a
// call runs exactly once.
// A file of its own: no other decision worker may be running on the intents topic meanwhile.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { DecisionService } from '@intentgate/decision';
import { activate, connection, eventually, freshContext, roleEnv, serviceTrust, stack, testBus, testLogger, testTrust, uniqueGroup, variantBundle } from '@intentgate/test';

const bus = testBus();
const stoppers: Array<() => Promise<unknown>> = [];

afterAll(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => {});
  await bus.close();
});

describe('MCP gateway killed while a call waits', () => {
  it('the caller gets an error, never a result; after a restart the call runs exactly once', async () => {
    const { spawn } = await import('node:child_process');
    const { createServer } = await import('node:http');
    const { join } = await import('node:path');
    const { StreamableHTTPServerTransport } = await import('@modelcontextprotocol/sdk/server/streamableHttp.js');
    const { projectRoot } = await import('@intentgate/infra');
    const s = stack();

    // An upstream over streamable HTTP with its own log of the calls that reached it.
    const calls: string[] = [];
    const http = createServer((req, res) => {
      const server = new McpServer({ name: 'remote', version: '1.0.0' });
      server.registerTool('search', { description: 'search', inputSchema: { query: z.string() } }, async ({ query }) => {
        calls.push(query);
        return { content: [{ type: 'text', text: `results for ${query}` }] };
      });
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      res.on('close', () => void transport.close());
      void server.connect(transport).then(() => transport.handleRequest(req, res));
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    stoppers.push(() => new Promise<void>((r) => http.close(() => r())));
    const upstreamUrl = `http://127.0.0.1:${(http.address() as import('node:net').AddressInfo).port}/mcp`;

    // A decision worker for this test's tenant, not running while the call waits, so no decision comes.
    const tenant = `mcp-kill-${randomUUID().slice(0, 8)}`;
    const group = uniqueGroup('mcp-kill');
    // The starter policy, with remote/search on the tool allowlist.
    const bundle = await variantBundle((_data, catalog) => (catalog.mcp_tools['remote/search'] = { reversible: true, impact: 'low' }));
    await activate(bus, bundle, { version: '1', tenant, by: 'test' });
    // Its agent registered and the store marked synced, as the context feeder does: the file stands alone.
    await freshContext();
    const workerTrust = await serviceTrust('decision');
    const startWorker = () => DecisionService.start({
    identity: 'off', // not what this exercises; each start records the mode change
      trust: workerTrust,
      ...connection('provisioner'), tenant, groupId: group, contextFreshnessMs: 600_000,
      logger: testLogger(),
    });

    const AGENT_ID = 'spiffe://example.org/agents/remote-user';
    // The agent's bearer token; the gateway is given its digest only.
    const { newBearerToken } = await import('@intentgate/evidence');
    const token = newBearerToken('igm');
    const withToken = { requestInit: { headers: { Authorization: `Bearer ${token.token}` } } };
    const stdioEnv = {
      ...process.env, ...roleEnv('provisioner'),
      INTENTGATE_TRUST_FILE: (await testTrust()).paths.trustFile,
      MCP_UPSTREAMS: `remote=${upstreamUrl}`, MCP_AGENT_ID: AGENT_ID, MCP_TOKEN_SHA256: token.sha256,
      MCP_DELEGATION: JSON.stringify([{ principal: 'alice@example.org', kind: 'human', scope: ['*'] }, { principal: AGENT_ID, kind: 'agent', scope: ['ai:*'] }]),
    };
    const launch = () => {
      const child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', join(projectRoot, 'services', 'gateway', 'src', 'mcp-main.ts')], {
        env: stdioEnv,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      stoppers.push(async () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
      const ready = new Promise<string>((resolve, reject) => {
        let err = '';
        child.stderr!.on('data', (d: Buffer) => {
          err += d.toString();
          const m = /mcp gateway ready: (http\S+)/.exec(err);
          if (m) resolve(m[1]!);
        });
        child.on('exit', (code) => reject(new Error(`mcp gateway exited ${code}: ${err}`)));
      });
      return { child, ready };
    };

    const first = launch();
    const caller = new Client({ name: 'remote-agent', version: '1.0.0' });
    await caller.connect(new StreamableHTTPClientTransport(new URL(await first.ready), withToken));
    // The gateway's intent for the call, seen on the intents topic: the call is waiting for its decision when the gateway dies.
    const submitted: string[] = [];
    const watch = bus.consumer<'Intent'>({
      groupId: uniqueGroup('mcp-kill-intents'), topics: ['intents'], fromBeginning: false,
      handle: async (records) => {
        for (const r of records) if (r.value.resource.id === 'remote/search' && r.value.subject.id === AGENT_ID) submitted.push(r.value.intent_id);
      },
    });
    await watch.start();
    stoppers.push(() => watch.stop());
    // No worker is running: the call waits for its decision. The streamable-HTTP client does not
    // notice the server's death (its answer was to come on a stream it reconnects to); it gets
    // its error at its own deadline, and never a result.
    const pending = caller.callTool({ name: 'remote_search', arguments: { query: 'q1' } }, undefined, { timeout: 10_000 }).then(() => 'result', (e: unknown) => `error: ${(e as Error).message}`);
    await eventually(() => submitted.length >= 1, 'the gateway to submit the call\'s intent', 60_000);
    const exited = new Promise((r) => first.child.once('exit', (_code, signal) => r(signal)));
    first.child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(await pending).toMatch(/^error/);
    await caller.close().catch(() => {});
    expect(calls).toEqual([]);

    // The worker starts and decides the orphaned intent too; the gateway that would have
    // forwarded it is gone, so it never runs.
    const again = await startWorker();
    stoppers.push(() => again.stop());
    const second = launch();
    const retry = new Client({ name: 'remote-agent', version: '1.0.0' });
    await retry.connect(new StreamableHTTPClientTransport(new URL(await second.ready), withToken));
    const result = await retry.callTool({ name: 'remote_search', arguments: { query: 'q2' } });
    await retry.close();
    expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
    expect(result.content).toEqual([{ type: 'text', text: 'results for q2' }]);
    expect(calls).toEqual(['q2']);

    // The same gateway over stdio, as a local agent would start it.
    const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
    const local = new Client({ name: 'local-agent', version: '1.0.0' });
    await local.connect(new StdioClientTransport({
      command: process.execPath,
      args: ['--disable-warning=TimeoutNegativeWarning', join(projectRoot, 'services', 'gateway', 'src', 'mcp-main.ts'), '--stdio'],
      env: stdioEnv as Record<string, string>, stderr: 'ignore',
    }));
    try {
      expect((await local.listTools()).tools.map((t) => t.name)).toEqual(['remote_search']);
      const viaStdio = await local.callTool({ name: 'remote_search', arguments: { query: 'q3' } });
      expect(viaStdio.content).toEqual([{ type: 'text', text: 'results for q3' }]);
      expect(calls).toEqual(['q2', 'q3']);
    } finally {
      await local.close();
    }
  });
});
