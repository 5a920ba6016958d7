// The setup most pipeline tests share: a tenant of their own with the starter policy active,
// a context store marked fresh, and a decision worker in a consumer group of its own.
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApprovalsService, hashPassword, tokenDigest, type ApprovalsOptions, type ReviewerAccount } from '@intentgate/approvals';
import type { Bus } from '@intentgate/bus';
import { ContextStore } from '@intentgate/context';
import { DecisionService, type DecisionServiceOptions } from '@intentgate/decision';
import type { BuiltBundle } from '@intentgate/policy';
import { connection, testLogger, uniqueGroup } from './index.ts';
import { starterBundle } from './bundles.ts';
import { activate, serviceTrust } from './trust.ts';

/** Marks the shared context store as just synced (policy context older than its bound denies). */
export async function freshContext(): Promise<void> {
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
