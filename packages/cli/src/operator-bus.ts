import { Bus, credentialsFromEnv } from '@intentgate/bus';
import { readStackFile } from '@intentgate/infra';
import { CliError } from './errors.ts';

/** The operator's connection to the bus: the running stack's, or KAFKA_BROKERS and SCHEMA_REGISTRY_URL. */
export async function operatorBus(what: string): Promise<Bus> {
  const stack = await readStackFile();
  const brokers = process.env.KAFKA_BROKERS?.split(',') ?? stack?.kafka.brokers;
  const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? stack?.schemaRegistry.url;
  if (!brokers || !registryUrl) throw new CliError('NO_STACK', `no Kafka to reach ${what} on`, 'Start the stack (npm start) or set KAFKA_BROKERS and SCHEMA_REGISTRY_URL.');
  // The operator's principal: KAFKA_USERNAME / KAFKA_PASSWORD, KAFKA_CREDENTIALS_FILE, or the running stack's operator file.
  const { sasl } = credentialsFromEnv(process.env, 'operator', stack);
  return new Bus({ brokers, sasl, registryUrl, clientId: 'intentgate-operator-cli' });
}
