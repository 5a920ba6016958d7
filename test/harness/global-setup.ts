// Vitest global setup for the integration project: one stack per test run, from wherever
// startStack() decides (environment, Testcontainers, or local processes), stopped at the end.
import type { TestProject } from 'vitest/node';
import { Bus } from '@intentgate/bus';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTrustMaterial } from '@intentgate/evidence';
import { registryUrlOf, saslOf, startStack, type StackInfo } from '@intentgate/infra';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackInfo;
    /** The test run's trust material (one deployment root for every test file, as in one deployment). */
    trustDir: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = performance.now();
  const stack = await startStack({ progress: (m) => console.log(`[stack] ${m}`) });
  try {
    // Topics, schemas and the access catalog's ACLs, as the provisioner (the broker's super user).
    const bus = new Bus({ brokers: stack.info.kafka.brokers, sasl: saslOf(stack.info, 'provisioner'), registryUrl: registryUrlOf(stack.info, 'provisioner'), clientId: 'test-setup' });
    try {
      await bus.provision();
      if (stack.info.credentials) {
        const acls = await bus.provisionAcls();
        console.log(`[stack] ${acls.bindings.length} ACLs from the access catalog (${acls.created} created)`);
      }
    } finally {
      await bus.close();
    }
  } catch (err) {
    await stack.stop();
    throw err;
  }
  const { kafka, schemaRegistry, redis } = stack.info;
  console.log(
    `[stack] ready in ${((performance.now() - started) / 1000).toFixed(1)}s: kafka ${kafka.source} ${kafka.brokers.join(',')}, ` +
      `registry ${schemaRegistry.source} ${schemaRegistry.url}, redis ${redis.source} ${redis.url}`,
  );
  project.provide('stack', stack.info);
  const trustRun = await mkdtemp(join(tmpdir(), 'ig-test-trust-'));
  await ensureTrustMaterial(join(trustRun, 'trust'));
  project.provide('trustDir', join(trustRun, 'trust'));
  return async () => {
    await stack.stop();
    await rm(trustRun, { recursive: true, force: true });
  };
}
