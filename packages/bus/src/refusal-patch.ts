// KafkaJS 2.2.4 asks each broker in turn for a group's or transaction's coordinator and drops
// every broker's error (BrokerPool.withBroker), then throws "Failed to find group coordinator",
// retriable: a consumer group or transactional id the principal may not use looked like a
// coordinator that is not there yet. This keeps the broker's refusal: when every broker failed
// and one of them refused on authorization grounds, that refusal is thrown (non-retriable, so it
// comes out at once and the bus reports NOT_AUTHORIZED naming the group or transactional id).
import { createRequire } from 'node:module';

const REFUSALS = new Set(['GROUP_AUTHORIZATION_FAILED', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED', 'TOPIC_AUTHORIZATION_FAILED']);

function refusalIn(err: unknown): unknown {
  for (let e: unknown = err, depth = 0; e !== null && e !== undefined && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (REFUSALS.has((e as { type?: string }).type ?? '')) return e;
  }
  return null;
}

type WithBroker = (this: unknown, callback: (arg: unknown) => Promise<unknown>) => Promise<unknown>;
const require = createRequire(import.meta.url);
const PATCHED = Symbol.for('intentgate.refusalPatch.installed');

/** The one KafkaJS release whose BrokerPool.withBroker this patch was written against and tested on. */
export const REFUSAL_PATCH_KAFKAJS_VERSION = '2.2.4';
const installedVersion = (require('kafkajs/package.json') as { version: string }).version;
/**
 * Whether the patch is in place. On any other KafkaJS version it is not applied: a refused
 * group or transactional id then shows as KafkaJS's retriable coordinator error again (slower
 * to surface, never an allow), instead of patching internals that may have changed.
 */
export const refusalPatchApplied = installedVersion === REFUSAL_PATCH_KAFKAJS_VERSION;
const BrokerPool = (refusalPatchApplied ? require('kafkajs/src/cluster/brokerPool.js') : null) as { prototype: { withBroker: WithBroker; [key: symbol]: unknown } } | null;

if (BrokerPool && !BrokerPool.prototype[PATCHED]) {
  const original = BrokerPool.prototype.withBroker;
  BrokerPool.prototype.withBroker = async function (this: unknown, callback) {
    let refusal: unknown = null;
    const result = await original.call(this, async (arg: unknown) => {
      try {
        return await callback(arg);
      } catch (err) {
        refusal ??= refusalIn(err);
        throw err;
      }
    });
    if (result === null && refusal !== null) throw refusal;
    return result;
  };
  BrokerPool.prototype[PATCHED] = true;
}
