import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { consumerHealthMetrics, probeAnswer, type ConsumerHealth, type ConsumerHealthOptions, type Logger } from '@intentgate/bus';
import type { Domain } from '@intentgate/contracts';
import { listenUrl, type CertifiedSigner, type TrustRoots } from '@intentgate/evidence';
import { ExecutorRuntime, type ExecutionHandler, type ExecutorOptions } from '@intentgate/sdk';
import { startDemoApp, type DemoApp } from './demo-app.ts';
import { startDemoMcp, type DemoMcp } from './mcp-server.ts';
import { aiHandler, appHandler, dataHandler, infraHandler } from './handlers.ts';

export interface ExecutorsOptions {
  brokers: string[];
  /** Per domain, the credentials of its executor role (executor-<domain>): SASL for the broker, a Redis URL with its ACL user. */
  roles?: Partial<Record<Domain, { sasl?: ExecutorOptions['sasl']; redisUrl?: string }>>;
  registryUrl: string;
  redisUrl: string;
  issuer: string | readonly string[];
  /**
   * The deployment's trust roots (warrant keys on warrant.keys count only when a root certified
   * them) and the executors' certified key, which signs their execution receipts.
   */
  trust: { roots: TrustRoots; signer: CertifiedSigner };
  /** The sandbox the executors act in (a SQLite database, config files, exports). */
  sandboxDir: string;
  logger?: Logger;
  groupPrefix?: string;
  /** Serve /healthz, /readyz and /metrics (Prometheus text) here; 0 picks a free port. None when absent. */
  http?: { port: number; host?: string };
  /** When the executors' consumers count as stalled and how they are restarted (CONSUMER_HEALTH_DEFAULTS). */
  health?: ConsumerHealthOptions;
}

/** The four reference executors and the local targets they act on. */
export class Executors {
  readonly app: DemoApp;
  readonly mcp: DemoMcp;
  readonly sandboxDir: string;
  readonly #runtimes: ExecutorRuntime[];
  readonly #closeDb: () => void;
  readonly #countInvoices: () => number;
  #server: Server | null = null;
  /** The health endpoints' base URL, when options.http was given. */
  url: string | null = null;
  #stopped: Promise<void> | null = null;

  private constructor(app: DemoApp, mcp: DemoMcp, sandboxDir: string, runtimes: ExecutorRuntime[], db: DatabaseSync) {
    this.app = app;
    this.mcp = mcp;
    this.sandboxDir = sandboxDir;
    this.#runtimes = runtimes;
    this.#closeDb = () => db.close();
    this.#countInvoices = () => (db.prepare('SELECT count(*) AS n FROM invoices').get() as { n: number }).n;
  }

  static async start(options: ExecutorsOptions): Promise<Executors> {
    await mkdir(join(options.sandboxDir, 'infra'), { recursive: true });
    const app = await startDemoApp();
    const mcp = await startDemoMcp();
    const data = dataHandler(options.sandboxDir);
    const handlers: Record<Domain, ExecutionHandler> = {
      app: appHandler(new URL(app.url).origin),
      data: data.handler,
      infra: infraHandler(join(options.sandboxDir, 'infra')),
      ai: aiHandler(mcp),
    };
    const runtimes = await Promise.all((Object.keys(handlers) as Domain[]).map((domain) =>
      ExecutorRuntime.start({
        brokers: options.brokers, sasl: options.roles?.[domain]?.sasl, registryUrl: options.registryUrl, redisUrl: options.roles?.[domain]?.redisUrl ?? options.redisUrl, domain,
        executorId: `reference-${domain}`, issuer: options.issuer, trust: options.trust, handler: handlers[domain],
        // MCP tool calls through the MCP gateway are executed by the gateway itself.
        accept: (approved) => approved.intent.context.via !== 'mcp-gateway',
        ...(options.groupPrefix ? { groupId: `${options.groupPrefix}-${domain}` } : {}),
        ...(options.health ? { health: options.health } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
      })));
    const executors = new Executors(app, mcp, options.sandboxDir, runtimes, data.db);
    if (options.http) await executors.#listen(options.http.port, options.http.host ?? '127.0.0.1');
    return executors;
  }

  /** Every executor's consumers: ready when all run and none is stalled. */
  health(): ConsumerHealth[] {
    return this.#runtimes.flatMap((r) => r.health());
  }

  async #listen(port: number, host: string): Promise<void> {
    const server = createServer((req, res) => {
      const send = (status: number, type: string, body: string) => {
        res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
        res.end(body);
      };
      if (req.url === '/healthz' || req.url === '/readyz') {
        const answer = probeAnswer(req.url === '/healthz' ? 'live' : 'ready', this.health(), this.#stopped === null);
        return send(answer.status, 'application/json', JSON.stringify(answer.body));
      }
      if (req.url === '/metrics') return send(200, 'text/plain; version=0.0.4; charset=utf-8', consumerHealthMetrics(this.health(), 'executors'));
      return send(404, 'application/json', JSON.stringify({ code: 'NOT_FOUND', message: `no such endpoint: ${req.url}` }));
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
    this.#server = server;
    this.url = listenUrl(host, (server.address() as AddressInfo).port);
  }

  /** Rows in the data executor's invoices table (the side effect of a data.delete). */
  invoiceCount(): number {
    return this.#countInvoices();
  }

  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      await Promise.allSettled(this.#runtimes.map((r) => r.stop()));
      await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
      await this.mcp.close();
      await this.app.close();
      this.#closeDb();
    })();
    return this.#stopped;
  }
}
