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
  /** Clients authenticate with SCRAM-SHA-512 (the users of KafkaSecurity). */
  mechanism: 'scram-sha-512';
  version: string;
  /** The broker process running now (a new one after restart()). */
  readonly process: ManagedProcess;
  /**
   * Starts the broker again on the same data directory, ports and users, after its process
   * exited (a failure test killed it); resolves once it answers metadata requests.
   */
  restart(): Promise<void>;
}

const LOG4J = `log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.BrokerServer=INFO
log4j.logger.kafka.server.ControllerServer=INFO
`;

/** The broker's own principal: on the controller listener (SASL/PLAIN) and between brokers (SCRAM). */
export const BROKER_PRINCIPAL = 'intentgate-broker';

export interface KafkaSecurity {
  /** The broker's own password (controller listener and inter-broker SCRAM). */
  brokerPassword: string;
  /** SCRAM-SHA-512 users created with the storage (KIP-900): username → password. */
  users: ReadonlyArray<{ username: string; password: string }>;
  /** Principals besides the broker's own that are super users (the provisioner); never ANONYMOUS. */
  superUsers: readonly string[];
}

function jaasValue(v: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(v)) throw new StackError('CONFIG_INVALID', 'kafka', `unsafe JAAS value ${JSON.stringify(v)}`, 'Use letters, digits, ".", "_" and "-" in Kafka usernames and passwords.');
  return `"${v}"`;
}

export function serverProperties(port: number, controllerPort: number, dataDir: string, security: KafkaSecurity): string {
  const broker = jaasValue(BROKER_PRINCIPAL);
  const password = jaasValue(security.brokerPassword);
  const superUsers = [BROKER_PRINCIPAL, ...security.superUsers];
  if (superUsers.some((u) => u.toUpperCase() === 'ANONYMOUS')) {
    throw new StackError('CONFIG_INVALID', 'kafka', 'User:ANONYMOUS must never be a super user', 'Name the provisioner in superUsers, not ANONYMOUS.');
  }
  return `# Single-node KRaft broker for IntentGate's local stack (127.0.0.1 only).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controllerPort}
listeners=CLIENT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}
advertised.listeners=CLIENT://127.0.0.1:${port}
controller.listener.names=CONTROLLER
# Every listener authenticates: clients (and the broker to itself) with SCRAM-SHA-512, the
# controller listener with SASL/PLAIN and one static user, the broker's own (KRaft controllers
# cannot use SCRAM: its credentials live in the metadata log the controller serves).
listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
inter.broker.listener.name=CLIENT
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=${broker} password=${password};
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=${broker} password=${password} user_${BROKER_PRINCIPAL}=${password};
# ACLs in the metadata log; nothing is allowed that no ACL allows.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=${superUsers.map((u) => `User:${u}`).join(';')}
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
export async function startKafka(runDir: string, group: ProcessGroup, progress: Progress, security: KafkaSecurity): Promise<LocalKafka> {
  const libs = await ensureKafka(progress);
  const java = await findJava(17);
  if (java === null) throw new StackError('TOOL_MISSING', 'kafka', 'no Java 17+ runtime found', 'Install a JDK 17+: apt-get install openjdk-17-jre-headless.');
  const dir = join(runDir, 'kafka');
  const dataDir = join(dir, 'data');
  await mkdir(dataDir, { recursive: true });
  const [port, controllerPort] = [await freePort(), await freePort()];
  const props = join(dir, 'server.properties');
  const log4j = join(dir, 'log4j.properties');
  // The broker's passwords are in this file: readable by this user only.
  await writeFile(props, serverProperties(port, controllerPort, dataDir, security), { mode: 0o600 });
  await writeFile(log4j, LOG4J);
  const jvm = [`-Dlog4j.configuration=file:${log4j}`, '-cp', join(libs, '*')];

  const clusterId = newClusterId();
  // KIP-900: the SCRAM users are written into the first metadata records, so the broker starts knowing them.
  const scram = [{ username: BROKER_PRINCIPAL, password: security.brokerPassword }, ...security.users]
    .flatMap((u) => ['--add-scram', `SCRAM-SHA-512=[name=${u.username},password=${u.password}]`]);
  for (const u of security.users) {
    jaasValue(u.username);
    jaasValue(u.password);
  }
  const format = await run(java.path, [...jvm, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', props, '--ignore-formatted', ...scram], { timeoutMs: 120_000 });
  if (format.code !== 0) {
    throw new StackError('START_FAILED', 'kafka', `formatting the KRaft log directory failed:\n${tail(format.stdout + format.stderr)}`, `Check ${dataDir} is writable.`);
  }
  const brokers = [`127.0.0.1:${port}`];
  const sasl = { mechanism: 'scram-sha-512' as const, username: BROKER_PRINCIPAL, password: security.brokerPassword };
  const launch = async (): Promise<ManagedProcess> => {
    const proc = group.start({
      name: 'kafka',
      command: java.path,
      args: ['-Xms256m', '-Xmx1g', '-XX:+ExitOnOutOfMemoryError', '-Djava.awt.headless=true', ...jvm, 'kafka.Kafka', props],
      logFile: join(dir, 'kafka.log'),
    });
    await proc.waitHealthy(() => waitForBroker(brokers, 1_000, sasl).then(() => true), 120_000, 'answering metadata requests');
    return proc;
  };
  let current = await launch();
  return {
    brokers, mechanism: 'scram-sha-512', version: VERSIONS.kafka,
    get process() {
      return current;
    },
    restart: async () => {
      if (current.running) {
        throw new StackError('START_FAILED', 'kafka', `the broker (pid ${current.pid}) is still running`, 'Kill or stop it before restarting it.');
      }
      current = await launch();
    },
  };
}
