// The IntentGate services on a running stack: policy published and activated, context fed,
// the decision worker, the reference executors. What npm start runs after the servers.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import type { Bus } from '@intentgate/bus';
import { ContextStore } from '@intentgate/context';
import { DecisionService, publishAndActivate } from '@intentgate/decision';
import { Executors } from '@intentgate/executors';
import { LedgerService } from '@intentgate/ledger';
import { McpGateway } from '@intentgate/gateway';
import type { Jwks } from '@intentgate/evidence';
import { DEMO_AGENT } from '@intentgate/demo';
import { buildBundle } from '@intentgate/policy';
import { seedDemoContext } from '@intentgate/demo';
import { projectRoot, stateDir } from './paths.ts';
import type { StackInfo } from './stack.ts';

export interface RunningSystem {
  decision: DecisionService;
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
}

export async function startSystem(info: StackInfo, bus: Bus, options: SystemOptions): Promise<RunningSystem> {
  const logs = join(stateDir(), 'logs');
  await mkdir(logs, { recursive: true });
  const logFile = join(logs, 'services.log');
  const logger: Logger = pino({ level: process.env.LOG_LEVEL ?? 'info' }, pino.destination({ dest: logFile, sync: false }));

  // The ledger first, so it sees every receipt from the first (the policy activation) on. Its
  // files are derived state; the local stack starts empty, so they start empty too.
  const ledgerDir = join(stateDir(), 'ledger');
  await rm(ledgerDir, { recursive: true, force: true });
  const ledger = await LedgerService.start({
    brokers: info.kafka.brokers, registryUrl: info.schemaRegistry.url, dataDir: ledgerDir, logger: logger.child({ service: 'ledger' }),
  });

  const bundle = await buildBundle({ opaPath: info.opa.path, policyDir: join(projectRoot, 'policies'), revision: 'local' });
  const version = `local-${bundle.digest.slice(0, 12)}`;
  await publishAndActivate(bus, bundle, { version, by: 'npm-start' });

  const freshnessMs = options.contextFreshnessMs ?? 60_000;
  const store = new ContextStore({ redisUrl: info.redis.url, freshnessMs });
  await store.connect();
  await seedDemoContext(store);
  // The local context feeder: confirms the store is current well inside its freshness bound.
  const feeder = setInterval(() => void store.markSynced().catch((err: unknown) => logger.error({ err: String(err) }, 'context sync failed')), Math.floor(freshnessMs / 4));

  const decision = await DecisionService.start({
    brokers: info.kafka.brokers, registryUrl: info.schemaRegistry.url, redisUrl: info.redis.url,
    approvalDeadlineCapSeconds: options.approvalDeadlineCapSeconds, contextFreshnessMs: freshnessMs, logger: logger.child({ service: 'decision' }),
  });
  const sandboxDir = join(stateDir(), 'sandbox');
  await rm(sandboxDir, { recursive: true, force: true });
  const executors = await Executors.start({
    brokers: info.kafka.brokers, registryUrl: info.schemaRegistry.url, redisUrl: info.redis.url,
    issuer: 'intentgate-decision', jwks: 'bus', sandboxDir, logger: logger.child({ service: 'executors' }),
  });
  // The MCP gateway fronts the executors' MCP server for MCP clients; it is an executor itself.
  const mcpGateway = await McpGateway.start({
    brokers: info.kafka.brokers, registryUrl: info.schemaRegistry.url, redisUrl: info.redis.url, upstreams: { demo: executors.mcp.client },
    identity: {
      agentId: DEMO_AGENT, autonomy: 'supervised', workflowStep: 'notes', requestSource: 'user',
      delegation: [{ principal: 'alice@demo.intentgate.local', kind: 'human', scope: ['*'] }, { principal: DEMO_AGENT, kind: 'agent', scope: ['ai:*'] }],
    },
    issuer: 'intentgate-decision', jwks: async () => (await fetch(`${decision.httpUrl}/.well-known/jwks.json`)).json() as Promise<Jwks>,
  });
  let stopped: Promise<void> | null = null;
  return {
    decision, ledger, mcpGateway, executors, store, bundle: { digest: bundle.digest, version }, logFile,
    stop: () => (stopped ??= (async () => {
      clearInterval(feeder);
      await mcpGateway.stop();
      await executors.stop();
      await decision.stop();
      await ledger.stop();
      await store.close();
      logger.flush();
    })()),
  };
}
