// Policy evaluation time, two policy versions interleaved in one process: the Rego of a git ref
// (default main) against the working tree's policies/, plus the constant-policy floor, round
// by round (order alternating), on the input of micro.bench.ts's "pre-serialized" row.
// Usage: node bench/policy-ab.ts [--ref main] [--rounds 7] [--n 20000]
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import hdr from 'hdr-histogram-js';
import { canonicalJson } from '@intentgate/evidence';
import { ensureOpa, projectRoot } from '@intentgate/infra';
import { buildBundle, PolicyEngine } from '@intentgate/policy';
import { BENCH_POLICY_INPUT } from './policy-input.ts';

const { values: args } = parseArgs({ options: { ref: { type: 'string', default: 'main' }, rounds: { type: 'string', default: '7' }, n: { type: 'string', default: '20000' } } });

type Stats = { p50: number; p99: number };

function measure(n: number, fn: () => unknown): Stats {
  for (let i = 0; i < Math.min(2_000, n); i++) fn();
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: 3 });
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    fn();
    h.recordValue(Math.max(1, Math.round(Number(process.hrtime.bigint() - t) / 10)));
  }
  return { p50: h.getValueAtPercentile(50) / 100, p99: h.getValueAtPercentile(99) / 100 };
}

/** The policies/ directory of a git ref, extracted to a temporary directory. */
export async function policiesAt(ref: string, into: string): Promise<string> {
  await promisify(execFile)('sh', ['-c', `git -C "$1" archive "$2" policies | tar -x -C "$3"`, 'sh', projectRoot, ref, into]);
  return join(into, 'policies');
}

const input = BENCH_POLICY_INPUT;

const work = await mkdtemp(join(tmpdir(), 'ig-policy-ab-'));
try {
  const opa = await ensureOpa();
  const oldDir = await policiesAt(args.ref!, work);
  const old = await PolicyEngine.load((await buildBundle({ opaPath: opa, policyDir: oldDir })).bytes, { version: 'old' });
  const cur = await PolicyEngine.load((await buildBundle({ opaPath: opa, policyDir: join(projectRoot, 'policies') })).bytes, { version: 'new' });
  await mkdir(join(work, 'constant', 'intentgate'), { recursive: true });
  await writeFile(join(work, 'constant', 'intentgate', 'decision.rego'), 'package intentgate.decision\n\nimport rego.v1\n\ndecision := {"verdict": "allow", "reasons": [{"code": "CONSTANT", "rule": "r", "message": ""}], "obligations": {}}\n');
  const constant = await PolicyEngine.load((await buildBundle({ opaPath: opa, policyDir: join(work, 'constant') })).bytes, { version: '0' });
  const json = canonicalJson(input);
  if (JSON.stringify(old.evaluateJson(json)) !== JSON.stringify(cur.evaluateJson(json))) throw new Error('old and new decide the benchmark input differently');
  const n = Number(args.n);
  const series: Record<string, Stats[]> = { [args.ref!]: [], 'working tree': [], constant: [] };
  const fns: Array<[string, () => unknown]> = [[args.ref!, () => old.evaluateJson(json)], ['working tree', () => cur.evaluateJson(json)], ['constant', () => constant.evaluateJson(json)]];
  for (let round = 0; round < Number(args.rounds); round++) {
    const order = round % 2 === 0 ? fns : [...fns].reverse();
    for (const [name, fn] of order) series[name]!.push(measure(n, fn));
    console.log(`round ${round + 1}: ${Object.entries(series).map(([k, v]) => `${k} ${v.at(-1)!.p50.toFixed(2)}/${v.at(-1)!.p99.toFixed(1)}`).join('  ')}`);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const [name, v] of Object.entries(series)) {
    const p50s = v.map((s) => s.p50);
    const p99s = v.map((s) => s.p99);
    console.log(`${name.padEnd(14)} p50 median ${median(p50s).toFixed(2)} µs (min ${Math.min(...p50s).toFixed(2)}, max ${Math.max(...p50s).toFixed(2)})  p99 median ${median(p99s).toFixed(1)} µs (min ${Math.min(...p99s).toFixed(1)}, max ${Math.max(...p99s).toFixed(1)})`);
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
