// The decision worker as its own process: config from the environment (or .intentgate/stack.json),
// SIGTERM/SIGINT drain the batch in hand, commit, and exit.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { ConfigError, configFromEnv } from './config.ts';
import { missingProcessSettings } from './process-settings.ts';
import { DecisionService } from './service.ts';

const logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { service: 'decision' } });
const missing = missingProcessSettings();
if (missing.length > 0) logger.warn({ missing }, 'started without the memory settings `npm run decision` uses; resident memory under load will be higher');
const stackFile = await readFile(join(import.meta.dirname, '..', '..', '..', '.intentgate', 'stack.json'), 'utf8').then(JSON.parse, () => null);

let service: DecisionService;
try {
  const options = await configFromEnv(process.env, stackFile);
  if (options.identity === 'off') {
    process.stderr.write('\n  *** INTENTGATE_IDENTITY=off: intents are decided WITHOUT verifying who acts (subject and delegation are the caller\'s word); recorded as a mode-change receipt ***\n\n');
  }
  service = await DecisionService.start({ ...options, logger });
} catch (err) {
  const code = err instanceof ConfigError ? err.code : ((err as { code?: string }).code ?? 'START_FAILED');
  logger.fatal({ code, err: (err as Error).message }, 'decision service could not start');
  process.exit(1);
}
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining');
    service.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err: (err as Error).message }, 'drain failed');
        process.exit(1);
      },
    );
  });
}
