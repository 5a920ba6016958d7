// The gateway as its own process. GATEWAY_CALLERS="name:token,…" (one bearer token per caller).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { credentialsFromEnv } from '@intentgate/sdk';
import { loadTrustFile } from '@intentgate/evidence';
import { Gateway } from './server.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const stack = await readFile(join(root, '.intentgate', 'stack.json'), 'utf8').then(JSON.parse, () => null) as
  | { kafka: { brokers: string[] }; schemaRegistry: { url: string }; credentialsDir?: string | null } | null;
const Env = z.object({
  KAFKA_BROKERS: z.string().min(1).transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean)),
  SCHEMA_REGISTRY_URL: z.url(),
  GATEWAY_CALLERS: z.string().min(1).transform((s, ctx) => {
    const callers: Record<string, string> = {};
    for (const pair of s.split(',')) {
      const [name, token] = pair.split(':');
      if (!name || !token || token.length < 16) {
        ctx.addIssue({ code: 'custom', message: 'expected name:token pairs, tokens of 16+ characters' });
        return z.NEVER;
      }
      callers[name] = token;
    }
    return callers;
  }),
  GATEWAY_PORT: z.coerce.number().int().min(0).max(65535).default(8181),
  GATEWAY_HOST: z.string().min(1).default('127.0.0.1'),
  GATEWAY_DECISION_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  /** The trust file: only decisions a decider signed are answered. Default .intentgate/trust/trust.json. */
  INTENTGATE_TRUST_FILE: z.string().min(1).default(join(root, '.intentgate', 'trust', 'trust.json')),
});
const parsed = Env.safeParse({ ...process.env, KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? stack?.kafka.brokers.join(','), SCHEMA_REGISTRY_URL: process.env.SCHEMA_REGISTRY_URL ?? stack?.schemaRegistry.url });
if (!parsed.success) {
  console.error(`error CONFIG_INVALID: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}\n  what to do: set GATEWAY_CALLERS (and the servers, or run npm start first)`);
  process.exit(1);
}
const c = parsed.data;
const roots = await loadTrustFile(c.INTENTGATE_TRUST_FILE).catch((err: unknown) => {
  console.error(`error ${(err as { code?: string }).code ?? 'CONFIG_INVALID'}: ${(err as Error).message}\n  what to do: ${(err as { hint?: string }).hint ?? 'set INTENTGATE_TRUST_FILE'}`);
  process.exit(1);
});
// Its own principal (authzen-gateway): KAFKA_USERNAME / KAFKA_PASSWORD, KAFKA_CREDENTIALS_FILE, or the running stack's role file.
const { sasl } = credentialsFromEnv(process.env, 'authzen-gateway', stack);
const gateway = await Gateway.start({ roots, brokers: c.KAFKA_BROKERS, sasl, registryUrl: c.SCHEMA_REGISTRY_URL, callers: c.GATEWAY_CALLERS, port: c.GATEWAY_PORT, host: c.GATEWAY_HOST, decisionTimeoutMs: c.GATEWAY_DECISION_TIMEOUT_MS });
console.log(`gateway listening on ${gateway.url} (AuthZEN: ${gateway.url}/.well-known/authzen-configuration)`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void gateway.stop().then(() => process.exit(0)));
