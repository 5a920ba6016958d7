// Micro-benchmarks of the decision path's parts, each with a floor measured in the same run:
//   policy evaluation (starter policy, Wasm)  vs  a constant policy through the same engine
//   canonical JSON + sha256 of a receipt      vs  JSON.stringify + sha256
//   warrant sign / verify (jose)              vs  raw node:crypto Ed25519 over the same bytes
//   context read for 1 and 100 intents        vs  a Redis PING round trip
// Usage: npm run bench:micro   (writes bench/MICRO.md)
import { generateKeyPairSync, randomUUID, sign, verify, createHash } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import hdr from 'hdr-histogram-js';
import { ContextStore } from '@intentgate/context';
import { canonicalJson, digestOf, generateSigningKey, jwksOf, signWarrant, verifyWarrant } from '@intentgate/evidence';
import { ensureOpa, projectRoot, startStandaloneRedis } from '@intentgate/infra';
import { buildBundle, PolicyEngine, readBundle } from '@intentgate/policy';
import { BENCH_POLICY_INPUT } from './policy-input.ts';

type Stats = { p50: number; p99: number; mean: number };

/** Runs `fn` `n` times after a warm-up; latencies in microseconds. */
async function measure(n: number, fn: () => unknown | Promise<unknown>): Promise<Stats> {
  for (let i = 0; i < Math.min(2_000, n); i++) await fn();
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: 3 });
  let total = 0;
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await fn();
    const ns = Number(process.hrtime.bigint() - t);
    total += ns;
    h.recordValue(Math.max(1, Math.round(ns / 10))); // 10 ns units keep sub-microsecond resolution
  }
  return { p50: h.getValueAtPercentile(50) / 100, p99: h.getValueAtPercentile(99) / 100, mean: total / n / 1000 };
}

const input = BENCH_POLICY_INPUT;

const rows: Array<[string, Stats, string, Stats]> = [];
const work = await mkdtemp(join(tmpdir(), 'ig-micro-'));
try {
  const opa = await ensureOpa();
  const starterBytes = (await buildBundle({ opaPath: opa, policyDir: join(projectRoot, 'policies') })).bytes;
  const starter = await PolicyEngine.load(starterBytes, { version: '1' });
  await mkdir(join(work, 'intentgate'));
  await writeFile(join(work, 'intentgate', 'decision.rego'), 'package intentgate.decision\n\nimport rego.v1\n\ndecision := {"verdict": "allow", "reasons": [{"code": "CONSTANT", "rule": "r", "message": ""}], "obligations": {}}\n');
  const constant = await PolicyEngine.load((await buildBundle({ opaPath: opa, policyDir: work })).bytes, { version: '0' });
  if (starter.evaluate(input).verdict !== 'allow') throw new Error('benchmark input should be allowed');
  rows.push(['policy evaluation, starter policy (Wasm), object input', await measure(20_000, () => starter.evaluate(input)), 'constant policy, same engine', await measure(20_000, () => constant.evaluate(input))]);
  // What the decision worker does: the canonical JSON it hashes for input_digest is the text the policy reads.
  const json = canonicalJson(input);
  rows.push(['policy evaluation, starter policy (Wasm), pre-serialized input', await measure(20_000, () => starter.evaluateJson(json)), 'constant policy, same engine', await measure(20_000, () => constant.evaluateJson(json))]);
  // For reference: opa-wasm's own evaluate (what the engine called before), without the result check.
  const { loadPolicy } = await import('@open-policy-agent/opa-wasm');
  const contents = readBundle(starterBytes);
  const plain = await loadPolicy(contents.wasm, { initial: 5, maximum: 1024 });
  plain.setData(contents.data);
  rows.push(['opa-wasm LoadedPolicy.evaluate (object), no result check', await measure(20_000, () => plain.evaluate(input, 'intentgate/decision/decision')), 'constant policy, PolicyEngine', await measure(20_000, () => constant.evaluate(input))]);

  const receipt = { receipt_id: randomUUID(), kind: 'decision', intent_id: randomUUID(), body: { input, decision: { verdict: 'allow' } }, producer: 'bench', produced_at: new Date().toISOString() };
  rows.push(['receipt: canonical JSON + sha256', await measure(20_000, () => digestOf(receipt)), 'JSON.stringify + sha256', await measure(20_000, () => createHash('sha256').update(JSON.stringify(receipt)).digest('hex'))]);

  const key = await generateSigningKey('bench');
  const raw = generateKeyPairSync('ed25519');
  const digest = digestOf(input.intent);
  const decisionId = randomUUID();
  const now = Math.floor(Date.now() / 1000);
  const req = { issuer: 'ig', decisionId, intentId: input.intent.intent_id, intentDigest: digest, domain: 'data' as const, ttlSeconds: 30, now };
  const token = await signWarrant(key, req);
  const payload = Buffer.from(token.split('.').slice(0, 2).join('.'));
  const rawSig = sign(null, payload, raw.privateKey);
  rows.push(['warrant sign (signWarrant: claims checked, compact JWS, Ed25519)', await measure(5_000, () => signWarrant(key, req)), 'Ed25519 sign, node:crypto', await measure(5_000, () => sign(null, payload, raw.privateKey))]);
  const expect = { jwks: jwksOf([key]), issuer: 'ig', domain: 'data' as const, intentDigest: digest, decisionId, now };
  rows.push(['warrant verify (jose, claims checked)', await measure(5_000, () => verifyWarrant(token, expect)), 'Ed25519 verify, node:crypto', await measure(5_000, () => verify(null, payload, raw.publicKey, rawSig))]);

  const redis = await startStandaloneRedis();
  try {
    const store = new ContextStore({ redisUrl: redis.url, freshnessMs: 600_000 });
    await store.connect();
    await store.markSynced();
    const one = [input.intent as never];
    const hundred = Array.from({ length: 100 }, () => ({ ...input.intent, intent_id: randomUUID() }) as never);
    const ping = await measure(5_000, () => store.redis.ping());
    rows.push(['context read, 1 intent (1 pipeline)', await measure(5_000, () => store.readBatch(one)), 'Redis PING round trip', ping]);
    rows.push(['context read, 100 intents (1 pipeline)', await measure(1_000, () => store.readBatch(hundred)), 'Redis PING round trip', ping]);
    await store.close();
  } finally {
    await redis.stop();
  }
} finally {
  await rm(work, { recursive: true, force: true });
}

const f = (s: Stats) => `${s.p50.toFixed(1)} / ${s.p99.toFixed(1)}`;
const report = [
  '# Micro-benchmarks of the decision path',
  '',
  `Run: \`npm run bench:micro\` on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.versions.node}, ${new Date().toISOString()}.`,
  'Latencies in microseconds, p50 / p99 (HdrHistogram). Ratio = p50 / floor p50.',
  '',
  '| measure | p50 / p99 µs | floor (same run) | floor p50 / p99 µs | ratio |',
  '|---|---|---|---|---|',
  ...rows.map(([name, s, floor, fs]) => `| ${name} | ${f(s)} | ${floor} | ${f(fs)} | ${(s.p50 / fs.p50).toFixed(2)} |`),
  '',
].join('\n');
console.log(report);
await writeFile(join(import.meta.dirname, 'MICRO.md'), report);
process.exit(0);
