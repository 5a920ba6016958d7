// What integration tests share: the stack's addresses and a bus wired to them.
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { pino, type Logger } from 'pino';
import type { KafkaConfig } from 'kafkajs';
import { Bus, kafkaSasl, type BusSasl } from '@intentgate/bus';
import type { Role } from '@intentgate/contracts';
import { redisUrlOf, registryUrlOf, saslOf, type StackInfo } from '@intentgate/infra';

export function stack(): StackInfo {
  return inject('stack');
}

/** Silent unless INTENTGATE_TEST_LOG names a level (debug shows the bus's and KafkaJS's logs). */
export function testLogger(): Logger {
  return pino({ level: process.env.INTENTGATE_TEST_LOG ?? 'silent' }, pino.destination(2));
}

/**
 * How a role connects to the test stack: brokers and its SASL credentials, the registry, Redis
 * with its ACL user. Spread it into a service's options. Tests that use consumer groups or
 * transactional ids of their own (test-…) act as the provisioner, a super user.
 */
export function connection(role: Role): { brokers: string[]; sasl?: BusSasl; registryUrl: string; redisUrl: string } {
  const s = stack();
  const sasl = saslOf(s, role);
  return { brokers: s.kafka.brokers, ...(sasl ? { sasl } : {}), registryUrl: registryUrlOf(s, role), redisUrl: redisUrlOf(s, role) };
}

/** `{ sasl }` for a raw KafkaJS client acting as `role` (empty on an unauthenticated stack). */
export function saslFor(role: Role): { sasl?: KafkaConfig['sasl'] } {
  const sasl = connection(role).sasl;
  return sasl ? { sasl: kafkaSasl(sasl) } : {};
}

/** The same for a child process: the servers and the role's credentials as environment variables. */
export function roleEnv(role: Role): Record<string, string> {
  const c = connection(role);
  return {
    KAFKA_BROKERS: c.brokers.join(','), SCHEMA_REGISTRY_URL: c.registryUrl, REDIS_URL: c.redisUrl,
    ...(c.sasl ? { KAFKA_USERNAME: c.sasl.username, KAFKA_PASSWORD: c.sasl.password, KAFKA_SASL_MECHANISM: c.sasl.mechanism } : {}),
  };
}

/** A bus on the test stack, as `role` (the provisioner unless told). Close it in afterAll/afterEach. */
export function testBus(clientId = `test-${randomUUID().slice(0, 8)}`, role: Role = 'provisioner'): Bus {
  const { brokers, sasl, registryUrl } = connection(role);
  return new Bus({ brokers, ...(sasl ? { sasl } : {}), registryUrl, clientId, logger: testLogger() });
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
export { decisionWorker, freshContext, registerAgents, labelResources, labelAsStated, approvalsService, TEST_REVIEWERS, TEST_AGENTS } from './workers.ts';
export { testTrust, serviceTrust, activate, publishSigningKey, type TestTrust } from './trust.ts';
export { approvedIntentSignedBy } from './warrants.ts';
export { LIES, REGISTRY_LIES, withLieCredentials, type Lie, type LieStore } from './lies.ts';
export { privateBroker, type PrivateBroker } from './broker.ts';
export { poisonCorpus, type Poison, type PoisonCorpus, type PoisonMaker } from './poison.ts';
