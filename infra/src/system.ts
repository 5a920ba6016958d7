// The IntentGate services on a running stack: policy published and activated, context fed,
// the decision worker, the reference executors. What npm start runs after the servers.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { ApprovalsService, APPROVALS_ISSUER, hashPassword, loadReviewers, newToken, type ReviewerAccount } from '@intentgate/approvals';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import type { Bus } from '@intentgate/bus';
import { ContextStore } from '@intentgate/context';
import { DecisionService, publishAndActivate } from '@intentgate/decision';
import { Executors } from '@intentgate/executors';
import { LedgerService } from '@intentgate/ledger';
import { McpGateway } from '@intentgate/gateway';
import { jwksFromUrls } from '@intentgate/sdk';
import { DEMO_AGENT } from '@intentgate/demo';
import { buildBundle } from '@intentgate/policy';
import { seedDemoContext } from '@intentgate/demo';
import { projectRoot, stateDir } from './paths.ts';
import { DOMAINS, executorRole } from '@intentgate/contracts';
import { redisUrlOf, saslOf, type StackInfo } from './stack.ts';

export interface RunningSystem {
  decision: DecisionService;
  approvals: ApprovalsService;
  /** The local reviewer npm start configures (when it wrote the reviewers file), for the page and the CLI. */
  localReviewer: { id: string; password: string; tokenFile: string } | null;
  ledger: LedgerService;
  mcpGateway: McpGateway;
  executors: Executors;
  store: ContextStore;
  bundle: { digest: string; version: string };
  logFile: string;
  stop(): Promise<void>;
}

export interface SystemOptions {
  /** Caps escalation deadlines, so the demo's unanswered escalation ends in seconds. */
  approvalDeadlineCapSeconds: number;
  contextFreshnessMs?: number;
  /** Told before each step, so a start that stalls shows where (npm start prints these). */
  progress?: (step: string) => void;
}

const WARRANT_ISSUERS = ['intentgate-decision', APPROVALS_ISSUER];

/**
 * Reviewers for the local stack: `.intentgate/reviewers.json` when the user keeps one; else a
 * local reviewer created once (password and API token in 0600 files beside it).
 */
async function localReviewers(): Promise<{ accounts: ReviewerAccount[]; local: RunningSystem['localReviewer'] }> {
  const file = join(stateDir(), 'reviewers.json');
  const secretsFile = join(stateDir(), 'reviewer-credentials.json');
  const tokenFile = join(stateDir(), 'approvals-token');
  const secrets = await readFile(secretsFile, 'utf8').then((t) => JSON.parse(t) as { id: string; password: string }, () => null);
  const accounts = await loadReviewers(file).catch(() => null);
  if (accounts && !secrets) return { accounts, local: null }; // the user's own reviewers
  if (accounts && secrets) return { accounts, local: { ...secrets, tokenFile } };
  const id = 'reviewer';
  const password = randomBytes(12).toString('base64url');
  const { token, sha256 } = newToken();
  const reviewers = [{ id, name: 'Local reviewer', principals: ['reviewer@demo.intentgate.local'], password: await hashPassword(password), token_sha256: sha256 }];
  await writeFile(file, `${JSON.stringify({ reviewers }, null, 2)}\n`);
  await writeFile(secretsFile, `${JSON.stringify({ id, password })}\n`, { mode: 0o600 });
  await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  return { accounts: await loadReviewers(file), local: { id, password, tokenFile } };
}

