// Gateway latency: what the AuthZEN HTTP front door adds over the Kafka path it uses, in one run
// on one stack. Floor: the same intents decided through AgentClient directly (submit → final
// decision over Kafka). Measured: the same through POST /access/v1/evaluation. Sequential
// requests, so each latency is a whole round trip; HdrHistogram percentiles.
// Usage: npm run bench:gateway [-- --requests 300]   (writes bench/GATEWAY.md)
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import hdr from 'hdr-histogram-js';
import { pino } from 'pino';
import { Bus } from '@intentgate/bus';
import type { Intent } from '@intentgate/contracts';
import { ContextStore } from '@intentgate/context';
import { DecisionService, publishAndActivate } from '@intentgate/decision';
import { Gateway } from '@intentgate/gateway';
import { redisUrlOf, registryUrlOf, saslOf, ensureOpa, projectRoot, startStack } from '@intentgate/infra';
import { buildBundle } from '@intentgate/policy';
import { AgentClient } from '@intentgate/sdk';
import { loadSigner, loadTrustFile } from '@intentgate/evidence';
import { benchTrust } from './pipeline/trust.ts';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '300' } } });
const N = Number(values.requests);
const AGENT = 'spiffe://bench.test/agents/caller';
const silent = pino({ level: 'silent' });

const stack = await startStack({ progress: (m) => console.error(`… ${m}`) });
const stops: Array<() => Promise<unknown>> = [() => stack.stop()];
try {
  const { kafka, schemaRegistry } = stack.info;
  // Each part as its role; the bench's own set-up as the provisioner.
  const redis = { url: redisUrlOf(stack.info, 'provisioner') };
  const bus = new Bus({ brokers: kafka.brokers, sasl: saslOf(stack.info, 'provisioner'), registryUrl: registryUrlOf(stack.info, 'provisioner'), clientId: 'bench' });
  stops.unshift(() => bus.close());
  await bus.provision();
  if (stack.info.credentials) await bus.provisionAcls();
  const trust = await benchTrust();
  const bundle = await buildBundle({ opaPath: await ensureOpa(), policyDir: join(projectRoot, 'policies'), signing: trust.publisher });
  await publishAndActivate(bus, bundle, { version: 'bench', by: 'bench', operator: trust.operator });
  const store = new ContextStore({ redisUrl: redis.url, freshnessMs: 600_000 });
  await store.connect();
  await store.markSynced();
  await store.applyRegistration({
    agent: AGENT, owner: 'bench@bench.test', autonomy: 'assisted', domains: ['app', 'data', 'infra', 'ai'], actions: ['*'], status: 'active',
    revision: 1, changed_at: new Date().toISOString(), changed_by: 'bench', reason: 'benchmark agent',
  });
  await store.close();
  const service = await DecisionService.start({
    identity: 'off', // not what this exercises; each start records the mode change
    brokers: kafka.brokers, sasl: saslOf(stack.info, 'decision'), registryUrl: schemaRegistry.url, redisUrl: redisUrlOf(stack.info, 'decision'), contextFreshnessMs: 600_000, logger: silent,
    trust: { roots: await loadTrustFile(trust.trustFile), signer: await loadSigner(trust.decisionSignerFile) },
  });
  stops.unshift(() => service.stop());
  const token = `bench-${randomUUID()}`;
  const roots = await loadTrustFile(trust.trustFile);
  const gateway = await Gateway.start({ roots, brokers: kafka.brokers, sasl: saslOf(stack.info, 'authzen-gateway'), registryUrl: schemaRegistry.url, callers: { bench: token } });
  stops.unshift(() => gateway.stop());
  const agent = await AgentClient.connect({ trust: { roots }, brokers: kafka.brokers, sasl: saslOf(stack.info, 'agent-platform'), registryUrl: schemaRegistry.url });
  stops.unshift(() => agent.close());

  const delegation = [{ principal: 'alice@bench.test', kind: 'human' as const, scope: ['*'] }, { principal: AGENT, kind: 'agent' as const, scope: ['data:*'] }];
  const session = () => ({ id: `b-${randomUUID().slice(0, 8)}`, workflow_step: 'reconcile', request_source: 'user' });
  const intent = (): Intent => ({
    intent_id: randomUUID(), submitted_at: new Date().toISOString(), subject: { type: 'agent', id: AGENT, properties: { autonomy: 'supervised' } },
    delegation, session: session(), action: { name: 'data.query', domain: 'data', reversible: true },
    resource: { type: 'table', id: 'bench', properties: { sensitivity: 'internal' } }, context: {},
  });
  const body = () => JSON.stringify({
    subject: { type: 'agent', id: AGENT, properties: { autonomy: 'supervised' } },
    action: { name: 'data.query', properties: { domain: 'data', reversible: true } },
    resource: { type: 'table', id: 'bench', properties: { sensitivity: 'internal' } },
    context: { session: session(), delegation },
  });

  const directOnce = async () => {
    const d = await agent.decide(intent());
    if (d.verdict !== 'allow') throw new Error(`unexpected ${d.verdict}`);
  };
  const gatewayOnce = async () => {
    const res = await fetch(`${gateway.url}/access/v1/evaluation`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body() });
    const json = (await res.json()) as { decision?: boolean };
    if (json.decision !== true) throw new Error(`unexpected ${JSON.stringify(json)}`);
  };
  // Interleaved, so warm-up, batching and background noise fall on both paths alike.
  for (let i = 0; i < 30; i++) {
    await directOnce();
    await gatewayOnce();
  }
  const histogram = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  const hDirect = histogram();
  const hGateway = histogram();
  const timed = async (h: ReturnType<typeof histogram>, fn: () => Promise<void>) => {
    const t = process.hrtime.bigint();
    await fn();
    h.recordValue(Math.max(1, Number((process.hrtime.bigint() - t) / 1000n)));
  };
  for (let i = 0; i < N; i++) {
    await timed(hDirect, directOnce);
    await timed(hGateway, gatewayOnce);
  }
  const stats = (h: ReturnType<typeof histogram>) => ({ p50: h.getValueAtPercentile(50) / 1000, p99: h.getValueAtPercentile(99) / 1000 });
  const direct = stats(hDirect);
  const viaGateway = stats(hGateway);
  const report = [
    '# Gateway latency',
    '',
    `Run: \`npm run bench:gateway -- --requests ${N}\` on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.versions.node}, ${new Date().toISOString()}; Kafka, registry, Redis, decision worker and gateway on the same machine.`,
    `${N} allowed decisions each way, one at a time, the two paths interleaved, after 30 pairs of warm-up. Milliseconds.`,
    '',
    '| path | p50 | p99 |',
    '|---|---|---|',
    `| floor: AgentClient → Kafka → decision worker → Kafka | ${direct.p50.toFixed(2)} | ${direct.p99.toFixed(2)} |`,
    `| AuthZEN: HTTP → gateway → same path | ${viaGateway.p50.toFixed(2)} | ${viaGateway.p99.toFixed(2)} |`,
    `| added by the gateway | ${(viaGateway.p50 - direct.p50).toFixed(2)} (× ${(viaGateway.p50 / direct.p50).toFixed(2)}) | ${(viaGateway.p99 - direct.p99).toFixed(2)} (× ${(viaGateway.p99 / direct.p99).toFixed(2)}) |`,
    '',
  ].join('\n');
  console.log(report);
  const { writeFile } = await import('node:fs/promises');
  await writeFile(join(import.meta.dirname, 'GATEWAY.md'), report);
} finally {
  for (const stop of stops) await stop().catch(() => {});
}
process.exit(0);
