// The approvals service as its own process: config from the environment (or .intentgate/stack.json),
// SIGTERM/SIGINT finish the answer or settlement in hand, commit, and exit. Pending requests stay on disk.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { ConfigError, configFromEnv } from './config.ts';
import { ApprovalsService } from './service.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { service: 'approvals' } });
const stackFile = await readFile(join(root, '.intentgate', 'stack.json'), 'utf8').then(JSON.parse, () => null);

let service: ApprovalsService;
try {
  service = await ApprovalsService.start({ ...(await configFromEnv(process.env, stackFile, root)), logger });
} catch (err) {
  const code = err instanceof ConfigError ? err.code : ((err as { code?: string }).code ?? 'START_FAILED');
  logger.fatal({ code, err: (err as Error).message }, 'approvals service could not start');
  process.exit(1);
}
logger.info({ url: service.url }, 'reviewer page and API');
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining');
    service.stop().then(() => process.exit(0), (err: unknown) => {
      logger.error({ err: (err as Error).message }, 'drain failed');
      process.exit(1);
    });
  });
}
