import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import type { Logger } from '@intentgate/bus';
import type { Domain } from '@intentgate/contracts';
import type { CertifiedSigner, TrustRoots } from '@intentgate/evidence';
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
}

/** The four reference executors and the local targets they act on. */
export class Executors {
  readonly app: DemoApp;
  readonly mcp: DemoMcp;
  readonly sandboxDir: string;
  readonly #runtimes: ExecutorRuntime[];
  readonly #closeDb: () => void;
  readonly #countInvoices: () => number;
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
        ...(options.logger ? { logger: options.logger } : {}),
      })));
    return new Executors(app, mcp, options.sandboxDir, runtimes, data.db);
  }

  /** Rows in the data executor's invoices table (the side effect of a data.delete). */
  invoiceCount(): number {
    return this.#countInvoices();
  }

  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      await Promise.allSettled(this.#runtimes.map((r) => r.stop()));
      await this.mcp.close();
      await this.app.close();
      this.#closeDb();
    })();
    return this.#stopped;
  }
}
