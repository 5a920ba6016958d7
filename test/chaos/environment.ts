// The chaos suite's deployment: a broker and a Redis of its own (so it can kill them), the shared
// schema registry, and every IntentGate service that a fault targets as a process of its own
// (decision worker, ledger, approvals, the data executor), started from the same entry points an
// operator runs. The harness is their supervisor: it kills one, and starts it again as a
// supervisor would. The context feeder runs in the harness (it is not a fault target).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { APPROVALS_ISSUER, hashPassword, newToken } from '@intentgate/approvals';
import { Bus, type BusSasl } from '@intentgate/bus';
import type { Role } from '@intentgate/contracts';
import { ContextStore } from '@intentgate/context';
import { ContextFeeder, publishAndActivate, publishLabel, publishRegistration } from '@intentgate/decision';
import { certifyService, ensureTrustMaterial, loadPrivateKey, newBearerToken, publicJwkOf, type TrustRoots } from '@intentgate/evidence';
import { kafkaSecurityOf, projectRoot, registryUrlOf, saslOf, startStandaloneKafka, startStandaloneRedis, type StackInfo, type StandaloneKafka, type StandaloneServer } from '@intentgate/infra';
import { buildBundle } from '@intentgate/policy';
import type { ChaosExecutorConfig } from './executor-process.ts';

/** The agent the load acts as (registered), and one that never is (its intents must be denied). */
export const CHAOS_AGENT = 'spiffe://chaos.test/agents/load';
export const UNREGISTERED_AGENT = 'spiffe://chaos.test/agents/unregistered';
/** Tables the load acts on, labelled in the resource catalog. */
export const CHAOS_TABLES = { query: 'chaos.orders', delete: 'chaos.invoices' } as const;

export interface ChaosSettings {
  /** Unanswered escalations end (a final deny) after this long: the worker caps their deadlines. */
  approvalDeadlineCapSeconds: number;
  /** The worker's admission bound on its own lag (DECISION_LAG_BOUND_MS). */
  decisionLagBoundMs: number;
  /** How long a killed executor's run mark holds before its redelivery reports the outcome unknown. */
  runLeaseMs: number;
  /** The workers' context freshness bound (the feeder renews the sync mark four times within it). */
  contextFreshnessMs: number;
}

export const CHAOS_DEFAULTS: ChaosSettings = { approvalDeadlineCapSeconds: 6, decisionLagBoundMs: 3_000, runLeaseMs: 8_000, contextFreshnessMs: 4_000 };

/** A service process the harness supervises: started from its entry point, killed, started again. */
export class Supervised {
  readonly name: string;
  #child: ChildProcess | null = null;
  #exited: Promise<void> = Promise.resolve();
  #log: WriteStream;
  readonly #logFile: string;
  readonly #script: string;
  readonly #args: string[];
  readonly #env: NodeJS.ProcessEnv;
  readonly #readyLine: RegExp;
  /** The last ready line's text (a service's URL is in it). */
  readyText = '';
  starts = 0;

