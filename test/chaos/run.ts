// npm run chaos [-- --scale small|full] [--only fault,fault] [--report <file>]
// Starts the local stack's servers (for their registry and credentials), the chaos deployment on
// a broker and a Redis of its own, runs each fault scenario, prints its counts, writes the report,
// and exits non-zero when anything was missing, doubled, executed twice, lost or wrongly allowed.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { projectRoot, startStack } from '@intentgate/infra';
import { startChaosEnvironment } from './environment.ts';
import { chaosReport, failuresOf } from './report.ts';
import { ChaosRun, FAULTS, FULL_SCALE, reportLine, SMALL_SCALE, verifyLedger, type Fault, type ScenarioReport } from './scenarios.ts';

const USAGE = `usage: npm run chaos [-- --scale small|full] [--only ${FAULTS.join(',')}] [--report <file>]`;
let args;
try {
  args = parseArgs({ options: { scale: { type: 'string', default: 'full' }, only: { type: 'string' }, report: { type: 'string' }, help: { type: 'boolean' } }, strict: true, allowPositionals: false }).values;
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const scale = args.scale === 'small' ? SMALL_SCALE : args.scale === 'full' ? FULL_SCALE : null;
const only = (args.only?.split(',').map((f) => f.trim()) ?? [...FAULTS]) as Fault[];
const unknown = only.filter((f) => !(FAULTS as readonly string[]).includes(f));
if (!scale || unknown.length > 0) {
  process.stderr.write(`${!scale ? `unknown scale ${args.scale}` : `unknown fault ${unknown.join(', ')}`}\n${USAGE}\n`);
  process.exit(2);
}
const reportFile = args.report ?? join(projectRoot, 'test', 'chaos', 'REPORT.md');

const stack = await startStack({ progress: (m) => process.stderr.write(`[stack] ${m}\n`) });
let failed = true;
try {
  process.stderr.write('[chaos] starting the chaos deployment (its own broker and Redis, each service a process)\n');
  const env = await startChaosEnvironment(stack.info);
  const run = await ChaosRun.start(env, stack.info);
  const reports: ScenarioReport[] = [];
  let ledger = { ok: false, output: '' };
  try {
    for (const fault of only) {
      process.stderr.write(`[chaos] ${fault} ...\n`);
      const r = await run.run(fault, scale);
      reports.push(r);
      process.stdout.write(`${reportLine(r)}\n`);
    }
    ledger = await verifyLedger(env);
    process.stdout.write(`intentgate verify (the ledger after every fault):\n${ledger.output}`);
  } finally {
    await run.stop();
    await env.stop();
  }
  await writeFile(reportFile, chaosReport(reports, args.scale!, scale, ledger));
  process.stdout.write(`wrote ${reportFile}\n`);
  const failures = [...failuresOf(reports), ...(ledger.ok ? [] : ['the ledger did not verify'])];
  for (const f of failures) process.stdout.write(`FAIL  ${f}\n`);
  failed = failures.length > 0;
} finally {
  await stack.stop();
}
process.exit(failed ? 1 : 0);
