// The Testcontainers route: used when a container runtime answers and no server is configured.
// Loaded lazily so machines without Docker never pay for it.
import { StackError } from './errors.ts';

export const IMAGES = Object.freeze({
  kafka: 'confluentinc/cp-kafka:7.9.0', // Apache Kafka 3.9
  registry: 'apicurio/apicurio-registry:3.3.3',
  redis: 'redis:7.0.15',
});

export interface StartedContainers {
  brokers?: string[];
  registryUrl?: string;
  redisUrl?: string;
  stop(): Promise<void>;
}

/** True when Testcontainers finds a working container runtime within `timeoutMs`. */
export async function containerRuntimeAnswers(timeoutMs = 10_000): Promise<boolean> {
  if (process.env.INTENTGATE_CONTAINERS === 'never') return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const probe = getContainerRuntimeClient().then(() => true, () => false);
    const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref());
    return await Promise.race([probe, timeout]);
  } catch {
    return false;
  }
}

export async function startContainers(want: { kafka: boolean; registry: boolean; redis: boolean }): Promise<StartedContainers> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const started: Array<{ stop(): Promise<unknown> }> = [];
  const out: StartedContainers = {
    stop: async () => {
      await Promise.allSettled(started.map((c) => c.stop()));
    },
  };
  try {
    await Promise.all([
      want.kafka &&
        (async () => {
          const { KafkaContainer } = await import('@testcontainers/kafka');
          const kafka = await new KafkaContainer(IMAGES.kafka).withKraft().withEnvironment({ KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false' }).start();
          started.push(kafka);
          out.brokers = [`${kafka.getHost()}:${kafka.getMappedPort(9093)}`];
        })(),
      want.registry &&
        (async () => {
          const registry = await new GenericContainer(IMAGES.registry)
            .withEnvironment({ APICURIO_RULES_GLOBAL_COMPATIBILITY: 'BACKWARD' })
            .withExposedPorts(8080)
            .withWaitStrategy(Wait.forHttp('/apis/ccompat/v7/subjects', 8080).forStatusCode(200))
            .withStartupTimeout(180_000)
            .start();
          started.push(registry);
          out.registryUrl = `http://${registry.getHost()}:${registry.getMappedPort(8080)}/apis/ccompat/v7`;
        })(),
      want.redis &&
        (async () => {
          const { RedisContainer } = await import('@testcontainers/redis');
          const redis = await new RedisContainer(IMAGES.redis).start();
          started.push(redis);
          out.redisUrl = redis.getConnectionUrl();
        })(),
    ]);
  } catch (err) {
    await out.stop();
    throw new StackError('START_FAILED', 'containers', `a container did not start: ${(err as Error).message}`,
      'Check the container runtime (docker info), or set INTENTGATE_CONTAINERS=never to use local processes.', err);
  }
  return out;
}
