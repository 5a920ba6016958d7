// The MCP gateway with a real MCP client over streamable HTTP: an allowed tool call returns the
// upstream's result; a denied one is an MCP tool error naming the reason and decision, and the
// upstream's own log shows it never arrived. Every request needs a bearer token, and the token
// decides which agent the call acts for: the intents on the bus say so.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Decision, Intent } from '@intentgate/contracts';
import { digestOf, newBearerToken } from '@intentgate/evidence';
import { McpGateway, type McpIdentity } from '@intentgate/gateway';
import { connection, decisionWorker, eventually, serviceTrust, stack, testBus, uniqueGroup } from '@intentgate/test';

const AGENT = 'spiffe://example.org/agents/mcp-user';
const OTHER = 'spiffe://example.org/agents/mcp-other';
const identityOf = (agentId: string): McpIdentity => ({
  agentId, autonomy: 'supervised', workflowStep: 'notes', requestSource: 'user',
  delegation: [{ principal: 'alice@example.org', kind: 'human', scope: ['*'] }, { principal: agentId, kind: 'agent', scope: ['ai:*'] }],
});
// One token per agent; the gateway is given only their digests.
const tokenA = newBearerToken('igm');
const tokenB = newBearerToken('igm');
/** The gateway's intents and the decisions, as the bus carries them. */
const intents = new Map<string, Intent>();
const decisions = new Map<string, Decision>();
let gatewayUrl = '';
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

  const watcher = bus.consumer<'Intent' | 'Decision'>({
    groupId: uniqueGroup('mcp-watch'), topics: ['intents', 'decisions'], fromBeginning: true,
    handle: async (records) => {
      for (const r of records) {
        if (r.topic === 'intents' && (r.value as Intent).context.via === 'mcp-gateway') intents.set((r.value as Intent).intent_id, r.value as Intent);
        if (r.topic === 'decisions') decisions.set((r.value as Decision).intent_id, r.value as Decision);
      }
    },
  });
  await watcher.start();
  stoppers.push(() => watcher.stop());

  const gateway = await McpGateway.start({
    ...connection('mcp-gateway'), upstreams: { demo: upstreamClient },
    callers: [
      { name: 'agent-a', tokenSha256: tokenA.sha256, identity: identityOf(AGENT) },
      { name: 'agent-b', tokenSha256: tokenB.sha256, identity: identityOf(OTHER) },
    ],
    issuer: 'intentgate-decision', trust: await serviceTrust('executor'),
  });
  stoppers.push(() => gateway.stop());
  gatewayUrl = gateway.url;
  client = await connect(tokenA.token);
  stoppers.push(() => client.close());
}, 600_000);

/** A real MCP client over streamable HTTP, sending `Authorization: Bearer <token>` on every request. */
async function connect(token: string | null): Promise<Client> {
  const c = new Client({ name: 'test-agent', version: '1.0.0' });
  await c.connect(new StreamableHTTPClientTransport(new URL(gatewayUrl), token === null ? {} : { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  return c;
}

/** The gateway's intent for a call with these arguments, once it is on the bus, with its decision. */
async function onTheBus(args: Record<string, unknown>): Promise<{ intent: Intent; decision: Decision }> {
  const digest = digestOf(args);
  const find = () => [...intents.values()].find((i) => i.context.arguments_digest === digest);
  await eventually(() => { const i = find(); return i !== undefined && decisions.has(i.intent_id); }, 'the intent and its decision on the bus');
  const intent = find()!;
  return { intent, decision: decisions.get(intent.intent_id)! };
}

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

  it('refuses a client without a token, or with a wrong one, with 401 and a Bearer challenge', async () => {
    const refusal = async (token: string | null) => connect(token).then((c) => { void c.close(); return null; }, (e: unknown) => e);
    for (const token of [null, newBearerToken('igm').token, tokenA.sha256]) {
      const err = await refusal(token);
      expect(err, String(token)).toBeInstanceOf(StreamableHTTPError);
      expect((err as StreamableHTTPError).code).toBe(401);
      expect((err as Error).message).toMatch(/"code":"UNAUTHENTICATED"/);
    }
    // What the refusal says on the wire (RFC 6750 §3: no error code without a credential).
    const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
    const post = (headers: Record<string, string>) => fetch(gatewayUrl, {
      method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(initialize),
    });
    const missing = await post({});
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="intentgate-mcp"');
    expect(await missing.json()).toMatchObject({ code: 'UNAUTHENTICATED', message: 'this MCP endpoint needs a bearer token', hint: expect.stringMatching(/Authorization: Bearer/) });
    const wrong = await post({ authorization: 'Bearer not-a-configured-token' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer realm="intentgate-mcp", error="invalid_token"/);
    expect(await wrong.json()).toMatchObject({ code: 'UNAUTHENTICATED', message: 'unknown or malformed bearer token' });
    expect((await post({ authorization: `Basic ${Buffer.from('a:b').toString('base64')}` })).status).toBe(401);
    // A tool call without a valid token never reaches the pipeline or the upstream.
    const before = upstreamLog.length;
    const call = await fetch(gatewayUrl, {
      method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: 'Bearer nope' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'demo_write_note', arguments: { note: 'unauthenticated' } } }),
    });
    expect(call.status).toBe(401);
    expect(upstreamLog.length).toBe(before);
    expect([...intents.values()].some((i) => i.context.arguments_digest === digestOf({ note: 'unauthenticated' }))).toBe(false);
  });

  it('each token acts for its own agent: the intents on the bus name agent A for A\'s token and agent B for B\'s', async () => {
    const asB = await connect(tokenB.token);
    try {
      const a = await client.callTool({ name: 'demo_write_note', arguments: { note: 'from agent A' } });
      const b = await asB.callTool({ name: 'demo_write_note', arguments: { note: 'from agent B' } });
      expect(a.content).toEqual([{ type: 'text', text: 'saved: from agent A' }]);
      expect(b.content).toEqual([{ type: 'text', text: 'saved: from agent B' }]);
    } finally {
      await asB.close();
    }
    const fromA = await onTheBus({ note: 'from agent A' });
    const fromB = await onTheBus({ note: 'from agent B' });
    expect(fromA.intent.subject.id).toBe(AGENT);
    expect(fromA.intent.delegation.at(-1)!.principal).toBe(AGENT);
    expect(fromB.intent.subject.id).toBe(OTHER);
    expect(fromB.intent.delegation.at(-1)!.principal).toBe(OTHER);
    expect(fromA.decision).toMatchObject({ verdict: 'allow', final: true });
    expect(fromB.decision).toMatchObject({ verdict: 'allow', final: true });
  });

  it('a denied tool call is an MCP tool error with the reason and decision id, and never reaches the upstream', async () => {
    const result = await client.callTool({ name: 'demo_drop_database', arguments: { confirm: true } });
    expect(result.isError).toBe(true);
    const text = (result.content as Array<{ text: string }>)[0]!.text;
    expect(text).toMatch(/denied by IntentGate: TOOL_NOT_ALLOWED \(decision [0-9a-f-]{36}\)/);
    expect(upstreamLog).not.toContain('drop_database');
  });
});

