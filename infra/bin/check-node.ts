// First step of npm test/start: say plainly when the wrong Node runs the project's scripts.
import { assertNodeVersion, StackError } from '../src/index.ts';

try {
  assertNodeVersion();
} catch (err) {
  console.error(err instanceof StackError ? err.render() : String(err));
  process.exit(1);
}
