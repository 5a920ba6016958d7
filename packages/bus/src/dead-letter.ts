import type { KafkaMessage } from 'kafkajs';
import { topicSpec, Uuid, type DeadLetter } from '@intentgate/contracts';
import { BusError, describe } from './errors.ts';
import type { OutgoingRecord } from './producer.ts';

/** Best effort: the intent a poison record was about, so its intent can still get a final deny. */
export function readIntentId(value: Buffer | null): string | null {
  if (value === null) return null;
  for (const body of [value.subarray(5), value]) {
    try {
      const doc = JSON.parse(body.toString('utf8')) as { intent_id?: unknown; intent?: { intent_id?: unknown } };
      const candidate = doc?.intent_id ?? doc?.intent?.intent_id;
      if (Uuid.safeParse(candidate).success) return candidate as string;
    } catch {
      // not JSON at this offset; try the next reading
    }
  }
  return null;
}

export interface PoisonRecord {
  topic: string;
  partition: number;
  message: KafkaMessage;
  error: unknown;
  /** The reason when a reader refused a well-formed record (an unsigned key, a forged signature). */
  reason?: { code: string; message: string };
}

/** The DLQ envelope for a record that cannot be decoded or fails its contract: nothing is dropped. */
export function deadLetterOf(poison: PoisonRecord, consumerGroup: string): { record: OutgoingRecord; letter: DeadLetter } {
  const { topic, partition, message, error } = poison;
  const dlqTopic = topicSpec(topic).deadLetterTopic;
  if (dlqTopic === null) {
    throw new BusError('SCHEMA_INVALID', `a record on the dead-letter topic ${topic} is itself undecodable (offset ${message.offset})`, {
      retriable: false, hint: 'Inspect the DLQ with a raw consumer; DLQ records are never re-dead-lettered.', cause: error,
    });
  }
  const headers: Record<string, string> = {};
  for (const [name, v] of Object.entries(message.headers ?? {})) {
    if (v === undefined) continue;
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) headers[name] = Buffer.from(first).toString('base64');
  }
  const code = poison.reason?.code ?? (error instanceof BusError ? error.code : 'UNDECODABLE');
  const letter: DeadLetter = {
    original: {
      topic,
      partition,
      offset: message.offset,
      key: message.key ? message.key.toString('base64') : null,
      value: message.value ? message.value.toString('base64') : null,
      headers,
      timestamp: message.timestamp,
    },
    reason: { code, message: (poison.reason?.message ?? describe(error)).slice(0, 4096) },
    intent_id: readIntentId(message.value),
    consumer_group: consumerGroup,
    failed_at: new Date().toISOString(),
  };
  return { record: { topic: dlqTopic, key: message.key ? message.key.toString('utf8') : null, value: letter }, letter };
}
