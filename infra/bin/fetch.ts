// npm run stack:fetch — fetch and build everything the local stack runs, into ~/.cache/intentgate.
import { ensureApicurio, ensureKafka, ensureOpa, ensureRedisServer, StackError, cacheDir } from '../src/index.ts';

const progress = (m: string) => console.log(`  … ${m}`);
const steps: Array<[string, () => Promise<unknown>]> = [
  ['kafka', () => ensureKafka(progress)],
  ['schema-registry', () => ensureApicurio(progress)],
  ['redis-server', () => ensureRedisServer(progress)],
  ['opa', () => ensureOpa(progress)],
];
console.log(`cache: ${cacheDir()}`);
for (const [name, step] of steps) {
  const started = performance.now();
  try {
    const result = await step();
    const where = typeof result === 'string' ? result : (result as { jar: string }).jar;
    console.log(`  ✓ ${name.padEnd(16)} ${((performance.now() - started) / 1000).toFixed(1)}s  ${where}`);
  } catch (err) {
    console.error(err instanceof StackError ? err.render() : `error: ${String(err)}`);
    process.exit(1);
  }
}
