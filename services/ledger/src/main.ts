// The ledger as its own process. Config from the environment (or .intentgate/stack.json);
// SIGTERM drains: the batch in hand is appended and fsynced, its offsets committed, a final
// checkpoint signed. The HTTP API listens on LEDGER_HTTP_HOST (127.0.0.1 by default); its API
// tokens (SHA-256 and roles) come from LEDGER_TOKENS_FILE, by default .intentgate/ledger-tokens.json
// when npm start wrote one. Without tokens only the public routes answer.
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { z } from 'zod';
import { credentialsFromEnv } from '@intentgate/bus';
import { loadTrustFile } from '@intentgate/evidence';
import { loadLedgerTokens, type LedgerToken } from './access.ts';
import { LedgerService } from './service.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { service: 'ledger' } });
const stack = await readFile(join(root, '.intentgate', 'stack.json'), 'utf8').then(JSON.parse, () => null) as
  | { kafka: { brokers: string[] }; schemaRegistry: { url: string }; credentialsDir?: string | null } | null;

const Env = z.object({
  KAFKA_BROKERS: z.string().min(1).transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean)),
  SCHEMA_REGISTRY_URL: z.url(),
  LEDGER_DATA_DIR: z.string().min(1).default(join(root, '.intentgate', 'ledger')),
  LEDGER_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  LEDGER_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  LEDGER_TOKENS_FILE: z.string().min(1).optional(),
  LEDGER_GROUP: z.string().regex(/^[A-Za-z0-9._-]{1,200}$/).default('intentgate-ledger'),
  LEDGER_CHECKPOINT_EVERY: z.coerce.number().int().min(1).default(100),
  LEDGER_CHECKPOINT_INTERVAL_MS: z.coerce.number().int().min(50).default(2_000),
  /** The trust file (roots, operators): which receipts are evidence. Default .intentgate/trust/trust.json. */
  INTENTGATE_TRUST_FILE: z.string().min(1).default(join(root, '.intentgate', 'trust', 'trust.json')),
});
const parsed = Env.safeParse({
  ...process.env,
  KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? stack?.kafka.brokers.join(','),
  SCHEMA_REGISTRY_URL: process.env.SCHEMA_REGISTRY_URL ?? stack?.schemaRegistry.url,
});
if (!parsed.success) {
  logger.fatal({ code: 'CONFIG_INVALID', issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) },
    'invalid configuration: set KAFKA_BROKERS and SCHEMA_REGISTRY_URL, or run `npm start` first');
  process.exit(1);
}
const c = parsed.data;
// An explicitly named tokens file must load; the default one is used when it exists.
const defaultTokens = join(root, '.intentgate', 'ledger-tokens.json');
const tokensFile = c.LEDGER_TOKENS_FILE ?? (await access(defaultTokens).then(() => defaultTokens, () => null));
let tokens: LedgerToken[] = [];
if (tokensFile) {
  try {
    tokens = await loadLedgerTokens(tokensFile);
  } catch (err) {
    logger.fatal({ code: 'LEDGER_TOKENS_INVALID', err: (err as Error).message }, 'invalid ledger tokens: fix the file, or make one with `npm run intentgate -- ledger token`');
    process.exit(1);
  }
} else {
  logger.warn({ code: 'NO_LEDGER_TOKENS' }, 'no API tokens configured (LEDGER_TOKENS_FILE): receipts, replays and the export answer 401 to everyone');
}
let ledger: LedgerService;
try {
  const roots = await loadTrustFile(c.INTENTGATE_TRUST_FILE);
  ledger = await LedgerService.start({
    trust: { roots },
    // Its own principal (ledger): KAFKA_USERNAME / KAFKA_PASSWORD, KAFKA_CREDENTIALS_FILE, or the running stack's role file.
    brokers: c.KAFKA_BROKERS, sasl: credentialsFromEnv(process.env, 'ledger', stack).sasl, registryUrl: c.SCHEMA_REGISTRY_URL, dataDir: c.LEDGER_DATA_DIR, httpPort: c.LEDGER_HTTP_PORT, httpHost: c.LEDGER_HTTP_HOST, tokens,
    groupId: c.LEDGER_GROUP, checkpointEvery: c.LEDGER_CHECKPOINT_EVERY, checkpointIntervalMs: c.LEDGER_CHECKPOINT_INTERVAL_MS, logger,
  });
} catch (err) {
  logger.fatal({ code: (err as { code?: string }).code ?? 'START_FAILED', err: (err as Error).message, hint: (err as { hint?: string }).hint }, 'ledger could not start');
  process.exit(1);
}
logger.info({ http: ledger.httpUrl, dataDir: c.LEDGER_DATA_DIR, key: ledger.verifierKey, tokens: tokens.map((t) => `${t.name}:${t.roles.join('+')}`) }, 'ledger ready');
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    ledger.stop().then(() => process.exit(0), () => process.exit(1));
  });
}
