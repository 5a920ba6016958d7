import type { Admin, ITopicConfig } from 'kafkajs';
import type { TopicSpec } from '@intentgate/contracts';
import { BusError, describe } from './errors.ts';

export interface TopicReport {
  name: string;
  partitions: number;
  created: boolean;
}

function configEntries(spec: TopicSpec): ITopicConfig['configEntries'] {
  return [
    { name: 'cleanup.policy', value: spec.cleanupPolicy },
    { name: 'retention.ms', value: String(spec.retentionMs) },
    ...(spec.timestampType ? [{ name: 'message.timestamp.type', value: spec.timestampType }] : []),
  ];
}

/**
 * Creates the catalog's topics that are missing and checks the ones that exist. An existing
 * topic with fewer partitions than the catalog asks for is an error, never silently used:
 * the ledger keeps one log per receipts partition, and keys would land on other partitions.
 */
export async function ensureTopics(admin: Admin, specs: readonly TopicSpec[], timeoutMs = 30_000): Promise<TopicReport[]> {
  let existing: Set<string>;
  try {
    existing = new Set(await admin.listTopics());
  } catch (err) {
    throw new BusError('BROKER_UNAVAILABLE', `cannot list topics: ${describe(err)}`, {
      retriable: true, hint: 'Check that the Kafka brokers are running and reachable.', cause: err,
    });
  }
  const missing = specs.filter((s) => !existing.has(s.name));
  if (missing.length > 0) {
    try {
      await admin.createTopics({
        waitForLeaders: true,
        timeout: timeoutMs,
        topics: missing.map((s) => ({ topic: s.name, numPartitions: s.partitions, replicationFactor: -1, configEntries: configEntries(s) })),
      });
    } catch (err) {
      // Another process may have created some of them in the meantime; re-check below.
      const stillMissing = new Set(missing.map((s) => s.name));
      for (const t of await admin.listTopics()) stillMissing.delete(t);
      if (stillMissing.size > 0) {
        throw new BusError('TOPIC_MISSING', `could not create topics ${[...stillMissing].join(', ')}: ${describe(err)}`, {
          retriable: true, hint: 'Check broker logs; the broker must allow topic creation by this client.', cause: err,
        });
      }
    }
  }
  await waitForLeaders(admin, specs.map((s) => s.name), timeoutMs);

  const metadata = await admin.fetchTopicMetadata({ topics: specs.map((s) => s.name) });
  const partitionsOf = new Map(metadata.topics.map((t) => [t.name, t.partitions.length]));
  const created = new Set(missing.map((s) => s.name));
  return specs.map((spec) => {
    const partitions = partitionsOf.get(spec.name) ?? 0;
    if (partitions < spec.partitions) {
      throw new BusError('TOPIC_MISMATCH', `topic ${spec.name} has ${partitions} partitions, the catalog needs ${spec.partitions}`, {
        retriable: false, hint: `Delete and recreate ${spec.name}, or raise its partitions with kafka-topics --alter.`,
      });
    }
    return { name: spec.name, partitions, created: created.has(spec.name) };
  });
}

async function waitForLeaders(admin: Admin, topics: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastProblem = '';
  while (Date.now() < deadline) {
    try {
      const { topics: meta } = await admin.fetchTopicMetadata({ topics });
      const leaderless = meta.flatMap((t) => t.partitions.filter((p) => p.leader < 0).map((p) => `${t.name}/${p.partitionId}`));
      if (leaderless.length === 0) return;
      lastProblem = `no leader yet for ${leaderless.slice(0, 5).join(', ')}`;
    } catch (err) {
      lastProblem = describe(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new BusError('TOPIC_MISSING', `topics not ready after ${timeoutMs} ms: ${lastProblem}`, {
    retriable: true, hint: 'The broker is slow to elect leaders; check its logs and try again.',
  });
}
