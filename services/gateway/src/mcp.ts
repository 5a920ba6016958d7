// The MCP gateway: fronts upstream MCP servers and turns every tools/call into an intent in the
// ai domain. Allowed calls are forwarded after the gateway, acting as an executor, verifies and
// claims the warrant; denied calls return an MCP tool error naming the reason and decision and
// never reach the upstream.
//
// Over HTTP, every request must carry a bearer token (the MCP authorization spec's model:
// Authorization: Bearer on each request, 401 with a Bearer challenge otherwise), and the token
// decides who the caller acts as: each configured token maps to one agent identity. Tokens are
// kept as SHA-256 digests and never passed on to an upstream. Over stdio there is no token:
// whoever started the process owns the channel, and it acts as the configured identity.
import { randomUUID } from 'node:crypto';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { agentGroupPrefix, keyringGroupPrefix, type Intent } from '@intentgate/contracts';
import { Bus } from '@intentgate/bus';
import { bearerToken, digestOf, listenUrl, TokenDigests, WarrantError, type Jwks, type TrustRoots } from '@intentgate/evidence';
import { AgentClient, DecisionTimeout, Overloaded, WarrantGuard, WarrantKeyring, withCredentials, type AgentClientOptions, type AgentCredentials } from '@intentgate/sdk';

/** The fronted agent's credentials could not be had: the call is refused, never sent without them. */
class CredentialsUnavailable extends Error {
  readonly code = 'CREDENTIALS_UNAVAILABLE';
  constructor(message: string) {
    super(`the agent's credentials could not be fetched: ${message}; check the gateway's credential provider for this caller`);
    this.name = 'CredentialsUnavailable';
  }
}

export interface McpIdentity {
  agentId: string;
  autonomy: 'assisted' | 'supervised' | 'autonomous';
  delegation: Intent['delegation'];
  workflowStep: string;
  requestSource: string;
  /**
   * The agent's JWT-SVID and delegation tokens, fetched per call (they are short-lived): decision
   * workers that verify identity deny a call without them (IDENTITY_REQUIRED).
   */
  credentials?: () => Promise<AgentCredentials>;
}

/** A bearer token (its SHA-256) and the agent a request carrying it acts for. */
export interface McpCaller {
  /** Shown in logs; never the token. */
  name: string;
  /** Hex SHA-256 of the token. */
  tokenSha256: string;
  identity: McpIdentity;
}

export interface McpGatewayOptions {
  brokers: string[];
  /** SASL credentials for the broker (the local stack's role for this service); none on an unauthenticated cluster. */
  sasl?: AgentClientOptions['sasl'];
  registryUrl: string;
  redisUrl: string;
  /** Upstream MCP servers by name, already connected (a tool is exposed as <server>_<tool>). */
  upstreams: Record<string, Client>;
  /** Who may call over HTTP: each token acts for its own agent. None: every HTTP request is refused. */
  callers: readonly McpCaller[];
  /** Who a stdio session (mcpServer() without an identity) acts as. */
  identity?: McpIdentity;
  issuer: string | readonly string[];
  /** The deployment's trust roots: warrant keys on warrant.keys count only when a root certified them. */
  trust: { roots: TrustRoots };
  /** Warrant keys the gateway is configured with instead (a fixed issuer key); never keys from the bus. */
  jwks?: Jwks;
  decisionTimeoutMs?: number;
  port?: number;
  /** Interface to listen on: 127.0.0.1 unless configured otherwise (MCP_HOST). */
  host?: string;
}

type ToolResult = { content: Array<{ type: 'text'; text: string }>; isError?: boolean };

export class McpGateway {
  url = '';
  readonly #options: McpGatewayOptions;
  readonly #redis: Redis;
  readonly #callers: TokenDigests<McpCaller>;
  #agent!: AgentClient;
  #guard!: WarrantGuard;
  #keysBus: Bus | null = null;
  #tools: Array<{ server: string; name: string; description?: string; inputSchema: unknown; destructive: boolean }> = [];
  #http!: HttpServer;
  #stopping: Promise<void> | null = null;

