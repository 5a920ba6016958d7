import { z } from 'zod';
import { StackError } from './errors.ts';

/** Servers given by the environment; each one set means that server is used instead of provisioned. */
const Env = z.object({
  KAFKA_BROKERS: z
    .string()
    .transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^[^:\s]+:\d{1,5}$/, 'expected host:port')).min(1))
    .optional(),
  SCHEMA_REGISTRY_URL: z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, '')).optional(),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  INTENTGATE_CONTAINERS: z.enum(['auto', 'never']).default('auto'),
});
export type StackEnv = z.infer<typeof Env>;

export function readStackEnv(env: NodeJS.ProcessEnv = process.env): StackEnv {
  const blank = (v: string | undefined) => (v === undefined || v.trim() === '' ? undefined : v.trim());
  const parsed = Env.safeParse({
    KAFKA_BROKERS: blank(env.KAFKA_BROKERS),
    SCHEMA_REGISTRY_URL: blank(env.SCHEMA_REGISTRY_URL),
    REDIS_URL: blank(env.REDIS_URL),
    INTENTGATE_CONTAINERS: blank(env.INTENTGATE_CONTAINERS),
  });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new StackError('CONFIG_INVALID', 'environment', problems,
      'Fix or unset the variable: KAFKA_BROKERS=host:port[,host:port], SCHEMA_REGISTRY_URL=http://host:port/apis/ccompat/v7, REDIS_URL=redis://host:port.');
  }
  return parsed.data;
}
