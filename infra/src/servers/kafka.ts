import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitForBroker } from '@intentgate/bus';
import { StackError } from '../errors.ts';
import { run, tail } from '../exec.ts';
import { ensureKafka, type Progress } from '../fetch.ts';
import { findJava } from '../java.ts';
import { freePort } from '../ports.ts';
import type { ManagedProcess, ProcessGroup } from '../processes.ts';
import { VERSIONS } from '../versions.ts';

export interface LocalKafka {
  brokers: string[];
  version: string;
  process: ManagedProcess;
}

const LOG4J = `log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.BrokerServer=INFO
log4j.logger.kafka.server.ControllerServer=INFO
`;

function serverProperties(port: number, controllerPort: number, dataDir: string): string {
  return `# Single-node KRaft broker for IntentGate's local stack (127.0.0.1 only).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controllerPort}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=${dataDir}
# Topics are created up front by the project, never on first use.
auto.create.topics.enable=false
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=6
group.initial.rebalance.delay.ms=0
`;
}

/**
 * A KRaft cluster id: 16 random bytes, base64url without padding. Never one that starts with
 * "-": the format tool's argument parser would read it as an option (as Kafka's own generator avoids).
 */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** Kafka in KRaft mode, one node, on free loopback ports. */
export async function startKafka(runDir: string, group: ProcessGroup, progress: Progress): Promise<LocalKafka> {
  const libs = await ensureKafka(progress);
  const java = await findJava(17);
  if (java === null) throw new StackError('TOOL_MISSING', 'kafka', 'no Java 17+ runtime found', 'Install a JDK 17+: apt-get install openjdk-17-jre-headless.');
  const dir = join(runDir, 'kafka');
  const dataDir = join(dir, 'data');
  await mkdir(dataDir, { recursive: true });
  const [port, controllerPort] = [await freePort(), await freePort()];
  const props = join(dir, 'server.properties');
  const log4j = join(dir, 'log4j.properties');
  await writeFile(props, serverProperties(port, controllerPort, dataDir));
  await writeFile(log4j, LOG4J);
  const jvm = [`-Dlog4j.configuration=file:${log4j}`, '-cp', join(libs, '*')];

  const clusterId = newClusterId();
  const format = await run(java.path, [...jvm, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', props, '--ignore-formatted'], { timeoutMs: 120_000 });
  if (format.code !== 0) {
    throw new StackError('START_FAILED', 'kafka', `formatting the KRaft log directory failed:\n${tail(format.stdout + format.stderr)}`, `Check ${dataDir} is writable.`);
  }
  const proc = group.start({
    name: 'kafka',
    command: java.path,
    args: ['-Xms256m', '-Xmx1g', '-XX:+ExitOnOutOfMemoryError', '-Djava.awt.headless=true', ...jvm, 'kafka.Kafka', props],
    logFile: join(dir, 'kafka.log'),
  });
  const brokers = [`127.0.0.1:${port}`];
  await proc.waitHealthy(() => waitForBroker(brokers, 1_000).then(() => true), 120_000, 'answering metadata requests');
  return { brokers, version: VERSIONS.kafka, process: proc };
}
