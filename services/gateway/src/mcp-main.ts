// The MCP gateway as its own process: over streamable HTTP (default) or stdio (--stdio, for a
// local agent that starts it as its MCP server). Configuration from the environment:
//   MCP_UPSTREAMS     "<name>=<streamable HTTP URL>[,…]"   the MCP servers it fronts
//   MCP_AGENT_ID      the SPIFFE ID its callers act as
//   MCP_DELEGATION    the delegation chain, JSON ([{principal, kind, scope}], origin first)
//   INTENTGATE_TRUST_FILE the deployment's trust roots (default .intentgate/trust/trust.json): warrant
//                     keys on warrant.keys count only when a root certified them
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { DelegationHop, SpiffeId } from '@intentgate/contracts';
import { loadTrustFile } from '@intentgate/evidence';
import { McpGateway } from './mcp.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const stdio = process.argv.includes('--stdio');
// On stdio, stdout is the MCP channel: everything human goes to stderr.
const say = (line: string) => process.stderr.write(`${line}\n`);
const stack = await readFile(join(root, '.intentgate', 'stack.json'), 'utf8').then(JSON.parse, () => null) as
  | { kafka: { brokers: string[] }; schemaRegistry: { url: string }; redis: { url: string }; decisionUrl?: string | null; approvalsUrl?: string | null } | null;

const Env = z.object({
  KAFKA_BROKERS: z.string().min(1).transform((s) => s.split(',').map((b) => b.trim())),
  SCHEMA_REGISTRY_URL: z.url(),
  REDIS_URL: z.url(),
  INTENTGATE_TRUST_FILE: z.string().min(1).default(join(root, '.intentgate', 'trust', 'trust.json')),
  MCP_UPSTREAMS: z.string().min(1).transform((s) => Object.fromEntries(s.split(',').map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]))),
  MCP_AGENT_ID: SpiffeId,
  MCP_DELEGATION: z.string().transform((s) => JSON.parse(s) as unknown).pipe(z.array(DelegationHop).min(1)),
  MCP_AUTONOMY: z.enum(['assisted', 'supervised', 'autonomous']).default('supervised'),
  MCP_WORKFLOW_STEP: z.string().default('tools'),
  MCP_PORT: z.coerce.number().int().min(0).max(65535).default(0),
});
const parsed = Env.safeParse({
  ...process.env,
  KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? stack?.kafka.brokers.join(','),
  SCHEMA_REGISTRY_URL: process.env.SCHEMA_REGISTRY_URL ?? stack?.schemaRegistry.url,
  REDIS_URL: process.env.REDIS_URL ?? stack?.redis.url,
});
if (!parsed.success) {
  say(`error CONFIG_INVALID: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}\n  what to do: see the header of services/gateway/src/mcp-main.ts`);
  process.exit(1);
}
const c = parsed.data;
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
  brokers: c.KAFKA_BROKERS, registryUrl: c.SCHEMA_REGISTRY_URL, redisUrl: c.REDIS_URL, upstreams, port: c.MCP_PORT,
  identity: { agentId: c.MCP_AGENT_ID, autonomy: c.MCP_AUTONOMY, delegation: c.MCP_DELEGATION, workflowStep: c.MCP_WORKFLOW_STEP, requestSource: 'user' },
  // Warrants come from the decision worker, and for a reviewed escalation from the approvals service.
  issuer: ['intentgate-decision', 'intentgate-approvals'],
  trust: { roots },
});
if (stdio) await gateway.mcpServer().connect(new StdioServerTransport());
say(`mcp gateway ready: ${stdio ? 'stdio' : gateway.url}`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void gateway.stop().then(() => process.exit(0)));
