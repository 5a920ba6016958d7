import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { agentGroupPrefix, ContractViolation, parseMessage, type Decision } from '@intentgate/contracts';
import { bearerToken, IdentityError, listenUrl, tokenDigest, TokenDigests, verifySvid, type TrustBundles, type TrustRoots } from '@intentgate/evidence';
import { AgentClient, DecisionTimeout, Overloaded, type AgentClientOptions } from '@intentgate/sdk';
import { EvaluationRequest, EvaluationsRequest, intentOf } from './authzen.ts';

export interface GatewayOptions {
  /** The deployment's trust roots: only decisions a decider signed are answered (see AgentClient). */
  roots: TrustRoots;
  brokers: string[];
  /** SASL credentials for the broker (the local stack's role for this service); none on an unauthenticated cluster. */
  sasl?: AgentClientOptions['sasl'];
  registryUrl: string;
  /** Callers and their bearer tokens (name → token). */
  callers: Record<string, string>;
  /**
   * Trust bundles for agents that authenticate with their JWT-SVID as the bearer token. Such a
   * caller may only ask about itself: the request's subject must be the SVID's SPIFFE ID.
   */
  trust?: TrustBundles;
  /** How long a request waits for the final decision (an escalation included) by default. */
  decisionTimeoutMs?: number;
  maxBodyBytes?: number;
  port?: number;
  /** Interface to listen on: 127.0.0.1 unless configured otherwise (GATEWAY_HOST). */
  host?: string;
}

class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * One producer and one decisions consumer for all requests (the AgentClient), correlation by
 * intent_id. Every request becomes an intent on the same topics as any other: same decision,
 * same warrant, same receipt; no second decision path.
 */
export class Gateway {
  url = '';
  readonly #options: GatewayOptions;
  readonly #tokens: TokenDigests<string>;
  #client!: AgentClient;
  #server!: Server;
  #stopping: Promise<void> | null = null;

  private constructor(options: GatewayOptions) {
    this.#options = options;
    // Only the tokens' SHA-256 is kept.
    this.#tokens = new TokenDigests(Object.entries(options.callers).map(([name, token]) => ({ sha256: tokenDigest(token), value: name })));
  }

