// KafkaJS 2.2.4 asks the cluster for the group / transaction coordinator (a FindCoordinator
// round trip) before every transactional step: four extra round trips per transaction
// (addPartitions, addOffsets, txnOffsetCommit, endTxn). This remembers each answer briefly.
// A stale answer can only send a request to a broker that refuses it (NOT_COORDINATOR), which
// KafkaJS retries; after TTL_MS the coordinator is looked up again. Nothing is ever accepted by
// the wrong coordinator, so transactions and offsets keep their guarantees.
import { createRequire } from 'node:module';

const TTL_MS = 1_000;
const CACHE = Symbol('intentgate.coordinatorCache');

interface BrokerLike {
  isConnected?(): boolean;
}
type Find = (this: ClusterLike, args: { groupId: string; coordinatorType?: number }) => Promise<BrokerLike>;
interface ClusterLike {
  [CACHE]?: Map<string, { broker: BrokerLike; expires: number }>;
  findGroupCoordinator: Find;
}

const require = createRequire(import.meta.url);
const Cluster = require('kafkajs/src/cluster/index.js') as { prototype: ClusterLike & { [key: symbol]: unknown } };
const PATCHED = Symbol.for('intentgate.coordinatorCache.installed');

if (!Cluster.prototype[PATCHED]) {
  const original = Cluster.prototype.findGroupCoordinator;
  Cluster.prototype.findGroupCoordinator = async function (this: ClusterLike, args) {
    const cache = (this[CACHE] ??= new Map());
    const key = `${args.coordinatorType ?? 0}:${args.groupId}`;
    const hit = cache.get(key);
    const now = Date.now();
    if (hit && hit.expires > now && (hit.broker.isConnected?.() ?? true)) return hit.broker;
    const broker = await original.call(this, args);
    cache.set(key, { broker, expires: now + TTL_MS });
    return broker;
  };
  Cluster.prototype[PATCHED] = true;
}

export const COORDINATOR_CACHE_TTL_MS = TTL_MS;
