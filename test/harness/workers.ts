// The setup most pipeline tests share: a tenant of their own with the starter policy active,
// a context store marked fresh, and a decision worker in a consumer group of its own.
import { randomUUID } from 'node:crypto';
import type { Bus } from '@intentgate/bus';
import { ContextStore } from '@intentgate/context';
import { DecisionService, publishAndActivate, type DecisionServiceOptions } from '@intentgate/decision';
import type { BuiltBundle } from '@intentgate/policy';
import { stack, testLogger, uniqueGroup } from './index.ts';
import { starterBundle } from './bundles.ts';

/** Marks the shared context store as just synced (policy context older than its bound denies). */
export async function freshContext(): Promise<void> {
  const store = new ContextStore({ redisUrl: stack().redis.url, freshnessMs: 600_000 });
  await store.connect();
  await store.markSynced();
  await store.close();
}

export async function decisionWorker(
  bus: Bus,
  name: string,
  options: Partial<DecisionServiceOptions> & { bundle?: BuiltBundle } = {},
): Promise<DecisionService> {
  const s = stack();
  const { bundle, ...rest } = options;
  const tenant = rest.tenant ?? `${name}-${randomUUID().slice(0, 8)}`;
  await publishAndActivate(bus, bundle ?? (await starterBundle()), { version: '1', tenant, by: 'test' });
  await freshContext();
  return DecisionService.start({
    brokers: s.kafka.brokers, registryUrl: s.schemaRegistry.url, redisUrl: s.redis.url, groupId: uniqueGroup(name),
    contextFreshnessMs: 600_000, logger: testLogger(), ...rest, tenant,
  });
}
