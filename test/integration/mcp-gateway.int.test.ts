// The MCP gateway with a real MCP client over streamable HTTP: an allowed tool call returns the
// upstream's result; a denied one is an MCP tool error naming the reason and decision, and the
// upstream's own log shows it never arrived.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Jwks } from '@intentgate/evidence';
import { McpGateway } from '@intentgate/gateway';
import { decisionWorker, serviceTrust, stack, testBus } from '@intentgate/test';

const AGENT = 'spiffe://example.org/agents/mcp-user';
const bus = testBus();
const stoppers: Array<() => Promise<unknown>> = [];
/** The upstream server's own log of the calls that reached it. */
const upstreamLog: string[] = [];
const warrantsSeen: string[] = [];
let client: Client;

beforeAll(async () => {
  const s = stack();
  const service = await decisionWorker(bus, 'mcp');
  stoppers.push(() => service.stop());

  const upstream = new McpServer({ name: 'demo', version: '1.0.0' });
  upstream.registerTool('write_note', { description: 'Write a note', inputSchema: { note: z.string() } }, async ({ note }, extra) => {
    upstreamLog.push(`write_note:${note}`);
    warrantsSeen.push(String((extra._meta as Record<string, unknown> | undefined)?.['intentgate/warrant'] ?? ''));
    return { content: [{ type: 'text', text: `saved: ${note}` }] };
  });
  upstream.registerTool('drop_database', { description: 'Drop everything', inputSchema: { confirm: z.boolean() } }, async () => {
    upstreamLog.push('drop_database');
    return { content: [{ type: 'text', text: 'dropped' }] };
  });
  const [a, b] = InMemoryTransport.createLinkedPair();
  await upstream.connect(a);
  const upstreamClient = new Client({ name: 'gateway-upstream', version: '1.0.0' });
  await upstreamClient.connect(b);
  stoppers.push(() => upstream.close());

  const gateway = await McpGateway.start({
    brokers: s.kafka.brokers, registryUrl: s.schemaRegistry.url, redisUrl: s.redis.url, upstreams: { demo: upstreamClient },
    identity: {
      agentId: AGENT, autonomy: 'supervised', workflowStep: 'notes', requestSource: 'user',
      delegation: [{ principal: 'alice@example.org', kind: 'human', scope: ['*'] }, { principal: AGENT, kind: 'agent', scope: ['ai:*'] }],
    },
    issuer: 'intentgate-decision', trust: await serviceTrust('executor'),
  });
  stoppers.push(() => gateway.stop());
  client = new Client({ name: 'test-agent', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(gateway.url)));
  stoppers.push(() => client.close());
}, 600_000);

afterAll(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => {});
  await bus.close();
});

describe('MCP gateway', () => {
  it('lists the upstream tools', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['demo_drop_database', 'demo_write_note']);
  });

  it('an allowed tool call reaches the upstream and returns its result', async () => {
    const result = await client.callTool({ name: 'demo_write_note', arguments: { note: 'hello' } });
    expect(result.isError).toBeFalsy();
    expect(result.content).toEqual([{ type: 'text', text: 'saved: hello' }]);
    expect(upstreamLog).toContain('write_note:hello');
    expect(warrantsSeen.at(-1)).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/); // forwarded with its warrant
  });

  it('a denied tool call is an MCP tool error with the reason and decision id, and never reaches the upstream', async () => {
    const result = await client.callTool({ name: 'demo_drop_database', arguments: { confirm: true } });
    expect(result.isError).toBe(true);
    const text = (result.content as Array<{ text: string }>)[0]!.text;
    expect(text).toMatch(/denied by IntentGate: TOOL_NOT_ALLOWED \(decision [0-9a-f-]{36}\)/);
    expect(upstreamLog).not.toContain('drop_database');
  });
});

