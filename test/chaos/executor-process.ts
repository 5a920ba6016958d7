// The chaos suite's data executor, as a process of its own so it can be SIGKILLed: the real
// enforcement point (ExecutorRuntime: verify the warrant, claim it once, run, report), with a
// side effect the suite can count. Each run appends its intent id to a file before it returns,
// so an intent that ran twice shows twice there, whatever the executor reported.
import { appendFileSync } from 'node:fs';
import { pino } from 'pino';
import { loadSigner, loadTrustFile } from '@intentgate/evidence';
import { ExecutorRuntime, type ExecutorOptions } from '@intentgate/sdk';

export interface ChaosExecutorConfig {
  brokers: string[];
  sasl?: ExecutorOptions['sasl'];
  registryUrl: string;
  redisUrl: string;
  issuer: string[];
  trustFile: string;
  signerFile: string;
  /** Where every run is recorded, one intent id per line. */
  sideEffectsFile: string;
  runLeaseMs: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as ChaosExecutorConfig;
const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn', base: { service: 'chaos-executor' } });
const runtime = await ExecutorRuntime.start({
  brokers: config.brokers, sasl: config.sasl, registryUrl: config.registryUrl, redisUrl: config.redisUrl, domain: 'data',
  executorId: 'chaos-data', issuer: config.issuer, trust: { roots: await loadTrustFile(config.trustFile), signer: await loadSigner(config.signerFile) },
  runLeaseMs: config.runLeaseMs, logger,
  handler: async (approved) => {
    appendFileSync(config.sideEffectsFile, `${approved.intent.intent_id}\n`);
    return { detail: { chaos: true } };
  },
});
process.stdout.write('chaos executor ready\n');
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    runtime.stop().then(() => process.exit(0), () => process.exit(1));
  });
}
