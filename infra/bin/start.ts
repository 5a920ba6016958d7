// npm start — bring the stack up (or use the configured one), create topics, register schemas,
// print what runs where, write .intentgate/stack.json, stay up until Ctrl-C, then stop
// everything this process started.
import { join, relative } from 'node:path';
import { Bus, BusError } from '@intentgate/bus';
import { AgentClient } from '@intentgate/sdk';
import { readFile, rm } from 'node:fs/promises';
import { ApprovalsClient } from '@intentgate/approvals';
import { renderTable, runDemo, runForgeryDemo, runMcpDemo } from '@intentgate/demo';
import {
  assertNodeVersion, removeStackFile, startStack, startSystem, StackError, writeStackFile, projectRoot, saslOf, registryUrlOf, stateDir, writeCredentialFiles,
  type RunningStack, type RunningSystem, type StackInfo,
} from '../src/index.ts';

const t0 = performance.now();
const say = (line: string) => process.stdout.write(`${line}\n`);
/** A path as the user should read it: relative to the checkout when inside it. */
const shownPath = (p: string) => (relative(projectRoot, p).startsWith('..') ? p : relative(projectRoot, p));

function fail(err: unknown): never {
  if (err instanceof StackError) console.error(err.render());
  else if (err instanceof BusError) console.error(`error ${err.code}: ${err.message}\n  what to do: ${err.hint}`);
  else console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => `  ${r.map((c, i) => c.padEnd(widths[i]!)).join('  ')}`.trimEnd()).join('\n');
}

function statusRows(info: StackInfo): string[][] {
  return [
    ['component', 'source', 'address', 'version', 'pid'],
    ['kafka', info.kafka.source, info.kafka.brokers.join(','), info.kafka.version, String(info.kafka.pid ?? '-')],
    ['schema registry', info.schemaRegistry.source, info.schemaRegistry.url, info.schemaRegistry.version, String(info.schemaRegistry.pid ?? '-')],
    ['redis', info.redis.source, info.redis.url, info.redis.version, String(info.redis.pid ?? '-')],
    ['opa', 'cache', info.opa.path, info.opa.version, '-'],
  ];
}

try {
  assertNodeVersion();
} catch (err) {
  fail(err);
}

say('IntentGate: starting the stack (servers from KAFKA_BROKERS / SCHEMA_REGISTRY_URL / REDIS_URL when set)');
let stack: RunningStack | null = null;
let bus: Bus | null = null;
let system: RunningSystem | null = null;
let agent: AgentClient | null = null;
// INTENTGATE_SERVICES=off: servers, topics and schemas only (no workers, no demo).
const withServices = process.env.INTENTGATE_SERVICES !== 'off';
const withDemo = withServices && process.env.INTENTGATE_DEMO !== 'off';
let stopping: Promise<void> | null = null;

async function shutdown(signal: string, code: number): Promise<void> {
  stopping ??= (async () => {
    say(`\n${signal}: stopping…`);
    const started = performance.now();
    await agent?.close().catch(() => {});
    await system?.stop().catch(() => {});
    await bus?.close().catch(() => {});
    await stack?.stop();
    await removeStackFile();
    // The passwords die with the stack (a new start makes new ones): no stale secrets left behind.
    await rm(join(stateDir(), 'credentials'), { recursive: true, force: true });
    say(`stopped in ${((performance.now() - started) / 1000).toFixed(1)}s; nothing left running.`);
    process.exit(code);
  })();
  return stopping;
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (stopping) return; // already on it; the reaper covers a hard kill
    void shutdown(signal, 0);
  });
}

