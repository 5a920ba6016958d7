// Restore benchmark: how long the context feeder takes to give an emptied context store back its
// decision memory and budgets from N decision receipts on `receipts` (the work after Redis lost
// its data, before any intent is decided again), against a floor measured in the same run on
// the same stack: a plain consumer reading the same N receipts, with no verification and no Redis.
// Usage: npm run bench:restore [-- --receipts 20000]   (writes bench/RESTORE.md)
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeFile } from 'node:fs/promises';
import { pino } from 'pino';
import { Bus } from '@intentgate/bus';
import type { Decision, Intent, Receipt } from '@intentgate/contracts';
import { exampleIntent } from '@intentgate/contracts/examples';
import { ContextStore } from '@intentgate/context';
import { ContextFeeder, policyInputOf } from '@intentgate/decision';
import { canonicalJson, digestOf, loadSigner, loadTrustFile, sha256Hex, withSignature } from '@intentgate/evidence';
import { registryUrlOf, saslOf, startStack, startStandaloneRedis } from '@intentgate/infra';
import { benchTrust } from './pipeline/trust.ts';

const { values } = parseArgs({ options: { receipts: { type: 'string', default: '20000' } } });
const N = Number(values.receipts);
const silent = pino({ level: 'silent' });

const stack = await startStack({ progress: (m) => console.error(`… ${m}`) });
const stops: Array<() => Promise<unknown>> = [() => stack.stop()];
try {
  const { kafka, schemaRegistry } = stack.info;
  const bus = new Bus({ brokers: kafka.brokers, sasl: saslOf(stack.info, 'provisioner'), registryUrl: registryUrlOf(stack.info, 'provisioner'), clientId: 'bench' });
  stops.unshift(() => bus.close());
  await bus.provision();
  if (stack.info.credentials) await bus.provisionAcls();
  const trust = await benchTrust();
  const roots = await loadTrustFile(trust.trustFile);
  const signer = await loadSigner(trust.decisionSignerFile);

  // N decisions as the worker records them: a signed decision (certificate in its signature)
  // whose input digest binds the recorded policy input, in a signed receipt. A third are exports.
  console.error(`… signing and publishing ${N} decision receipts`);
  const producer = bus.producer();
  const snapshot = {
    session: { exported_rows: 0, actions: 0, denied: 0 }, usage: { exported_rows: 0 }, resource: { sensitivity: 'internal' as const, environment: null },
    agent: { revoked: false, registered: true, status: 'active', owner: 'bench', autonomy: 'supervised', domains: ['data'], actions: ['*'], revision: 1 }, revoked: [], synced_at: Date.now(),
  };
  let bytes = 0;
  for (let i = 0; i < N; i += 500) {
    const batch: Array<{ topic: string; key: string; value: Receipt }> = [];
    for (let k = i; k < Math.min(N, i + 500); k++) {
      const base = exampleIntent();
      const intent: Intent = {
        ...base, intent_id: randomUUID(), session: { ...base.session, id: `bench-${k % 1000}` },
        ...(k % 3 === 0 ? { action: { name: 'data.export', domain: 'data', reversible: false }, context: { rows: 10 } } : {}),
      };
      const input = policyInputOf(intent, snapshot, Date.now());
      const decision = withSignature(signer.key, 'Decision', {
        decision_id: randomUUID(), intent_id: intent.intent_id, intent_digest: digestOf(intent), verdict: k % 5 === 0 ? 'deny' : 'allow', final: true,
        reasons: [{ code: 'BENCH', rule: 'bench', message: 'bench' }], obligations: {}, policy: { bundle_digest: '0'.repeat(64), version: 'bench', entrypoint: 'intentgate/decision/decision' },
        input_digest: sha256Hex(canonicalJson(input)), decided_at: new Date().toISOString(), ...(k % 5 === 0 ? {} : { warrant: 'e30.e30.c2ln' }),
      } satisfies Decision, signer.certificate);
      const receipt = withSignature(signer.key, 'Receipt', {
        receipt_id: randomUUID(), kind: 'decision' as const, intent_id: intent.intent_id, body: { decision, input, policy: decision.policy, evaluation_micros: 10 },
        producer: `${signer.principal}/bench`, produced_at: new Date().toISOString(),
      });
      bytes += JSON.stringify(receipt).length;
      batch.push({ topic: 'receipts', key: intent.intent_id, value: receipt });
    }
    await producer.sendMany(batch);
  }

  // Floor: the same receipts read by a plain consumer group (decoded and checked against the contract, nothing else).
  let read = 0;
  let t = performance.now();
  const floor = bus.consumer<'Receipt'>({ groupId: `bench-restore-floor-${randomUUID()}`, topics: ['receipts'], fromBeginning: true, logger: silent, handle: async (records) => { read += records.length; } });
  await floor.start();
  while (read < N) await new Promise((r) => setTimeout(r, 20));
  const floorMs = performance.now() - t;
  await floor.stop();

  // Restore: a context feeder on an empty store (its mark absent: a store that lost its data).
  const redis = await startStandaloneRedis();
  stops.unshift(() => redis.stop());
  const store = new ContextStore({ redisUrl: redis.url, freshnessMs: 600_000 });
  stops.unshift(() => store.close());
  const feederBus = new Bus({ brokers: kafka.brokers, sasl: saslOf(stack.info, 'context-feeder'), registryUrl: schemaRegistry.url, clientId: 'bench-feeder' });
  stops.unshift(() => feederBus.close());
  t = performance.now();
  const feeder = await ContextFeeder.start({ bus: feederBus, store, trust: roots, logger: silent, freshnessMs: 600_000 });
  const restoreMs = performance.now() - t;
  stops.unshift(() => feeder.stop());
  if (feeder.counts.restored !== N) throw new Error(`restored ${feeder.counts.restored} decisions of ${N} (${feeder.counts.unverified} unverified)`);

  // The same restore over a window with no receipts in it (a store that remembers 1 s): what a
  // restore costs whatever its size (joining groups, finding each topic's end, waiting out markers).
  const emptyRedis = await startStandaloneRedis();
  stops.unshift(() => emptyRedis.stop());
  const emptyStore = new ContextStore({ redisUrl: emptyRedis.url, freshnessMs: 600_000, retentionSeconds: 1 });
  stops.unshift(() => emptyStore.close());
  await new Promise((r) => setTimeout(r, 1_500));
  t = performance.now();
  const emptyFeeder = await ContextFeeder.start({ bus: feederBus, store: emptyStore, trust: roots, logger: silent, freshnessMs: 600_000 });
  const fixedMs = performance.now() - t;
  stops.unshift(() => emptyFeeder.stop());
  if (emptyFeeder.counts.restored !== 0) throw new Error(`the empty window restored ${emptyFeeder.counts.restored} decisions`);

  const rate = (N / Math.max(1, restoreMs - fixedMs)) * 1000;
  const report = [
    '# Restore benchmark',
    '',
    `Run: \`npm run bench:restore -- --receipts ${N}\` on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.versions.node}, ${new Date().toISOString()}.`,
    `${N} decision receipts of about ${Math.round(bytes / N)} bytes each (a third of them exports, over 1,000 sessions), on a local broker; the store is a local Redis with its append-only file fsynced on every write.`,
    '',
    '| measure | result | floor (same run) | ratio to floor |',
    '|---|---|---|---|',
    `| empty store to synced (registry, labels, revocations, ${N} receipts: each decision's signature and certificate verified, its input digest checked, remembered and counted) | ${(restoreMs / 1000).toFixed(1)} s | ${(floorMs / 1000).toFixed(1)} s (a consumer group reading the same receipts) | ${(restoreMs / floorMs).toFixed(2)} |`,
    `| the same with no receipts in the window (fixed cost: groups joined, each topic's end found, commit markers waited out) | ${(fixedMs / 1000).toFixed(1)} s | | |`,
    `| receipts restored per second beyond the fixed cost | ${Math.round(rate)} | | |`,
    '',
    `So a window of R receipts takes about ${(fixedMs / 1000).toFixed(0)} s + R / ${Math.round(rate)} s to restore, during which every intent is denied CONTEXT_UNAVAILABLE.`,
    '',
  ].join('\n');
  console.log(report);
  await writeFile(join(import.meta.dirname, 'RESTORE.md'), report);
} finally {
  for (const stop of stops) await stop().catch(() => {});
}
