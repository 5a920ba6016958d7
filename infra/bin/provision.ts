// Creates the topic catalog and registers every schema on servers that already run
// (KAFKA_BROKERS, SCHEMA_REGISTRY_URL), then exits. docker compose runs this once.
import { Bus, BusError, credentialsFromEnv, CredentialsError, waitForBroker } from '@intentgate/bus';
import { provisionRedis, readStackEnv, StackError } from '../src/index.ts';
import { ensureBackwardCompatibility } from '../src/servers/registry.ts';

try {
  const env = readStackEnv();
  if (!env.KAFKA_BROKERS || !env.SCHEMA_REGISTRY_URL) {
    throw new StackError('CONFIG_INVALID', 'provision', 'KAFKA_BROKERS and SCHEMA_REGISTRY_URL must both be set',
      'Set them to running servers, or use `npm start`, which provisions a local stack.');
  }
  // The provisioner's credentials (KAFKA_USERNAME / KAFKA_PASSWORD or KAFKA_CREDENTIALS_FILE): a
  // principal that may create topics and ACLs (a super user). Without, an unauthenticated cluster.
  const { sasl } = credentialsFromEnv(process.env, 'provisioner');
  await waitForBroker(env.KAFKA_BROKERS, 120_000, sasl);
  await ensureBackwardCompatibility(env.SCHEMA_REGISTRY_URL);
  const bus = new Bus({ brokers: env.KAFKA_BROKERS, sasl, registryUrl: env.SCHEMA_REGISTRY_URL, clientId: 'intentgate-provision' });
  try {
    const { topics, subjects } = await bus.provision();
    console.log(`provisioned ${topics.length} topics (${topics.filter((t) => t.created).length} created) and ${subjects.length} schema subjects`);
    // ACLs from the access catalog, for an authenticated cluster with an authorizer; INTENTGATE_ACLS=off skips them.
    if (sasl && process.env.INTENTGATE_ACLS !== 'off') {
      const acls = await bus.provisionAcls();
      console.log(`ACLs: ${acls.bindings.length} from the access catalog (${acls.created} created, ${acls.bindings.length - acls.created} already there${acls.extra ? `; ${acls.extra} other ACLs on these principals left alone` : ''})`);
    } else {
      console.log(sasl ? 'ACLs: skipped (INTENTGATE_ACLS=off)' : 'ACLs: skipped (no credentials: an unauthenticated cluster; set KAFKA_USERNAME / KAFKA_PASSWORD of a super user to create them)');
    }
  } finally {
    await bus.close();
  }
  // Redis (REDIS_URL, as the provisioner's user where Redis has ACLs): the functions every
  // service calls, and each domain's claim memory begun.
  if (env.REDIS_URL) {
    const { libraries } = await provisionRedis(env.REDIS_URL);
    console.log(`Redis: functions loaded (${libraries.join(', ')})`);
  } else {
    console.log('Redis: skipped (REDIS_URL not set); every service refuses to decide or claim until its functions are loaded');
  }
} catch (err) {
  if (err instanceof StackError) console.error(err.render());
  else if (err instanceof BusError || err instanceof CredentialsError) console.error(`error ${err.code}: ${err.message}\n  what to do: ${err.hint}`);
  else console.error(`error: ${String(err)}`);
  process.exit(1);
}