  private constructor(options: McpGatewayOptions) {
    this.#options = options;
    this.#callers = new TokenDigests(options.callers.map((c) => ({ sha256: c.tokenSha256, value: c })));
    this.#redis = new Redis(options.redisUrl, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 1_000 });
    this.#redis.on('error', () => {});
  }

  static async start(options: McpGatewayOptions): Promise<McpGateway> {
    const gw = new McpGateway(options);
    await gw.#redis.connect().catch(() => {}); // claims fail (and calls are refused) until Redis answers
    gw.#agent = await AgentClient.connect({ brokers: options.brokers, sasl: options.sasl, registryUrl: options.registryUrl, clientId: 'intentgate-mcp-gateway', trust: options.trust, groupPrefix: agentGroupPrefix('mcp-gateway') });
    let keys: Jwks | WarrantKeyring;
    if (options.jwks) keys = options.jwks;
    else {
      gw.#keysBus = new Bus({ brokers: options.brokers, ...(options.sasl ? { sasl: options.sasl } : {}), registryUrl: options.registryUrl, clientId: 'intentgate-mcp-gateway-keys' });
      const keyring = new WarrantKeyring(gw.#keysBus, options.trust.roots, undefined, { deadLetter: false, groupPrefix: keyringGroupPrefix('mcp-gateway') });
      await keyring.start();
      keys = keyring;
    }
    gw.#guard = new WarrantGuard(gw.#redis, { issuer: options.issuer, domain: 'ai', holder: 'mcp-gateway', jwks: keys });
    for (const [server, client] of Object.entries(options.upstreams)) {
      const { tools } = await client.listTools();
      for (const t of tools) {
        gw.#tools.push({ server, name: t.name, description: t.description, inputSchema: t.inputSchema, destructive: t.annotations?.destructiveHint === true });
      }
    }
    gw.#http = createServer((req, res) => {
      // Every request authenticates on its own; the token names the agent this request acts for.
      const token = bearerToken(req.headers.authorization);
      const caller = token === null ? null : gw.#callers.find(token);
      if (caller === null) {
        const presented = req.headers.authorization !== undefined;
        // RFC 6750 §3: no error code when no credential came; invalid_token for a wrong one. No
        // resource_metadata: there is no authorization server to point at (tokens are provisioned).
        res.writeHead(401, {
          'content-type': 'application/json', 'cache-control': 'no-store',
          'www-authenticate': `Bearer realm="intentgate-mcp"${presented ? ', error="invalid_token", error_description="unknown or malformed bearer token"' : ''}`,
        });
        res.end(JSON.stringify({
          code: 'UNAUTHENTICATED', message: presented ? 'unknown or malformed bearer token' : 'this MCP endpoint needs a bearer token',
          hint: 'Send Authorization: Bearer <token> on every request (npm start writes the local one to .intentgate/mcp-token).',
        }));
        return;
      }
      // Stateless streamable HTTP: a fresh MCP server per request, over the shared pipeline client.
      const server = gw.mcpServer(caller.identity);
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      res.on('close', () => void transport.close().then(() => server.close()));
      server.connect(transport).then(() => transport.handleRequest(req, res), () => res.writeHead(500).end());
    });
    const host = options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => gw.#http.once('error', reject).listen(options.port ?? 0, host, resolve));
    gw.url = `${listenUrl(host, (gw.#http.address() as AddressInfo).port)}/mcp`;
    return gw;
  }

  /**
   * An MCP server exposing the upstream tools through IntentGate (also usable over stdio). A
   * low-level server: tools are listed with the upstream's own schemas and arguments pass
   * through untouched. Its calls act as `identity` (over HTTP: the caller's token's).
   */
  mcpServer(identity: McpIdentity | undefined = this.#options.identity): Server {
    if (!identity) throw new Error('MCP_IDENTITY_MISSING: a session needs the agent identity it acts for (options.identity for stdio)');
    const id = identity;
    const server = new Server({ name: 'intentgate-mcp-gateway', version: '0.1.0' }, { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, async () => ({
      tools: this.#tools.map((t) => ({ name: `${t.server}_${t.name}`, description: `${t.description ?? t.name} (through IntentGate)`, inputSchema: t.inputSchema as { type: 'object' } })),
    }));
    server.setRequestHandler(CallToolRequestSchema, async (request) => {
      const tool = this.#tools.find((t) => `${t.server}_${t.name}` === request.params.name);
      if (!tool) return { isError: true, content: [{ type: 'text', text: `unknown tool ${request.params.name}` }] };
      return this.#enforce(id, tool.server, tool.name, tool.destructive, request.params.arguments ?? {});
    });
    return server;
  }

  async #enforce(id: McpIdentity, server: string, tool: string, destructive: boolean, args: Record<string, unknown>): Promise<ToolResult> {
    const stated: Intent = {
      intent_id: randomUUID(),
      submitted_at: new Date().toISOString(),
      subject: { type: 'agent', id: id.agentId, properties: { autonomy: id.autonomy } },
      delegation: id.delegation,
      session: { id: `mcp-${randomUUID().slice(0, 8)}`, workflow_step: id.workflowStep, request_source: id.requestSource },
      action: { name: 'mcp.tool.call', domain: 'ai', reversible: !destructive },
      resource: { type: 'mcp_tool', id: `${server}/${tool}`, properties: { sensitivity: 'internal' } },
      // `via` marks intents this gateway executes itself (executors skip them).
      context: { via: 'mcp-gateway', upstream: server, arguments_digest: digestOf(args) },
    };
    let decision;
    let intent = stated;
    try {
      // The warrant binds the intent as sent, credentials included: it is what the guard checks below.
      if (id.credentials) {
        const credentials = id.credentials;
        intent = withCredentials(stated, await credentials().catch((err: unknown) => {
          throw new CredentialsUnavailable((err as Error).message);
        }));
      }
      decision = await this.#agent.decide(intent, this.#options.decisionTimeoutMs ?? 30_000);
    } catch (err) {
      const code = err instanceof DecisionTimeout || err instanceof Overloaded || err instanceof CredentialsUnavailable ? err.code : 'PIPELINE_UNAVAILABLE';
      return { isError: true, content: [{ type: 'text', text: `denied by IntentGate: ${code}: ${(err as Error).message}` }] };
    }
    if (decision.verdict !== 'allow') {
      const reason = decision.reasons[0];
      return { isError: true, content: [{ type: 'text', text: `denied by IntentGate: ${reason?.code} (decision ${decision.decision_id}): ${reason?.message ?? ''}` }] };
    }
    try {
      const claims = await this.#guard.verify(intent, decision, decision.warrant);
      const refusal = await this.#guard.claim(claims);
      if (refusal) return { isError: true, content: [{ type: 'text', text: `refused by IntentGate: ${refusal.code} (decision ${decision.decision_id})` }] };
    } catch (err) {
      const code = err instanceof WarrantError ? err.code : 'WARRANT_INVALID';
      return { isError: true, content: [{ type: 'text', text: `refused by IntentGate: ${code} (decision ${decision.decision_id})` }] };
    }
    // The warrant travels with the forwarded call, so an upstream can check it too.
    const result = await this.#options.upstreams[server]!.callTool({ name: tool, arguments: args, _meta: { 'intentgate/warrant': decision.warrant, 'intentgate/decision_id': decision.decision_id } });
    return result as ToolResult;
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await new Promise<void>((r) => this.#http.close(() => r()));
      await this.#agent.close();
      await this.#keysBus?.close();
      await this.#redis.quit().catch(() => this.#redis.disconnect());
    })();
    return this.#stopping;
  }
}
