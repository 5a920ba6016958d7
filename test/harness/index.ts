// What integration tests share: the stack's addresses and a bus wired to them.
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { pino, type Logger } from 'pino';
import { Bus } from '@intentgate/bus';
import type { StackInfo } from '@intentgate/infra';

export function stack(): StackInfo {
  return inject('stack');
}

/** Silent unless INTENTGATE_TEST_LOG names a level (debug shows the bus's and KafkaJS's logs). */
export function testLogger(): Logger {
  return pino({ level: process.env.INTENTGATE_TEST_LOG ?? 'silent' }, pino.destination(2));
}

/** A bus on the test stack. Close it in afterAll/afterEach. */
export function testBus(clientId = `test-${randomUUID().slice(0, 8)}`): Bus {
  const s = stack();
  return new Bus({ brokers: s.kafka.brokers, registryUrl: s.schemaRegistry.url, clientId, logger: testLogger() });
}

/** A consumer group nobody else uses, so a test sees the topic from its own position. */
export function uniqueGroup(name: string): string {
  return `test-${name}-${randomUUID()}`;
}

/**
 * Resolves when `predicate` holds, polling (running `refresh` before each look, when given);
 * rejects with `what` after `timeoutMs`.
 */
export async function eventually(predicate: () => boolean, what: string, timeoutMs = 60_000, refresh?: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await refresh?.();
    if (predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, refresh ? 250 : 50));
  }
}
export { starterBundle, variantBundle, signedBundleOf, bundleFiles, type PolicyData } from './bundles.ts';
export { decisionWorker, freshContext, approvalsService, TEST_REVIEWERS } from './workers.ts';
export { testTrust, serviceTrust, activate, publishSigningKey, type TestTrust } from './trust.ts';
