import { userInfo } from 'node:os';
import { Bus, credentialsFromEnv } from '@intentgate/bus';
import { readStackFile } from '@intentgate/infra';
import { CliError } from './errors.ts';
import type { Out } from './commands.ts';

/** Publishes a revocation on identity.revocations; every decision worker applies it at once. */
export async function revoke(link: string, kind: 'delegation' | 'principal', reason: string, out: Out): Promise<void> {
  const stack = await readStackFile();
  const brokers = process.env.KAFKA_BROKERS?.split(',') ?? stack?.kafka.brokers;
  const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? stack?.schemaRegistry.url;
  if (!brokers || !registryUrl) throw new CliError('NO_STACK', 'no Kafka to publish the revocation to', 'Start the stack (npm start) or set KAFKA_BROKERS and SCHEMA_REGISTRY_URL.');
  // The operator's principal: KAFKA_USERNAME / KAFKA_PASSWORD, KAFKA_CREDENTIALS_FILE, or the running stack's operator file.
  const { sasl } = credentialsFromEnv(process.env, 'operator', stack);
  const bus = new Bus({ brokers, sasl, registryUrl, clientId: 'intentgate-operator-cli' });
  try {
    await bus.producer().send({
      topic: 'identity.revocations', key: link,
      value: { link, kind, revoked_by: userInfo().username, reason, revoked_at: new Date().toISOString() },
    });
  } finally {
    await bus.close();
  }
  out(`revoked ${kind} ${link}`);
}