  constructor(name: string, script: string, args: string[], env: NodeJS.ProcessEnv, readyLine: RegExp, logFile: string) {
    this.name = name;
    this.#script = script;
    this.#args = args;
    this.#env = env;
    this.#readyLine = readyLine;
    this.#logFile = logFile;
    this.#log = createWriteStream(logFile, { flags: 'a' });
  }

  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** Starts the process; resolves once it logged its ready line (rejects, with its output, if it exits first). */
  async start(timeoutMs = 120_000): Promise<void> {
    if (this.#log.writableEnded) this.#log = createWriteStream(this.#logFile, { flags: 'a' });
    const child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', this.#script, ...this.#args], { env: this.#env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.starts++;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} not ready after ${timeoutMs} ms: ${out.slice(-2_000)}`)), timeoutMs);
      const onData = (d: Buffer) => {
        this.#log.write(d);
        if (out.length < 200_000) out += d.toString();
        const line = out.split('\n').find((l) => this.#readyLine.test(l));
        if (line !== undefined && !this.readyText.startsWith(`${this.starts}:`)) {
          this.readyText = `${this.starts}:${line}`;
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (d: Buffer) => this.#log.write(d));
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code ?? signal}) before it was ready: ${out.slice(-2_000)}`));
      });
    });
  }

  /** SIGKILL, as a crash would; resolves once the process is gone. */
  async kill(): Promise<void> {
    if (this.#child && this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
    await this.#exited;
  }

  /** SIGTERM (the service drains), SIGKILL after the grace period. Idempotent. */
  async stop(graceMs = 30_000): Promise<void> {
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await this.#exited;
      clearTimeout(timer);
    }
    if (!this.#log.writableEnded) await new Promise<void>((resolve) => this.#log.end(resolve));
  }
}

export interface ChaosEnvironment {
  dir: string;
  kafka: StandaloneKafka;
  redis: StandaloneServer;
  registryUrl: string;
  roots: TrustRoots;
  trustFile: string;
  /** The services a fault may target, by name. */
  services: { decision: Supervised; ledger: Supervised; approvals: Supervised; executor: Supervised };
  /** A second decision worker in the same consumer group, started only by the scenario that needs two. */
  decisionPeer: Supervised;
  /** The executor's side effects: one intent id per run. */
  sideEffectsFile: string;
  ledgerDir: string;
  ledgerToken: string;
  reviewerToken: string;
  /** The approvals service's base URL (from its ready line; a new port after each restart). */
  approvalsUrl(): string;
  ledgerUrl(): string;
  /** A bus on the chaos broker as `role` (the provisioner unless told); closed by stop(). */
  bus(role?: Role): Bus;
  settings: ChaosSettings;
  logger: Logger;
  stop(): Promise<void>;
}

const urlIn = (readyText: string, field: string): string => {
  const json = JSON.parse(readyText.slice(readyText.indexOf(':') + 1)) as Record<string, unknown>;
  const url = json[field];
  if (typeof url !== 'string') throw new Error(`no ${field} in the ready line ${readyText}`);
  return url;
};

/**
 * Starts the chaos deployment on `info`'s registry and credentials (a test run's stack, or the one
 * `npm run chaos` starts). Everything it started is stopped by stop(), also when start fails.
 */
export async function startChaosEnvironment(info: StackInfo, settings: ChaosSettings = CHAOS_DEFAULTS): Promise<ChaosEnvironment> {
  const dir = await mkdtemp(join(tmpdir(), 'intentgate-chaos-'));
  const logger = pino({ level: process.env.INTENTGATE_CHAOS_LOG ?? 'silent' }, pino.destination(2));
  const cleanups: Array<() => Promise<unknown>> = [];
  const buses: Bus[] = [];
  const stop = async () => {
    for (const bus of buses.splice(0)) await bus.close().catch(() => {});
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  };
  try {
    const kafka = await startStandaloneKafka(kafkaSecurityOf(info.credentials));
    cleanups.push(() => kafka.stop());
    const redis = await startStandaloneRedis();
    cleanups.push(() => redis.stop());
    const registryUrl = info.schemaRegistry.url;
    const busAs = (role: Role = 'provisioner', clientId = `chaos-${role}-${randomUUID().slice(0, 6)}`): Bus => {
      const sasl = saslOf(info, role);
      const bus = new Bus({ brokers: kafka.brokers, ...(sasl ? { sasl } : {}), registryUrl: registryUrlOf(info, role), clientId, logger });
      buses.push(bus);
      return bus;
    };
    const admin = busAs('provisioner', 'chaos-setup');
    await admin.provision();
    if (info.credentials) await admin.provisionAcls();

    // Trust: a deployment root of its own, each service's key certified by it.
    const trustDir = join(dir, 'trust');
    const { paths, roots } = await ensureTrustMaterial(trustDir);
    const signerFile = async (service: 'decision' | 'approvals' | 'executor') => (await certifyService(trustDir, service, `chaos-${service}-${randomBytes(3).toString('hex')}`, { file: service })).file;
    const [decisionSigner, approvalsSigner, executorSigner] = [await signerFile('decision'), await signerFile('approvals'), await signerFile('executor')];
    const operator = await loadPrivateKey(paths.operatorKey);

    // Policy, registry and labels, as an operator publishes them.
    const bundle = await buildBundle({
      opaPath: info.opa.path, policyDir: join(projectRoot, 'policies'), revision: 'chaos',
      signing: { keyFile: paths.policyPublisherPem, kid: publicJwkOf(await loadPrivateKey(paths.policyPublisherJwk)).kid },
    });
    const operatorBus = busAs('operator', `intentgate-operator-chaos-${randomUUID().slice(0, 6)}`);
    await publishAndActivate(operatorBus, bundle, { version: `chaos-${bundle.digest.slice(0, 8)}`, by: 'chaos', operator });
    await publishRegistration(operatorBus, { agent: CHAOS_AGENT, owner: 'alice@example.org', autonomy: 'assisted', domains: ['data'], actions: ['*'], status: 'active', reason: 'chaos load' }, operator, undefined);
    await publishLabel(operatorBus, { type: 'table', id: CHAOS_TABLES.query, sensitivity: 'internal', environment: 'staging', reason: 'chaos load' }, operator, undefined);
    await publishLabel(operatorBus, { type: 'table', id: CHAOS_TABLES.delete, sensitivity: 'confidential', environment: 'production', reason: 'chaos load' }, operator, undefined);

    // The context feeder, in the harness: it restores the store after Redis loses it.
    const store = new ContextStore({ redisUrl: redis.url, freshnessMs: settings.contextFreshnessMs });
    const feeder = await ContextFeeder.start({ bus: busAs('context-feeder', 'intentgate-context-feeder-chaos'), store, trust: roots, logger, freshnessMs: settings.contextFreshnessMs });
    cleanups.push(() => store.close(), () => feeder.stop());

    const roleEnv = (role: Role): NodeJS.ProcessEnv => {
      const sasl: BusSasl | undefined = saslOf(info, role);
      return {
        ...process.env, KAFKA_BROKERS: kafka.brokers.join(','), SCHEMA_REGISTRY_URL: registryUrl, REDIS_URL: redis.url, LOG_LEVEL: 'info',
        INTENTGATE_TRUST_FILE: paths.trustFile,
        ...(sasl ? { KAFKA_USERNAME: sasl.username, KAFKA_PASSWORD: sasl.password, KAFKA_SASL_MECHANISM: sasl.mechanism } : {}),
      };
    };
    const logs = join(dir, 'logs');
    await mkdir(logs, { recursive: true });
    const main = (service: string, file = 'main.ts') => join(projectRoot, 'services', service, 'src', file);

    const decisionEnv = (instance: string): NodeJS.ProcessEnv => ({
      ...roleEnv('decision'), INTENTGATE_SIGNER_FILE: decisionSigner, INTENTGATE_IDENTITY: 'off', DECISION_INSTANCE_ID: instance,
      CONTEXT_FRESHNESS_MS: String(settings.contextFreshnessMs), APPROVAL_DEADLINE_CAP_SECONDS: String(settings.approvalDeadlineCapSeconds),
      DECISION_LAG_BOUND_MS: String(settings.decisionLagBoundMs),
    });
    const decision = new Supervised('decision', main('decision'), [], decisionEnv('chaos-1'), /decision service ready/, join(logs, 'decision.log'));
    // A second worker in the same group, for the scenario where one of two is killed (its partitions move, and move back).
    const decisionPeer = new Supervised('decision-peer', main('decision'), [], decisionEnv('chaos-2'), /decision service ready/, join(logs, 'decision-peer.log'));

    const ledgerDir = join(dir, 'ledger');
    const ledgerToken = newBearerToken('igl');
    const ledgerTokens = join(dir, 'ledger-tokens.json');
    await writeFile(ledgerTokens, JSON.stringify({ tokens: [{ name: 'chaos', roles: ['auditor'], token_sha256: ledgerToken.sha256 }] }));
    const ledger = new Supervised('ledger', main('ledger'), [], {
      ...roleEnv('ledger'), LEDGER_DATA_DIR: ledgerDir, LEDGER_TOKENS_FILE: ledgerTokens, LEDGER_CHECKPOINT_INTERVAL_MS: '1000',
    }, /ledger ready/, join(logs, 'ledger.log'));

    const reviewer = newToken();
    const reviewersFile = join(dir, 'reviewers.json');
    await writeFile(reviewersFile, JSON.stringify({ reviewers: [{ id: 'chaos', name: 'Chaos reviewer', principals: ['reviewer@chaos.test'], password: await hashPassword(randomBytes(9).toString('hex')), token_sha256: reviewer.sha256 }] }));
    const approvals = new Supervised('approvals', main('approvals'), [], {
      ...roleEnv('approvals'), INTENTGATE_SIGNER_FILE: approvalsSigner, APPROVALS_REVIEWERS_FILE: reviewersFile, APPROVALS_DATA_DIR: join(dir, 'approvals'),
    }, /reviewer page and API/, join(logs, 'approvals.log'));

    const sideEffectsFile = join(dir, 'side-effects.log');
    await writeFile(sideEffectsFile, '');
    const executorSasl = saslOf(info, 'executor-data');
    const executorConfig: ChaosExecutorConfig = {
      brokers: kafka.brokers, ...(executorSasl ? { sasl: executorSasl } : {}), registryUrl, redisUrl: redis.url,
      issuer: ['intentgate-decision', APPROVALS_ISSUER], trustFile: paths.trustFile, signerFile: executorSigner, sideEffectsFile, runLeaseMs: settings.runLeaseMs,
    };
    const executor = new Supervised('executor', join(import.meta.dirname, 'executor-process.ts'), [JSON.stringify(executorConfig)], { ...process.env, LOG_LEVEL: 'warn' }, /chaos executor ready/, join(logs, 'executor.log'));

    const services = { decision, ledger, approvals, executor };
    cleanups.push(() => Promise.allSettled([...Object.values(services), decisionPeer].map((s) => s.stop())));
    // The ledger first, so it sees every receipt; the executor before the worker, so the first allow finds it.
    await ledger.start();
    await Promise.all([approvals.start(), executor.start()]);
    await decision.start();
    return {
      dir, kafka, redis, registryUrl, roots, trustFile: paths.trustFile, services, decisionPeer, sideEffectsFile, ledgerDir, ledgerToken: ledgerToken.token, reviewerToken: reviewer.token,
      approvalsUrl: () => urlIn(approvals.readyText, 'url'), ledgerUrl: () => urlIn(ledger.readyText, 'http'),
      bus: (role) => busAs(role), settings, logger, stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
