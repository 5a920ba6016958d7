// The executors of the pipeline benchmark, as a process of their own: one ExecutorRuntime per
// domain (verify the warrant, claim it once in Redis, run, report an ExecutionResult and its
// receipt). The handler does nothing itself, so what is measured is the enforcement path, not
// a demo side effect. Only intents of this benchmark run (session prefix) are taken.
import { pino } from 'pino';
import { DOMAINS } from '@intentgate/contracts';
import { loadSigner, loadTrustFile, type Jwks } from '@intentgate/evidence';
import { ExecutorRuntime, type ExecutorOptions } from '@intentgate/sdk';

export interface ExecutorsConfig {
  brokers: string[];
  /** The bench runs as the provisioner on an authenticated stack. */
  sasl?: ExecutorOptions['sasl'];
  registryUrl: string;
  redisUrl: string;
  /** The decision worker's warrant key, configured (the benchmark measures enforcement, not key distribution). */
  jwks: Jwks;
  trustFile: string;
  signerFile: string;
  groupPrefix: string;
  sessionPrefix: string;
}

const config = JSON.parse(process.argv[2] ?? '{}') as ExecutorsConfig;
const logger = pino({ level: process.env.BENCH_WORKER_LOG ?? 'fatal', base: { service: 'bench-executors' } }, pino.destination(2));
const trust = { roots: await loadTrustFile(config.trustFile), signer: await loadSigner(config.signerFile) };
const runtimes = await Promise.all(DOMAINS.map((domain) => ExecutorRuntime.start({
  trust,
  brokers: config.brokers, sasl: config.sasl, registryUrl: config.registryUrl, redisUrl: config.redisUrl, domain,
  executorId: `bench-${domain}`, issuer: 'intentgate-decision', jwks: config.jwks, groupId: `${config.groupPrefix}-${domain}`, logger,
  accept: (approved) => approved.intent.session.id.startsWith(config.sessionPrefix),
  handler: async () => ({ detail: { bench: true } }),
})));

process.on('message', (msg: unknown) => {
  if (msg === 'rss') process.send?.({ rss: process.memoryUsage().rss });
  if (msg === 'stop') {
    Promise.allSettled(runtimes.map((r) => r.stop())).then(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(1));
process.send?.({ ready: true });
