// One decision worker of the pipeline benchmark, as a process of its own (so its CPU, memory and
// profile are its own). Started by bench/pipeline/paths.ts with fork(); its configuration is a
// JSON argument. Modes:
//   wasm   the DecisionService as shipped: OPA-Wasm in process + Redis context, one transaction per batch
//   opa    the same DecisionService with the policy evaluated by `opa run --server` over HTTP
//   floor  pass-through: consumes intents, produces one decision each, no policy and no context
// Messages from the parent: 'rss' (answers {rss}), 'stop' (drains, commits, exits).
import { randomUUID } from 'node:crypto';
import { getHeapSpaceStatistics } from 'node:v8';
import { pino } from 'pino';
import { Bus, type BusSasl, type TransactionalProcessor } from '@intentgate/bus';
import type { Decision } from '@intentgate/contracts';
import { DecisionService } from '@intentgate/decision';
import { loadSigner, loadTrustFile } from '@intentgate/evidence';
import { OpaServerEvaluator } from '@intentgate/policy';

export interface WorkerConfig {
  mode: 'wasm' | 'opa' | 'floor';
  brokers: string[];
  /** The bench runs as the provisioner on an authenticated stack. */
  sasl?: BusSasl;
  registryUrl: string;
  redisUrl: string;
  tenant: string;
  groupId: string;
  instanceId: string;
  /** The trust file and the worker's certified signer (its key signs warrants; the executors are given its public half). */
  trustFile: string;
  signerFile: string;
  opaUrl?: string;
  exactlyOnce: boolean;
  /** pino level of the worker's own log (stderr); 'fatal' unless given or BENCH_WORKER_LOG is set. */
  logLevel?: string;
  /** The policy time bound (µs); the worker's default (50 ms) when absent. */
  policyTimeoutMicros?: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const logger = pino({ level: config.logLevel ?? process.env.BENCH_WORKER_LOG ?? 'fatal', base: { service: `bench-${config.mode}` } }, pino.destination(2));
const ZERO_DIGEST = '0'.repeat(64);

let stop: () => Promise<void>;
if (config.mode === 'floor') {
  const bus = new Bus({ brokers: config.brokers, sasl: config.sasl, registryUrl: config.registryUrl, clientId: `bench-floor-${config.instanceId}`, logger });
  await bus.registerSchemas();
  const processor: TransactionalProcessor<'Intent'> = bus.transactional<'Intent'>({
    groupId: config.groupId, topics: ['intents'], transactionalId: `${config.groupId}-${config.instanceId}`, fromBeginning: true,
    exactlyOnce: config.exactlyOnce,
    transform: async (records) => records.map(({ value: intent }) => {
      const decision: Decision = {
        decision_id: randomUUID(), intent_id: intent.intent_id, intent_digest: ZERO_DIGEST, verdict: 'deny', final: true,
        reasons: [{ code: 'PASS_THROUGH', rule: 'bench.floor', message: 'no policy, no context' }], obligations: {},
        policy: null, input_digest: null, decided_at: new Date().toISOString(),
      };
      return { topic: 'decisions', key: intent.session.id, value: decision };
    }),
  });
  await processor.start();
  stop = () => bus.close();
} else {
  const evaluator = config.mode === 'opa' ? new OpaServerEvaluator({ url: config.opaUrl!, maxSockets: 32 }) : undefined;
  const service = await DecisionService.start({
    identity: 'off', // not what this exercises; each start records the mode change
    brokers: config.brokers, sasl: config.sasl, registryUrl: config.registryUrl, redisUrl: config.redisUrl, tenant: config.tenant,
    groupId: config.groupId, instanceId: config.instanceId, contextFreshnessMs: 3_600_000,
    trust: { roots: await loadTrustFile(config.trustFile), signer: await loadSigner(config.signerFile) },
    approvalDeadlineCapSeconds: 3_600, exactlyOnce: config.exactlyOnce, logger,
    // The ladder measures capacity by driving past it: admission would deny the backlog OVERLOADED
    // (cheaply) and the series would measure shedding, not deciding.
    admission: { decisionLagBoundMs: 0, executorBacklogBound: 0 },
    ...(config.policyTimeoutMicros ? { policyTimeoutMicros: config.policyTimeoutMicros } : {}), ...(evaluator ? { evaluator } : {}),
  });
  stop = async () => {
    await service.stop();
    evaluator?.close();
  };
}

process.on('message', (msg: unknown) => {
  if (msg === 'rss') {
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, Math.round(s.space_size / 1e6)]));
    process.send?.({ rss: process.memoryUsage().rss, memory: { ...process.memoryUsage(), spacesMB: spaces } });
  }
  if (msg === 'memory') console.error(JSON.stringify(process.memoryUsage()));
  if (msg === 'stop') {
    stop().then(() => process.exit(0), (err: unknown) => {
      logger.error({ err: (err as Error).message }, 'stop failed');
      process.exit(1);
    });
  }
});
process.on('disconnect', () => process.exit(1)); // the parent died: do not linger
process.send?.({ ready: true });
