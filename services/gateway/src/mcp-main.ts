// The MCP gateway as its own process: over streamable HTTP (default) or stdio (--stdio, for a
// local agent that starts it as its MCP server). Configuration from the environment:
//   MCP_UPSTREAMS     "<name>=<streamable HTTP URL>[,…]"   the MCP servers it fronts
//   MCP_AGENT_ID      the SPIFFE ID a stdio session (and MCP_TOKEN_SHA256's caller) acts as
//   MCP_DELEGATION    its delegation chain, JSON ([{principal, kind, scope}], origin first)
//   MCP_TOKEN_SHA256  hex SHA-256 of the bearer token that acts as MCP_AGENT_ID over HTTP
//   MCP_TOKENS_FILE   more callers, each token for its own agent (see mcp-tokens.ts)
//   MCP_HOST          interface to listen on (default 127.0.0.1); MCP_PORT its port (default: free)
// Over HTTP every request needs one of the configured tokens (Authorization: Bearer); over stdio
// none: the process that started the gateway owns the channel.
//   INTENTGATE_TRUST_FILE the deployment's trust roots (default .intentgate/trust/trust.json): warrant
//                     keys on warrant.keys count only when a root certified them
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { DelegationHop, SpiffeId } from '@intentgate/contracts';
import { credentialsFromEnv } from '@intentgate/sdk';
import { loadTrustFile } from '@intentgate/evidence';
import { McpGateway, type McpCaller, type McpIdentity } from './mcp.ts';
import { loadMcpCallers } from './mcp-tokens.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const stdio = process.argv.includes('--stdio');
// On stdio, stdout is the MCP channel: everything human goes to stderr.
const say = (line: string) => process.stderr.write(`${line}\n`);
const stack = await readFile(join(root, '.intentgate', 'stack.json'), 'utf8').then(JSON.parse, () => null) as
  | { kafka: { brokers: string[] }; schemaRegistry: { url: string }; redis: { url: string }; decisionUrl?: string | null; approvalsUrl?: string | null; credentialsDir?: string | null } | null;
// Its own principal (mcp-gateway) on the broker and in Redis: KAFKA_USERNAME / KAFKA_PASSWORD, KAFKA_CREDENTIALS_FILE, or the running stack's role file.
const access = credentialsFromEnv(process.env, 'mcp-gateway', stack);

const Env = z.object({
  KAFKA_BROKERS: z.string().min(1).transform((s) => s.split(',').map((b) => b.trim())),
  SCHEMA_REGISTRY_URL: z.url(),
  REDIS_URL: z.url(),
  INTENTGATE_TRUST_FILE: z.string().min(1).default(join(root, '.intentgate', 'trust', 'trust.json')),
  MCP_UPSTREAMS: z.string().min(1).transform((s) => Object.fromEntries(s.split(',').map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]))),
  MCP_AGENT_ID: SpiffeId.optional(),
  MCP_DELEGATION: z.string().transform((s) => JSON.parse(s) as unknown).pipe(z.array(DelegationHop).min(1)).optional(),
  MCP_TOKEN_SHA256: z.string().regex(/^[0-9a-f]{64}$/, 'expected the hex SHA-256 of the token').optional(),
  MCP_TOKENS_FILE: z.string().min(1).optional(),
  MCP_HOST: z.string().min(1).default('127.0.0.1'),
  MCP_AUTONOMY: z.enum(['assisted', 'supervised', 'autonomous']).default('supervised'),
  MCP_WORKFLOW_STEP: z.string().default('tools'),
  MCP_PORT: z.coerce.number().int().min(0).max(65535).default(0),
});
const parsed = Env.safeParse({
  ...process.env,
  KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? stack?.kafka.brokers.join(','),
  SCHEMA_REGISTRY_URL: process.env.SCHEMA_REGISTRY_URL ?? stack?.schemaRegistry.url,
  REDIS_URL: process.env.REDIS_URL ?? access.redisUrl ?? stack?.redis.url,
});
if (!parsed.success) {
  say(`error CONFIG_INVALID: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}\n  what to do: see the header of services/gateway/src/mcp-main.ts`);
  process.exit(1);
}
const c = parsed.data;
const fail = (message: string, hint: string): never => {
  say(`error CONFIG_INVALID: ${message}\n  what to do: ${hint}`);
  process.exit(1);
};
if ((c.MCP_AGENT_ID === undefined) !== (c.MCP_DELEGATION === undefined)) fail('MCP_AGENT_ID and MCP_DELEGATION go together', 'Set both, or neither (and MCP_TOKENS_FILE).');
const identity: McpIdentity | undefined = c.MCP_AGENT_ID && c.MCP_DELEGATION
  ? { agentId: c.MCP_AGENT_ID, autonomy: c.MCP_AUTONOMY, delegation: c.MCP_DELEGATION, workflowStep: c.MCP_WORKFLOW_STEP, requestSource: 'user' }
  : undefined;
const callers: McpCaller[] = [];
if (c.MCP_TOKEN_SHA256) {
  if (!identity) fail('MCP_TOKEN_SHA256 needs the identity it acts for', 'Set MCP_AGENT_ID and MCP_DELEGATION.');
  callers.push({ name: 'default', tokenSha256: c.MCP_TOKEN_SHA256, identity: identity! });
}
if (c.MCP_TOKENS_FILE) callers.push(...await loadMcpCallers(c.MCP_TOKENS_FILE).catch((err: unknown) => fail((err as Error).message, 'Fix the file (see services/gateway/src/mcp-tokens.ts).')));
if (stdio && !identity) fail('a stdio session needs the identity it acts for', 'Set MCP_AGENT_ID and MCP_DELEGATION.');
if (!stdio && callers.length === 0) fail('no caller may use the HTTP endpoint', 'Set MCP_TOKEN_SHA256 (with MCP_AGENT_ID, MCP_DELEGATION) or MCP_TOKENS_FILE; make a token and its digest with `npm run intentgate -- mcp token`.');
let roots;
try {
  roots = await loadTrustFile(c.INTENTGATE_TRUST_FILE);
} catch (err) {
  say(`error ${(err as { code?: string }).code ?? 'CONFIG_INVALID'}: ${(err as Error).message}\n  what to do: ${(err as { hint?: string }).hint ?? 'see the header of services/gateway/src/mcp-main.ts'}`);
  process.exit(1);
}
const upstreams: Record<string, Client> = {};
for (const [name, url] of Object.entries(c.MCP_UPSTREAMS)) {
  const client = new Client({ name: 'intentgate-mcp-gateway', version: '0.1.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  upstreams[name] = client;
}
const gateway = await McpGateway.start({
  brokers: c.KAFKA_BROKERS, sasl: access.sasl, registryUrl: c.SCHEMA_REGISTRY_URL, redisUrl: c.REDIS_URL, upstreams, port: c.MCP_PORT, host: c.MCP_HOST,
  callers, ...(identity ? { identity } : {}),
  // Warrants come from the decision worker, and for a reviewed escalation from the approvals service.
  issuer: ['intentgate-decision', 'intentgate-approvals'],
  trust: { roots },
});
if (stdio) await gateway.mcpServer().connect(new StdioServerTransport());
say(`mcp gateway ready: ${stdio ? 'stdio' : gateway.url}`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void gateway.stop().then(() => process.exit(0)));
