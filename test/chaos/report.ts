// The chaos report: what each fault cost, as numbers from one run on one machine.
import { cpus, totalmem } from 'node:os';
import { FAULT_TEXT, type ChaosScale, type ScenarioReport } from './scenarios.ts';

/** The counts that must be zero after every fault. */
export const MUST_BE_ZERO = ['missing', 'doubled', 'doubleExecutions', 'receiptsLost', 'lettersMissing', 'allowedUnaccounted', 'wrongAllows'] as const;

export function failuresOf(reports: ScenarioReport[]): string[] {
  return reports.flatMap((r) => MUST_BE_ZERO.filter((k) => r[k] !== 0).map((k) => `${r.fault}: ${k} ${r[k]}`));
}

const s = (ms: number | null) => (ms === null ? '–' : `${(ms / 1000).toFixed(1)} s`);
const counts = (c: Record<string, number>) => Object.entries(c).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ') || '–';

export function chaosReport(reports: ScenarioReport[], scaleName: string, scale: ChaosScale, ledger: { ok: boolean; output: string }): string {
  const rows = reports.map((r) => `| ${FAULT_TEXT[r.fault]} | ${r.submitted} | ${r.decided} | ${r.missing} | ${r.doubled} | ${r.doubleExecutions} | ${r.receiptsLost} | ${r.allowedUnaccounted} | ${r.wrongAllows} | ${s(r.downMs)} | ${s(r.recoveryMs)} | ${s(r.latencyP99Ms)} / ${s(r.latencyMaxMs)} |`);
  const detail = reports.map((r) => `- **${r.fault}**: load ${r.ratePerSecond}/s${r.measuredRatePerSecond !== null ? ` (2x the worker's measured ${r.measuredRatePerSecond}/s)` : ''}; resubmitted ${r.resubmitted}${r.malformed ? `; malformed ${r.malformed}, letters missing ${r.lettersMissing}` : ''}; allowed ${r.allowed}, executed ${r.executed}, not executed (reported): ${counts(r.notExecuted)}; denied: ${counts(r.denied)}; scenario ${s(r.durationMs)}.${r.doubledExamples.length ? ` Doubled, e.g.: ${r.doubledExamples.join('; ')}` : ''}`);
  return `# Chaos report

\`npm run chaos -- --scale ${scaleName}\` on ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB (${new Date().toISOString().slice(0, 10)}). Load ${scale.ratePerSecond} intents/s for ${scale.seconds} s per scenario
(the overload: twice the worker's rate measured in the same run, for ${scale.overloadSeconds} s); the fault a third of the way in, the killed part started
again after ${s(scale.downMs)}, as its supervisor would. Every service a fault targets runs as its own process from its own entry point;
the counts come from the topics (read committed), the executor's side-effect file and the ledger's API.

*Down* is kill to the part answering again; *recovered* is kill to the first of its work done again (a decision for an intent sent
after the kill; for Redis, the first allow, which waits for the context feeder's restore; an execution; a settled review; the ledger ready).
Latency is submission to final decision for intents the worker decided itself (p99 / max).

| fault | submitted | final | missing | doubled | double executions | receipts lost | allowed unaccounted | wrong allows | down | recovered | latency p99 / max |
|---|---|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

${detail.join('\n')}

After every fault, the ledger (stopped as an operator stops it) under \`intentgate verify <dir> --key <its key> --trust <trust file>\`: ${ledger.ok ? 'verified' : '**did not verify**'}.

\`\`\`
${ledger.output.trim()}
\`\`\`
`;
}