/** `bus` publishes and activates the policy: the operator's (each service connects as its own role). */
export async function startSystem(info: StackInfo, bus: Bus, options: SystemOptions): Promise<RunningSystem> {
  const logs = join(stateDir(), 'logs');
  await mkdir(logs, { recursive: true });
  const logFile = join(logs, 'services.log');
  const logger: Logger = pino({ level: process.env.LOG_LEVEL ?? 'info' }, pino.destination({ dest: logFile, sync: false }));

  // The ledger first, so it sees every receipt from the first (the policy activation) on. Its
  // files are derived state; the local stack starts empty, so they start empty too.
  const ledgerDir = join(stateDir(), 'ledger');
  await rm(ledgerDir, { recursive: true, force: true });
  options.progress?.('ledger');
  const ledger = await LedgerService.start({
    brokers: info.kafka.brokers, sasl: saslOf(info, 'ledger'), registryUrl: info.schemaRegistry.url, dataDir: ledgerDir, logger: logger.child({ service: 'ledger' }),
  });

  options.progress?.('policy bundle (opa build)');
  const bundle = await buildBundle({ opaPath: info.opa.path, policyDir: join(projectRoot, 'policies'), revision: 'local' });
  const version = `local-${bundle.digest.slice(0, 12)}`;
  options.progress?.('policy activation');
  await publishAndActivate(bus, bundle, { version, by: 'npm-start' });

  const freshnessMs = options.contextFreshnessMs ?? 60_000;
  // The local context feeder and seeder: the only writer of the context (resource labels, agents, the sync mark).
  const store = new ContextStore({ redisUrl: redisUrlOf(info, 'context-feeder'), freshnessMs });
  options.progress?.('context store');
  await store.connect();
  await seedDemoContext(store);
  // The local context feeder: confirms the store is current well inside its freshness bound.
  const feeder = setInterval(() => void store.markSynced().catch((err: unknown) => logger.error({ err: String(err) }, 'context sync failed')), Math.floor(freshnessMs / 4));

  options.progress?.('decision worker');
  const decision = await DecisionService.start({
    brokers: info.kafka.brokers, sasl: saslOf(info, 'decision'), registryUrl: info.schemaRegistry.url, redisUrl: redisUrlOf(info, 'decision'),
    approvalDeadlineCapSeconds: options.approvalDeadlineCapSeconds, contextFreshnessMs: freshnessMs, logger: logger.child({ service: 'decision' }),
  });
  // Escalations go to the approvals service; its pending requests belong to this stack's topics, so they start empty too.
  const approvalsDir = join(stateDir(), 'approvals');
  await rm(approvalsDir, { recursive: true, force: true });
  const reviewers = await localReviewers();
  options.progress?.('approvals service');
  const approvals = await ApprovalsService.start({
    brokers: info.kafka.brokers, sasl: saslOf(info, 'approvals'), registryUrl: info.schemaRegistry.url, redisUrl: redisUrlOf(info, 'approvals'), dataDir: approvalsDir,
    reviewers: reviewers.accounts, logger: logger.child({ service: 'approvals' }),
    // A fixed port and host for the reviewer page when asked (docker-compose publishes it).
    httpPort: Number(process.env.INTENTGATE_APPROVALS_PORT ?? 0), httpHost: process.env.INTENTGATE_APPROVALS_HOST ?? '127.0.0.1',
  });
  const sandboxDir = join(stateDir(), 'sandbox');
  await rm(sandboxDir, { recursive: true, force: true });
  options.progress?.('executors');
  const executors = await Executors.start({
    brokers: info.kafka.brokers, registryUrl: info.schemaRegistry.url, redisUrl: info.redis.url,
    roles: Object.fromEntries(DOMAINS.map((d) => [d, { sasl: saslOf(info, executorRole(d)), redisUrl: redisUrlOf(info, executorRole(d)) }])),
    issuer: WARRANT_ISSUERS, jwks: 'bus', sandboxDir, logger: logger.child({ service: 'executors' }),
  });
  // The MCP gateway fronts the executors' MCP server for MCP clients; it is an executor itself.
  options.progress?.('MCP gateway');
  const mcpGateway = await McpGateway.start({
    brokers: info.kafka.brokers, sasl: saslOf(info, 'mcp-gateway'), registryUrl: info.schemaRegistry.url, redisUrl: redisUrlOf(info, 'mcp-gateway'), upstreams: { demo: executors.mcp.client },
    identity: {
      agentId: DEMO_AGENT, autonomy: 'supervised', workflowStep: 'notes', requestSource: 'user',
      delegation: [{ principal: 'alice@demo.intentgate.local', kind: 'human', scope: ['*'] }, { principal: DEMO_AGENT, kind: 'agent', scope: ['ai:*'] }],
    },
    issuer: WARRANT_ISSUERS,
    jwks: jwksFromUrls([decision.httpUrl, approvals.url].map((u) => `${u}/.well-known/jwks.json`)),
  });
  let stopped: Promise<void> | null = null;
  return {
    decision, approvals, localReviewer: reviewers.local, ledger, mcpGateway, executors, store, bundle: { digest: bundle.digest, version }, logFile,
    stop: () => (stopped ??= (async () => {
      clearInterval(feeder);
      await mcpGateway.stop();
      await executors.stop();
      await decision.stop();
      await approvals.stop();
      await ledger.stop();
      await store.close();
      logger.flush();
    })()),
  };
}