  static async start(options: GatewayOptions): Promise<Gateway> {
    const gw = new Gateway(options);
    gw.#client = await AgentClient.connect({ brokers: options.brokers, sasl: options.sasl, registryUrl: options.registryUrl, clientId: 'intentgate-gateway', trust: { roots: options.roots }, groupPrefix: agentGroupPrefix('authzen-gateway') });
    gw.#server = createServer((req, res) => void gw.#handle(req, res));
    const host = options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => gw.#server.once('error', reject).listen(options.port ?? 0, host, resolve));
    gw.url = listenUrl(host, (gw.#server.address() as AddressInfo).port);
    return gw;
  }

  /** The authenticated caller: a configured token's name, or an agent's SPIFFE ID from its JWT-SVID. */
  async #caller(req: IncomingMessage): Promise<{ name: string; spiffeId: string | null }> {
    const token = bearerToken(req.headers.authorization);
    if (!token) throw new HttpError(401, 'UNAUTHENTICATED', 'send Authorization: Bearer <token>');
    const caller = this.#tokens.find(token);
    if (caller !== null) return { name: caller, spiffeId: null };
    if (this.#options.trust && token.split('.').length === 3) {
      try {
        const spiffeId = await verifySvid(token, this.#options.trust);
        return { name: spiffeId, spiffeId };
      } catch (err) {
        throw new HttpError(401, 'UNAUTHENTICATED', err instanceof IdentityError ? `${err.code}: ${err.message}` : 'invalid SVID');
      }
    }
    throw new HttpError(401, 'UNAUTHENTICATED', 'unknown bearer token');
  }

  /** An agent authenticated by its SVID may only ask about itself. */
  #mustBe(caller: { spiffeId: string | null }, subjectId: unknown): void {
    if (caller.spiffeId !== null && subjectId !== caller.spiffeId) {
      throw new HttpError(403, 'SUBJECT_NOT_CALLER', `authenticated as ${caller.spiffeId}, asking for ${String(subjectId)}`);
    }
  }

  async #body(req: IncomingMessage): Promise<unknown> {
    const limit = this.#options.maxBodyBytes ?? 64 * 1024;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > limit) throw new HttpError(413, 'REQUEST_TOO_LARGE', `request bodies are limited to ${limit} bytes`);
      chunks.push(chunk as Buffer);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new HttpError(400, 'INVALID_JSON', 'the request body is not JSON');
    }
  }

  #timeout(req: IncomingMessage): number {
    const asked = Number(req.headers['x-intentgate-timeout-ms']);
    const fallback = this.#options.decisionTimeoutMs ?? 30_000;
    return Number.isFinite(asked) && asked > 0 ? Math.min(asked, fallback) : fallback;
  }

  /** The final decision, or a deny-shaped answer when none came in time: never an allow. */
  async #decide(body: unknown, timeoutMs: number, caller: { spiffeId: string | null }): Promise<{ decision: boolean; context: Record<string, unknown> }> {
    const parsed = EvaluationRequest.safeParse(body);
    if (!parsed.success) {
      throw new HttpError(400, 'INVALID_REQUEST', parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    }
    this.#mustBe(caller, parsed.data.subject.id);
    let intent;
    try {
      intent = intentOf(parsed.data);
    } catch (err) {
      throw new HttpError(400, 'INVALID_REQUEST', (err as Error).message);
    }
    try {
      const d = await this.#client.decide(intent, timeoutMs);
      const retryAfter = d.obligations.retry_after_ms;
      return {
        decision: d.verdict === 'allow',
        context: { decision_id: d.decision_id, intent_id: d.intent_id, reasons: d.reasons, ...(d.warrant ? { warrant: d.warrant } : {}), ...(typeof retryAfter === 'number' ? { retry_after_ms: retryAfter } : {}) },
      };
    } catch (err) {
      if (err instanceof DecisionTimeout) return { decision: false, context: { intent_id: intent.intent_id, reasons: [{ code: 'DECISION_TIMEOUT', rule: 'intentgate.gateway', message: err.message }] } };
      // Not submitted: the deny comes from here, at once, instead of after a queue.
      if (err instanceof Overloaded) {
        return { decision: false, context: { intent_id: intent.intent_id, reasons: [{ code: 'OVERLOADED', rule: 'intentgate.gateway', message: err.message }], retry_after_ms: err.retryAfterMs } };
      }
      throw err;
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const json = (status: number, body: unknown, retryAfterMs?: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', ...(typeof retryAfterMs === 'number' ? { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) } : {}) });
      res.end(JSON.stringify(body));
    };
    try {
      const path = new URL(req.url ?? '/', this.url).pathname;
      if (req.method === 'GET' && path === '/.well-known/authzen-configuration') {
        return json(200, {
          policy_decision_point: this.url,
          access_evaluation_endpoint: `${this.url}/access/v1/evaluation`,
          access_evaluations_endpoint: `${this.url}/access/v1/evaluations`,
        });
      }
      if (req.method !== 'POST') throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} ${path}`);
      const caller = await this.#caller(req);
      const body = await this.#body(req);
      const timeoutMs = this.#timeout(req);
      switch (path) {
        case '/access/v1/evaluation': {
          const result = await this.#decide(body, timeoutMs, caller);
          return json(200, result, result.context.retry_after_ms);
        }
        case '/access/v1/evaluations': {
          const batch = EvaluationsRequest.safeParse(body);
          if (!batch.success) throw new HttpError(400, 'INVALID_REQUEST', batch.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
          const { evaluations, ...defaults } = batch.data;
          const results = await Promise.all(evaluations.map((e) =>
            this.#decide({ ...defaults, ...e }, timeoutMs, caller).catch((err: unknown) =>
              err instanceof HttpError ? { decision: false, context: { error: { code: err.code, message: err.message } } } : Promise.reject(err))));
          return json(200, { evaluations: results });
        }
        case '/v1/intents': {
          let intent;
          try {
            intent = parseMessage('Intent', body);
          } catch (err) {
            throw new HttpError(400, 'INVALID_REQUEST', err instanceof ContractViolation ? err.message : String(err));
          }
          this.#mustBe(caller, intent.subject.id);
          try {
            const d: Decision = await this.#client.decide(intent, timeoutMs);
            return json(200, d, d.obligations.retry_after_ms);
          } catch (err) {
            if (err instanceof DecisionTimeout) throw new HttpError(504, 'DECISION_TIMEOUT', err.message);
            if (err instanceof Overloaded) return json(503, { code: err.code, message: err.message, hint: err.hint, retry_after_ms: err.retryAfterMs }, err.retryAfterMs);
            throw err;
          }
        }
        default:
          throw new HttpError(404, 'NOT_FOUND', path);
      }
    } catch (err) {
      if (err instanceof HttpError) {
        // RFC 6750 §3: a 401 names the scheme it wants.
        if (err.status === 401) res.setHeader('www-authenticate', 'Bearer realm="intentgate-authzen"');
        return json(err.status, { code: err.code, message: err.message });
      }
      return json(503, { code: 'UNAVAILABLE', message: `the decision pipeline could not be reached: ${(err as Error).message}` });
    }
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await new Promise<void>((r) => this.#server.close(() => r()));
      await this.#client.close();
    })();
    return this.#stopping;
  }
}