try {
  stack = await startStack({ progress: (m) => say(`  … ${m}`) });
  const info = stack.info;
  // The provisioner (a broker super user) creates the topics and the access catalog's ACLs; the
  // rest runs as the operator, and each service as its own role.
  const admin = new Bus({ brokers: info.kafka.brokers, sasl: saslOf(info, 'provisioner'), registryUrl: registryUrlOf(info, 'provisioner'), clientId: 'intentgate-provisioner' });
  const provisioned = await admin.provision();
  const acls = info.credentials ? await admin.provisionAcls() : null;
  await admin.close();
  let credentialsDir: string | null = null;
  if (info.credentials) {
    credentialsDir = join(stateDir(), 'credentials');
    await writeCredentialFiles(credentialsDir, info.credentials);
  }
  bus = new Bus({ brokers: info.kafka.brokers, sasl: saslOf(info, 'operator'), registryUrl: info.schemaRegistry.url, clientId: 'intentgate-operator' });
  if (withServices) {
    say('  … building and activating the policy bundle, starting the decision worker and the executors');
    // Escalation deadlines are capped so the demo's unanswered one ends soon; raise it to review on the page at leisure.
    system = await startSystem(stack.info, bus, {
      approvalDeadlineCapSeconds: Number(process.env.INTENTGATE_APPROVAL_DEADLINE_S ?? 15),
      progress: (step) => say(`    · ${step}`),
    });
  }
  const file = await writeStackFile(stack.info, { credentialsDir, ...(system ? { decisionUrl: system.decision.httpUrl, ledgerUrl: system.ledger.httpUrl, mcpGatewayUrl: system.mcpGateway.url, approvalsUrl: system.approvals.url } : {}) });
  const created = provisioned.topics.filter((t) => t.created).length;
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  say(`\nIntentGate stack is up (${seconds}s)\n`);
  say(table(statusRows(stack.info)));
  say('');
  say(`  topics    ${provisioned.topics.length} ready (${created} created): ${provisioned.topics.map((t) => `${t.name}[${t.partitions}]`).join(' ')}`);
  say(`  schemas   ${provisioned.subjects.length} subjects registered, compatibility BACKWARD`);
  if (acls && credentialsDir) say(`  access    SASL/SCRAM-SHA-512 per role, ${acls.bindings.length} ACLs (${acls.created} created), Redis ACL users; role credentials in ${relative(projectRoot, credentialsDir)}/<role>.json (0600)`);
  else say('  access    no authentication: servers from the environment without INTENTGATE_CREDENTIALS_DIR');
  say(`  timings   ${Object.entries(stack.timings).map(([k, v]) => `${k} ${v}s`).join(', ')}`);
  if (system) {
    say(`  policy    ${system.bundle.version} (sha256 ${system.bundle.digest}) active for tenant default`);
    say(`  decision  ${system.decision.httpUrl}  (/readyz, /metrics, /.well-known/jwks.json)`);
    say(`  ledger    ${system.ledger.httpUrl}  (/v1/receipts/:id, /v1/checkpoints/latest, /v1/replay/:decision_id); logs in ${relative(projectRoot, system.ledger.logs.get(0)!.dir).replace(/receipts-0$/, '')}`);
    say(`            API token (auditor, operator): ${system.ledgerTokenFile ? shownPath(system.ledgerTokenFile) : 'yours (.intentgate/ledger-tokens.json)'}; the CLI reads it`);
    say(`  executors app → ${system.executors.app.url}/orders, data → sqlite, infra → config dir, ai → MCP server; sandbox ${relative(projectRoot, system.executors.sandboxDir)}`);
    say(`  mcp       ${system.mcpGateway.url}  (MCP gateway, streamable HTTP, fronting the demo MCP server; bearer token for the demo agent: ${shownPath(system.mcpTokenFile)})`);
    const reviewer = system.localReviewer;
    say(`  approvals ${system.approvals.url}  (reviewer page${reviewer ? `: sign in as ${reviewer.id} / ${reviewer.password}` : ''}; headless: npm run intentgate -- approvals list | approve <id>)`);
    say(`  identity  required: the decision worker verifies each intent's JWT-SVID and delegation tokens (local trust domain ${system.identity.trustDomain}, key ${shownPath(system.identity.keyFile)}); agents registered: ${system.identity.agents.join(', ')}`);
    say(`  logs      ${relative(projectRoot, system.logFile)}`);
    say(`  trust     ${relative(projectRoot, system.trust.trustFile)} (roots every service is configured with); private keys beside it: root ${relative(projectRoot, system.trust.rootKey)}, operator ${relative(projectRoot, system.trust.operatorKey)}, policy publisher ${relative(projectRoot, system.trust.policyPublisherPem)}; service keys in ${relative(projectRoot, join(system.trust.dir, 'signers'))}/`);
  }
  const shown = relative(projectRoot, file);
  say(`  addresses ${shown.startsWith('..') ? file : shown}`);
  if (system && withDemo) {
    say('\nDemo agent: thirteen intents across the four domains; one escalation is approved by the local reviewer, the other is left unanswered and denied at its deadline; two tell lies (a delete called reversible, another agent\'s id)…\n');
    agent = await AgentClient.connect({ brokers: stack.info.kafka.brokers, sasl: saslOf(stack.info, 'agent-platform'), registryUrl: stack.info.schemaRegistry.url, clientId: 'demo-agent', trust: { roots: system.roots }, credentials: system.agentCredentials });
    const approvalsUrl = system.approvals.url;
    const tokenFile = system.localReviewer?.tokenFile;
    const rows = await runDemo(agent, bus, system.executors, {
      decisionTimeoutMs: 60_000, credentials: system.agentCredentials,
      // What `intentgate approvals approve <intent id>` does: read the request, answer for its exact digest.
      approve: async (intentId) => {
        if (!tokenFile) throw new Error('no local reviewer (a reviewers.json of your own is configured): approve on the page');
        const client = new ApprovalsClient(approvalsUrl, (await readFile(tokenFile, 'utf8')).trim());
        await client.answer(intentId, 'approve', { comment: 'approved by the demo (npm start)' });
      },
    });
    say(renderTable(rows));
    const count = (v: string) => rows.filter((r) => r.verdict === v).length;
    say(`\n  ${count('allow')} allowed and executed, ${count('deny')} denied (none of them executed), ${count('escalate')} still awaiting review.`);
    say('\nForgeries on the bus (a client that can write any topic, as on a cluster without ACLs), each refused by the service that reads it:\n');
    // The forger holds the provisioner's credentials (a broker super user): what any client could do on
    // a cluster without ACLs; the agent platform's own credentials are refused by the broker first.
    const forger = new Bus({ brokers: stack.info.kafka.brokers, sasl: saslOf(stack.info, 'provisioner'), registryUrl: stack.info.schemaRegistry.url, clientId: 'demo-forger' });
    const asAgent = new Bus({ brokers: stack.info.kafka.brokers, sasl: saslOf(stack.info, 'agent-platform'), registryUrl: stack.info.schemaRegistry.url, clientId: 'demo-agent-forger' });
    try {
      say(renderTable(await runForgeryDemo(agent, forger, system.executors, { opaPath: stack.info.opa.path, bundle: system.bundle, agentPlatformBus: asAgent })));
    } finally {
      await Promise.all([forger.close(), asAgent.close()]);
    }
    say('\nDemo MCP session through the MCP gateway:');
    for (const line of await runMcpDemo(system.mcpGateway.url, (await readFile(system.mcpTokenFile, 'utf8')).trim())) say(`  ${line}`);
  }
  say('\nPress Ctrl-C to stop.');
  // Servers given by the environment leave nothing in this process that keeps it running.
  setInterval(() => {}, 1 << 30);
} catch (err) {
  await agent?.close().catch(() => {});
  await system?.stop().catch(() => {});
  await bus?.close().catch(() => {});
  await stack?.stop();
  fail(err);
}
