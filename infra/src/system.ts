// The IntentGate services on a running stack: policy published and activated, context fed,
// the decision worker, the reference executors. What npm start runs after the servers.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { ApprovalsService, APPROVALS_ISSUER, hashPassword, loadReviewers, newToken, type ReviewerAccount } from '@intentgate/approvals';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { Bus } from '@intentgate/bus';
import { ContextStore } from '@intentgate/context';
import { ContextFeeder, DecisionService, publishAndActivate, publishLabel, publishRegistration, readLabels, readRegistry } from '@intentgate/decision';
import { Executors } from '@intentgate/executors';
import { LedgerService, loadLedgerTokens, type LedgerToken } from '@intentgate/ledger';
import { McpGateway } from '@intentgate/gateway';
import { certifyService, ensureLocalTrustDomain, ensureTrustMaterial, loadPrivateKey, newBearerToken, publicJwkOf, tokenDigest, type TrustPaths, type TrustRoots } from '@intentgate/evidence';
import { DEMO_AGENT, DEMO_LABELS, DEMO_REGISTRATIONS, DEMO_TRUST_DOMAIN, demoCredentials } from '@intentgate/demo';
import type { AgentCredentials } from '@intentgate/sdk';
import { buildBundle } from '@intentgate/policy';
import { projectRoot, stateDir } from './paths.ts';
import { DOMAINS, executorRole, resourceLabelKey, type Intent, type LabelChange } from '@intentgate/contracts';
import { redisUrlOf, saslOf, type StackInfo } from './stack.ts';
import { StackError } from './errors.ts';

export interface RunningSystem {
  /** The demo agent's credentials (its JWT-SVID and alice's delegation), for the demo's agent client. */
  agentCredentials: (intent: Intent) => Promise<AgentCredentials>;
  /** Workload identity on the local stack: the trust domain whose SVIDs the worker verifies, and the registered agents. */
  identity: { trustDomain: string; keyFile: string; agents: string[] };
  decision: DecisionService;
  approvals: ApprovalsService;
  /** The local reviewer npm start configures (when it wrote the reviewers file), for the page and the CLI. */
  localReviewer: { id: string; password: string; tokenFile: string } | null;
  ledger: LedgerService;
  /** The local ledger API token's file (roles auditor and operator), when npm start made the tokens file. */
  ledgerTokenFile: string | null;
  mcpGateway: McpGateway;
  /** The local MCP gateway token's file: it acts as the demo agent. */
  mcpTokenFile: string;
  executors: Executors;
  store: ContextStore;
  bundle: { digest: string; version: string };
  /** Where the deployment's trust material lives (the trust file, the root, operator and publisher keys, each service's signer). */
  trust: TrustPaths;
  /** The public roots in that trust file. */
  roots: TrustRoots;
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
 * The local deployment's trust material, created once under .intentgate/trust (kept across
 * starts, like the reviewers): the root that certifies the services' keys, the operator key that
 * signs activations, the policy publisher's key that signs bundles. Each service gets a fresh
 * key per start, certified by the root, written beside them so standalone processes find it.
 */
async function localTrust() {
  const { paths, roots, created } = await ensureTrustMaterial(join(stateDir(), 'trust'));
  // A key id per start, so no two keys ever share one; the signer files keep the service's name.
  const suffix = randomBytes(4).toString('hex');
  const certify = async (service: Parameters<typeof certifyService>[1], name: string) => (await certifyService(paths.dir, service, `${name}-${suffix}`, { file: name })).signer;
  const [decision, approvals, executors] = await Promise.all([certify('decision', 'decision'), certify('approvals', 'approvals'), certify('executor', 'executors')]);
  return { paths, roots, created, operator: await loadPrivateKey(paths.operatorKey), publisherKid: publicJwkOf(await loadPrivateKey(paths.policyPublisherJwk)).kid, decision, approvals, executors };
}

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

/**
 * The ledger's API tokens: `.intentgate/ledger-tokens.json` when the user keeps one; else a local
 * token (roles auditor and operator) created once, its digest in that file and the token itself
 * in `.intentgate/ledger-token` (0600), where the CLI finds it.
 */
async function localLedgerTokens(): Promise<{ tokens: LedgerToken[]; tokenFile: string | null }> {
  const file = join(stateDir(), 'ledger-tokens.json');
  const tokenFile = join(stateDir(), 'ledger-token');
  const [tokens, local] = await Promise.all([loadLedgerTokens(file).catch(() => null), readFile(tokenFile, 'utf8').then(() => true, () => false)]);
  if (tokens) return { tokens, tokenFile: local ? tokenFile : null };
  const { token, sha256 } = newBearerToken('igl');
  await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  await writeFile(file, `${JSON.stringify({ tokens: [{ name: 'local', roles: ['auditor', 'operator'], token_sha256: sha256 }] }, null, 2)}\n`);
  return { tokens: await loadLedgerTokens(file), tokenFile };
}

