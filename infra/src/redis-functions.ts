// Redis provisioning: IntentGate's functions, loaded by the provisioner (the only role that may
// FUNCTION LOAD or EVAL), and each domain's claim memory begun.
import { Redis } from 'ioredis';
import { CONTEXT_FUNCTIONS } from '@intentgate/context';
import { beginClaimStore, CLAIM_FUNCTIONS } from '@intentgate/sdk';
import { StackError } from './errors.ts';

export const REDIS_FUNCTION_LIBRARIES = [CLAIM_FUNCTIONS, CONTEXT_FUNCTIONS] as const;

/**
 * Loads every library (replacing an earlier release's: services of that release then fail
 * closed until restarted on this one), then begins each domain's claim memory now where the
 * store has none (a new store, or one that lost its data; what the first claim would do, sooner).
 */
export async function provisionRedis(redisUrl: string): Promise<{ libraries: string[] }> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5_000, enableOfflineQueue: false });
  redis.on('error', () => {});
  try {
    await redis.connect();
    for (const lib of REDIS_FUNCTION_LIBRARIES) await redis.call('FUNCTION', 'LOAD', 'REPLACE', lib.code);
  } catch (err) {
    throw new StackError('PROVISION_FAILED', 'redis', `could not load IntentGate's Redis functions: ${(err as Error).message}`,
      'Provision with a Redis user allowed FUNCTION LOAD (the provisioner\'s: REDIS_URL with its credentials), on Redis 7 or later.');
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
  await beginClaimStore(redisUrl);
  return { libraries: REDIS_FUNCTION_LIBRARIES.map((l) => `${l.library} ${l.version}`) };
}
