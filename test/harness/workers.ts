// The setup most pipeline tests share: a tenant of their own with the starter policy active,
// a context store marked fresh, and a decision worker in a consumer group of its own.
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApprovalsService, hashPassword, tokenDigest, type ApprovalsOptions, type ReviewerAccount } from '@intentgate/approvals';
import type { Bus } from '@intentgate/bus';
import type { AgentRegistration } from '@intentgate/contracts';
import { ContextStore } from '@intentgate/context';
import { DecisionService, type DecisionServiceOptions } from '@intentgate/decision';
import type { BuiltBundle } from '@intentgate/policy';
import { connection, testLogger, uniqueGroup } from './index.ts';
import { starterBundle } from './bundles.ts';
import { activate, serviceTrust } from './trust.ts';

/**
 * The agents the pipeline tests act as, registered active in every domain with the least
 * autonomy (so each intent's own, stricter claim is what policy sees, as before the registry).
 * A test of the registry itself registers its own agents through agents.registry.
 */
export const TEST_AGENTS: readonly string[] = [
  'spiffe://example.org/agents/billing-assistant', 'spiffe://example.org/agents/helper', 'spiffe://example.org/agents/someone-else',
  'spiffe://example.org/agents/remote-user', 'spiffe://example.org/agents/mcp-user', 'spiffe://example.org/agents/mcp-other',
  'spiffe://example.org/agents/load', 'spiffe://example.org/agents/ledger-load', 'spiffe://example.org/agents/gateway-caller',
  'spiffe://example.org/agents/forger', 'spiffe://example.org/agents/approvals-test', 'spiffe://example.org/agents/a',
  'spiffe://acme.test/agents/planner', 'spiffe://acme.test/agents/worker', 'spiffe://acme.test/agents/sub-worker',
  'spiffe://cli.test/agents/reporter',
];

/** Registers agents straight in the context store, as the context feeder applies verified entries. */
export async function registerAgents(agents: readonly string[], over: Partial<AgentRegistration> = {}): Promise<void> {
  const store = new ContextStore({ redisUrl: connection('context-feeder').redisUrl, freshnessMs: 600_000 });
  await store.connect();
  try {
    for (const agent of agents) {
      const current = await store.agentFacts(agent);
      await store.applyRegistration({
        agent, owner: 'alice@example.org', autonomy: 'assisted', domains: ['app', 'data', 'infra', 'ai'], actions: ['*'], status: 'active',
        changed_at: new Date().toISOString(), changed_by: 'test', reason: 'test agent', ...over, revision: (current.revision ?? 0) + 1,
      });
    }
  } finally {
    await store.close();
  }
}

/**
 * Labels resources in the context store, as the context feeder does: a service without a label is
 * production to the policy, whatever the intent calls it.
 */
export async function labelResources(resources: ReadonlyArray<{ type: string; id: string; sensitivity: 'public' | 'internal' | 'confidential' | 'restricted'; environment?: string }>): Promise<void> {
  const store = new ContextStore({ redisUrl: connection('context-feeder').redisUrl, freshnessMs: 600_000 });
  await store.connect();
  try {
    for (const r of resources) await store.labelResource(r.type, r.id, r.sensitivity, r.environment);
  } finally {
    await store.close();
  }
}

/** Labels an intent's resource as what the intent says it is (for tests whose subject is not labels). */
export function labelAsStated(intent: { resource: { type: string; id: string; properties: { sensitivity: 'public' | 'internal' | 'confidential' | 'restricted'; environment?: unknown } } }): Promise<void> {
  const env = intent.resource.properties.environment;
  return labelResources([{ type: intent.resource.type, id: intent.resource.id, sensitivity: intent.resource.properties.sensitivity, ...(typeof env === 'string' ? { environment: env } : {}) }]);
}

let registered: Promise<void> | null = null;

/** Marks the shared context store as just synced (policy context older than its bound denies), with the test agents registered. */
export async function freshContext(): Promise<void> {
  registered ??= registerAgents(TEST_AGENTS);
  await registered;
  // As the context feeder: the role that writes the sync mark.
  const store = new ContextStore({ redisUrl: connection('context-feeder').redisUrl, freshnessMs: 600_000 });
  await store.connect();
  await store.markSynced();
  await store.close();
}

export async function decisionWorker(
  bus: Bus,
  name: string,
  options: Partial<DecisionServiceOptions> & { bundle?: BuiltBundle } = {},
): Promise<DecisionService> {
  const { bundle, ...rest } = options;
  const tenant = rest.tenant ?? `${name}-${randomUUID().slice(0, 8)}`;
  await activate(bus, bundle ?? (await starterBundle()), { version: '1', tenant, by: 'test' });
  await freshContext();
  return DecisionService.start({
    // Identity is off unless the test gives trust bundles: these tests are about other things (each start records the mode change).
    identity: 'off',
    // The provisioner: its consumer group and transactional ids are the test's own (test-…), not the decision role's.
    ...connection('provisioner'), groupId: uniqueGroup(name),
    contextFreshnessMs: 600_000, logger: testLogger(), trust: await serviceTrust('decision'), ...rest, tenant,
  });
}

/** Reviewers every approvals test can sign in as: password `<id>-secret`, API token `token-<id>`. */
export const TEST_REVIEWERS = [
  { id: 'alice', name: 'Alice Reviewer', principals: ['alice@example.org'] },
  { id: 'bob', name: 'Bob Reviewer', principals: ['bob@example.org'] },
  { id: 'carol', name: 'Carol Reviewer', principals: ['carol@example.org'] },
] as const;

let accounts: Promise<ReviewerAccount[]> | null = null;
function testAccounts(): Promise<ReviewerAccount[]> {
  accounts ??= Promise.all(TEST_REVIEWERS.map(async (r) => ({
    ...r, principals: [...r.principals], password: await hashPassword(`${r.id}-secret`), tokenSha256: tokenDigest(`token-${r.id}`),
  })));
  return accounts;
}

/**
 * An approvals service in a consumer group of its own that reads approval requests from now on
 * (so it does not settle other tests' old escalations). Pass the same dataDir to restart it.
 */
export async function approvalsService(name: string, options: Partial<ApprovalsOptions> = {}): Promise<ApprovalsService> {
  return ApprovalsService.start({
    ...connection('provisioner'),
    dataDir: options.dataDir ?? (await mkdtemp(join(tmpdir(), `ig-approvals-${name}-`))),
    reviewers: await testAccounts(), groupId: uniqueGroup(`approvals-${name}`), fromBeginning: false, logger: testLogger(),
    trust: await serviceTrust('approvals'), ...options,
  });
}
