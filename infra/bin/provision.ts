// Creates the topic catalog and registers every schema on servers that already run
// (KAFKA_BROKERS, SCHEMA_REGISTRY_URL), then exits. docker compose runs this once.
import { Bus, BusError, waitForBroker } from '@intentgate/bus';
import { readStackEnv, StackError } from '../src/index.ts';
import { ensureBackwardCompatibility } from '../src/servers/registry.ts';

try {
  const env = readStackEnv();
  if (!env.KAFKA_BROKERS || !env.SCHEMA_REGISTRY_URL) {
    throw new StackError('CONFIG_INVALID', 'provision', 'KAFKA_BROKERS and SCHEMA_REGISTRY_URL must both be set',
      'Set them to running servers, or use `npm start`, which provisions a local stack.');
  }
  await waitForBroker(env.KAFKA_BROKERS, 120_000);
  await ensureBackwardCompatibility(env.SCHEMA_REGISTRY_URL);
  const bus = new Bus({ brokers: env.KAFKA_BROKERS, registryUrl: env.SCHEMA_REGISTRY_URL, clientId: 'intentgate-provision' });
  const { topics, subjects } = await bus.provision();
  await bus.close();
  console.log(`provisioned ${topics.length} topics (${topics.filter((t) => t.created).length} created) and ${subjects.length} schema subjects`);
} catch (err) {
  if (err instanceof StackError) console.error(err.render());
  else if (err instanceof BusError) console.error(`error ${err.code}: ${err.message}\n  what to do: ${err.hint}`);
  else console.error(`error: ${String(err)}`);
  process.exit(1);
}
