// How the decision worker's process is started (`npm run decision` does exactly this; the
// benchmark starts its workers the same way). Measured in bench/pipeline/CHANGES.md:
// - V8's young generation grows to 134 MB under load by default; a 16 MB semi-space bounds it.
// - glibc raises its mmap threshold after the first large free, after which the multi-megabyte
//   buffers KafkaJS builds for every produce request come from the heap and stay in RSS;
//   fixing the threshold at 128 KiB returns them to the system when freed.
export const DECISION_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=16'];
export const DECISION_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '131072' };

/** What of the above this process was started without (empty when started as shipped). */
export function missingProcessSettings(execArgv: readonly string[] = process.execArgv, env: NodeJS.ProcessEnv = process.env): string[] {
  return [
    ...DECISION_NODE_FLAGS.filter((flag) => !execArgv.includes(flag)),
    ...Object.entries(DECISION_ENV).filter(([k, v]) => env[k] !== v).map(([k, v]) => `${k}=${v}`),
  ];
}
