// Runs the project's pinned opa (fetched/built on first use) with the given arguments:
// `npm run opa -- test policies/`. Used by npm test so policies are tested with the same binary
// that builds the Wasm bundles.
import { spawn } from 'node:child_process';
import { ensureOpa, StackError } from '../src/index.ts';

try {
  const opa = await ensureOpa((m) => console.error(`  … ${m}`));
  const child = spawn(opa, process.argv.slice(2), { stdio: 'inherit' });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} catch (err) {
  console.error(err instanceof StackError ? err.render() : String(err));
  process.exit(1);
}