/** A local bearer token kept in a 0600 file, created once; the service gets only its digest. */
async function localToken(name: string, prefix: string): Promise<{ sha256: string; file: string }> {
  const file = join(stateDir(), name);
  let token = await readFile(file, 'utf8').then((t) => t.trim(), () => '');
  if (!token) {
    token = newBearerToken(prefix).token;
    await writeFile(file, `${token}\n`, { mode: 0o600 });
  }
  return { sha256: tokenDigest(token), file };
}

/** `bus` publishes and activates the policy: the operator's (each service connects as its own role). */
export async function startSystem(info: StackInfo, bus: Bus, options: SystemOptions): Promise<RunningSystem> {
  const logs = join(stateDir(), 'logs');
  await mkdir(logs, { recursive: true });
  const logFile = join(logs, 'services.log');
  const logger: Logger = pino({ level: process.env.LOG_LEVEL ?? 'info' }, pino.destination({ dest: logFile, sync: false }));

  // The ledger first, so it sees every receipt from the first (the policy activation) on. Its
  // files are derived state; the local stack starts empty, so they start empty too.
  options.progress?.('trust roots and service keys');
  const trust = await localTrust();
  const ledgerDir = join(stateDir(), 'ledger');
  await rm(ledgerDir, { recursive: true, force: true });
  options.progress?.('ledger');
  const ledgerTokens = await localLedgerTokens();
  const ledger = await LedgerService.start({
    brokers: info.kafka.brokers, sasl: saslOf(info, 'ledger'), registryUrl: info.schemaRegistry.url, dataDir: ledgerDir, logger: logger.child({ service: 'ledger' }),
    tokens: ledgerTokens.tokens, httpHost: process.env.INTENTGATE_LEDGER_HOST ?? '127.0.0.1',
    trust: { roots: trust.roots },
  });

  options.progress?.('policy bundle (opa build, signed)');
  const bundle = await buildBundle({
    opaPath: info.opa.path, policyDir: join(projectRoot, 'policies'), revision: 'local',
    signing: { keyFile: trust.paths.policyPublisherPem, kid: trust.publisherKid },
  });
  const version = `local-${bundle.digest.slice(0, 12)}`;
  options.progress?.('policy activation');
  await publishAndActivate(bus, bundle, { version, by: 'npm-start', operator: trust.operator });

  const freshnessMs = options.contextFreshnessMs ?? 60_000;
  // The demo agents in the agent registry, as an operator registers them (intentgate agents register).
  options.progress?.('agent registry');
  const registry = await readRegistry(bus, trust.roots);
  for (const change of DEMO_REGISTRATIONS) {
    const current = registry.get(change.agent);
    if (!current || JSON.stringify([current.status, current.autonomy, current.domains, current.actions]) !== JSON.stringify([change.status, change.autonomy, change.domains, change.actions])) {
      await publishRegistration(bus, change, trust.operator, current);
    }
  }
  // The demo's resources in the resource catalog, as an operator labels them (intentgate resources label).
  const labels = await readLabels(bus, trust.roots);
  const label = async (change: LabelChange) => {
    const current = labels.get(resourceLabelKey(change));
    if (!current || current.sensitivity !== change.sensitivity || current.environment !== change.environment) await publishLabel(bus, change, trust.operator, current);
  };
  for (const change of DEMO_LABELS) await label(change);
  // Workload identity: a local trust domain (production: SPIRE) whose JWT-SVIDs the decision worker verifies.
  const identity = await ensureLocalTrustDomain(join(stateDir(), 'identity'), DEMO_TRUST_DOMAIN);
  const agentCredentials = demoCredentials(identity.key);
  // The local context feeder: the only writer of the context (the registry, the resource labels
  // and the revocations from their topics, the sync mark, set once they have been read through).
  const store = new ContextStore({ redisUrl: redisUrlOf(info, 'context-feeder'), freshnessMs });
  options.progress?.('context store');
  await store.connect();
  const feederBus = new Bus({ brokers: info.kafka.brokers, sasl: saslOf(info, 'context-feeder'), registryUrl: info.schemaRegistry.url, clientId: 'intentgate-context-feeder' });
  const feeder = await ContextFeeder.start({ bus: feederBus, store, trust: trust.roots, logger: logger.child({ service: 'context-feeder' }), freshnessMs });

  options.progress?.('decision worker');
  const decision = await DecisionService.start({
    brokers: info.kafka.brokers, sasl: saslOf(info, 'decision'), registryUrl: info.schemaRegistry.url, redisUrl: redisUrlOf(info, 'decision'),
    approvalDeadlineCapSeconds: options.approvalDeadlineCapSeconds, contextFreshnessMs: freshnessMs, logger: logger.child({ service: 'decision' }),
    trust: { roots: trust.roots, signer: trust.decision },
    identity: { trust: new Map([[DEMO_TRUST_DOMAIN, identity.jwks]]), maxDepth: 4 },
  });
  // Escalations go to the approvals service; its pending requests belong to this stack's topics, so they start empty too.
  const approvalsDir = join(stateDir(), 'approvals');
  await rm(approvalsDir, { recursive: true, force: true });
  const reviewers = await localReviewers();
  options.progress?.('approvals service');
  const approvals = await ApprovalsService.start({
    brokers: info.kafka.brokers, sasl: saslOf(info, 'approvals'), registryUrl: info.schemaRegistry.url, redisUrl: redisUrlOf(info, 'approvals'), dataDir: approvalsDir,
    reviewers: reviewers.accounts, logger: logger.child({ service: 'approvals' }), trust: { roots: trust.roots, signer: trust.approvals },
    // A fixed port and host for the reviewer page when asked (docker-compose publishes it).
    httpPort: Number(process.env.INTENTGATE_APPROVALS_PORT ?? 0), httpHost: process.env.INTENTGATE_APPROVALS_HOST ?? '127.0.0.1',
  });
  const sandboxDir = join(stateDir(), 'sandbox');
  await rm(sandboxDir, { recursive: true, force: true });
  options.progress?.('executors');
  const executors = await Executors.start({
    brokers: info.kafka.brokers, registryUrl: info.schemaRegistry.url, redisUrl: info.redis.url,
    roles: Object.fromEntries(DOMAINS.map((d) => [d, { sasl: saslOf(info, executorRole(d)), redisUrl: redisUrlOf(info, executorRole(d)) }])),
    issuer: WARRANT_ISSUERS, trust: { roots: trust.roots, signer: trust.executors }, sandboxDir, logger: logger.child({ service: 'executors' }),
    http: { port: 0 }, // /healthz, /readyz, /metrics of their consumers
  });
  // The demo's order endpoint, labelled: an endpoint the store does not know is confidential to the policy.
  const orders = { type: 'http_endpoint', id: `${executors.app.url}/orders` };
  await label({ ...orders, sensitivity: 'internal', reason: 'the demo\'s order endpoint' });
  // Published after the feeder's first read: the demo waits until the feeder has applied it.
  for (const deadline = Date.now() + 30_000; (await store.resourceLabels(orders.type, orders.id)).sensitivity !== 'internal';) {
    if (Date.now() > deadline) throw new StackError('START_FAILED', 'context-feeder', 'the order endpoint\'s label was not applied within 30 s', 'Check the context feeder may read resources.labels.');
    await new Promise((r) => setTimeout(r, 100));
  }
  // The MCP gateway fronts the executors' MCP server for MCP clients; it is an executor itself.
  options.progress?.('MCP gateway');
  // Its local token (in .intentgate/mcp-token) acts as the demo agent.
  const mcpToken = await localToken('mcp-token', 'igm');
  const mcpGateway = await McpGateway.start({
    brokers: info.kafka.brokers, sasl: saslOf(info, 'mcp-gateway'), registryUrl: info.schemaRegistry.url, redisUrl: redisUrlOf(info, 'mcp-gateway'), upstreams: { demo: executors.mcp.client },
    callers: [{
      name: 'local', tokenSha256: mcpToken.sha256,
      identity: {
        agentId: DEMO_AGENT, autonomy: 'supervised', workflowStep: 'notes', requestSource: 'user',
        delegation: [{ principal: 'alice@demo.intentgate.local', kind: 'human', scope: ['ai:*'] }, { principal: DEMO_AGENT, kind: 'agent', scope: ['ai:*'] }],
        // The demo agent's own SVID and alice's delegation, minted per call by the local trust domain.
        credentials: () => agentCredentials({ delegation: [{ principal: 'alice@demo.intentgate.local', kind: 'human', scope: ['ai:*'] }, { principal: DEMO_AGENT, kind: 'agent', scope: ['ai:*'] }] } as Intent),
      },
    }],
    issuer: WARRANT_ISSUERS,
    trust: { roots: trust.roots },
  });
  let stopped: Promise<void> | null = null;
  return {
    agentCredentials, identity: { trustDomain: DEMO_TRUST_DOMAIN, keyFile: identity.keyFile, agents: DEMO_REGISTRATIONS.map((r) => r.agent) },
    decision, approvals, localReviewer: reviewers.local, ledger, ledgerTokenFile: ledgerTokens.tokenFile, mcpGateway, mcpTokenFile: mcpToken.file, executors, store, bundle: { digest: bundle.digest, version }, trust: trust.paths, roots: trust.roots, logFile,
    stop: () => (stopped ??= (async () => {
      await mcpGateway.stop();
      await executors.stop();
      await decision.stop();
      await approvals.stop();
      await ledger.stop();
      await feeder.stop();
      await feederBus.close();
      await store.close();
      logger.flush();
    })()),
  };
}
