// A broker of a test's own, for failure tests that kill it: the shared stack's broker serves every
// other test file and must never go away. Same users as the shared stack (its credentials), so a
// role connects the same way; topics and ACLs provisioned as on the shared stack.
import { randomUUID } from 'node:crypto';
import { Bus, type BusSasl } from '@intentgate/bus';
import type { Role } from '@intentgate/contracts';
import { kafkaSecurityOf, startStandaloneKafka, type StandaloneKafka } from '@intentgate/infra';
import { connection, stack, testLogger } from './index.ts';

export interface PrivateBroker {
  readonly kafka: StandaloneKafka;
  /** How `role` connects to this broker (and to the shared registry and Redis). */
  connection(role: Role): { brokers: string[]; sasl?: BusSasl; registryUrl: string; redisUrl: string };
  /** A bus on this broker, as `role` (the provisioner unless told). */
  bus(clientId?: string, role?: Role): Bus;
  stop(): Promise<void>;
}

export async function privateBroker(): Promise<PrivateBroker> {
  const kafka = await startStandaloneKafka(kafkaSecurityOf(stack().credentials));
  const connectionOf = (role: Role) => ({ ...connection(role), brokers: kafka.brokers });
  const broker: PrivateBroker = {
    kafka,
    connection: connectionOf,
    bus: (clientId = `test-${randomUUID().slice(0, 8)}`, role = 'provisioner') => {
      const { brokers, sasl, registryUrl } = connectionOf(role);
      return new Bus({ brokers, ...(sasl ? { sasl } : {}), registryUrl, clientId, logger: testLogger() });
    },
    stop: () => kafka.stop(),
  };
  try {
    const bus = broker.bus('private-broker-setup');
    try {
      await bus.provision();
      if (stack().credentials) await bus.provisionAcls();
    } finally {
      await bus.close();
    }
  } catch (err) {
    await kafka.stop();
    throw err;
  }
  return broker;
}
