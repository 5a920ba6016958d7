import { createHash } from 'node:crypto';
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

/**
 * What a dead letter carries of its original whole: base64 grows it by a third, and the letter
 * must fit the DLQ topic's record limit (1 MB by default), or the batch it came in can never
 * commit. Past these, the letter keeps the first bytes and the SHA-256 of the whole.
 */
export const MAX_WHOLE_VALUE_BYTES = 256 * 1024;
export const MAX_WHOLE_KEY_BYTES = 1024;
export const MAX_WHOLE_HEADER_BYTES = 16 * 1024;
const KEPT_PREFIX_BYTES = 4 * 1024;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

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
  let headerBytes = 0;
  for (const [name, v] of Object.entries(message.headers ?? {})) {
    if (v === undefined) continue;
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) {
      headers[name] = Buffer.from(first).toString('base64');
      headerBytes += name.length + Buffer.from(first).length;
    }
  }
  const key = message.key ? Buffer.from(message.key) : null;
  const value = message.value ? Buffer.from(message.value) : null;
  const oversized = (key?.length ?? 0) > MAX_WHOLE_KEY_BYTES || (value?.length ?? 0) > MAX_WHOLE_VALUE_BYTES || headerBytes > MAX_WHOLE_HEADER_BYTES;
  const code = poison.reason?.code ?? (error instanceof BusError ? error.code : 'UNDECODABLE');
  const kept = (b: Buffer | null) => (b === null ? null : (oversized ? b.subarray(0, KEPT_PREFIX_BYTES) : b).toString('base64'));
  const letter: DeadLetter = {
    original: {
      topic,
      partition,
      offset: message.offset,
      key: kept(key),
      value: kept(value),
      headers: oversized ? {} : headers,
      timestamp: message.timestamp,
      ...(oversized ? {
        truncated: {
          key_bytes: key?.length ?? 0, key_sha256: key ? sha256(key) : null,
          value_bytes: value?.length ?? 0, value_sha256: value ? sha256(value) : null, header_bytes: headerBytes,
        },
      } : {}),
    },
    reason: { code, message: (poison.reason?.message ?? describe(error)).slice(0, 4096) },
    intent_id: readIntentId(message.value),
    consumer_group: consumerGroup,
    failed_at: new Date().toISOString(),
  };
  // The letter's own key stays the original's, so it lands beside it; a key too long for that is its digest.
  const letterKey = key === null ? null : key.length > MAX_WHOLE_KEY_BYTES ? sha256(key) : key.toString('utf8');
  return { record: { topic: dlqTopic, key: letterKey, value: letter }, letter };
}
