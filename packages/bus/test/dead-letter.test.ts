import { createRequire } from 'node:module';
import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { parseMessage } from '@intentgate/contracts';
import { BusError, readIntentId } from '../src/index.ts';
import { deadLetterOf } from '../src/dead-letter.ts';

const require_ = createRequire(import.meta.url);
const ID = '3b241101-e2bb-4255-8caf-4136c566a962';
const framed = (json: string) => Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), Buffer.from(json)]);

describe('readIntentId', () => {
  it('finds the intent id in framed and unframed JSON, top level or nested', () => {
    expect(readIntentId(framed(JSON.stringify({ intent_id: ID })))).toBe(ID);
    expect(readIntentId(Buffer.from(JSON.stringify({ intent_id: ID })))).toBe(ID);
    expect(readIntentId(framed(JSON.stringify({ intent: { intent_id: ID } })))).toBe(ID);
  });
  it('returns null for garbage, non-uuid ids and empty values', () => {
    expect(readIntentId(Buffer.from('{oops'))).toBeNull();
    expect(readIntentId(framed(JSON.stringify({ intent_id: 'drop table' })))).toBeNull();
    expect(readIntentId(null)).toBeNull();
  });
});

describe('deadLetterOf', () => {
  const message: KafkaMessage = {
    key: Buffer.from('sess-1'), value: Buffer.from('{oops'), timestamp: '1795000000000', attributes: 0,
    offset: '42', size: 5, headers: { trace: Buffer.from('abc') }, isControlRecord: false, batchContext: {} as never,
    magicByte: 2,
  } as unknown as KafkaMessage;
  it('keeps the original record whole and names the reason', () => {
    const error = new BusError('UNDECODABLE', 'no framing', { retriable: false, hint: 'h' });
    const { record, letter } = deadLetterOf({ topic: 'intents', partition: 3, message, error }, 'decision');
    expect(record.topic).toBe('intents.dlq');
    expect(record.key).toBe('sess-1');
    expect(() => parseMessage('DeadLetter', letter)).not.toThrow();
    expect(letter.reason).toEqual({ code: 'UNDECODABLE', message: 'no framing' });
    expect(letter.original).toMatchObject({ topic: 'intents', partition: 3, offset: '42' });
    expect(Buffer.from(letter.original.value!, 'base64').toString()).toBe('{oops');
    expect(Buffer.from(letter.original.headers.trace!, 'base64').toString()).toBe('abc');
  });
  it('sends other topics to bus.dlq and never re-dead-letters a DLQ record', () => {
    const error = new Error('boom');
    expect(deadLetterOf({ topic: 'executions', partition: 0, message, error }, 'g').record.topic).toBe('bus.dlq');
    expect(() => deadLetterOf({ topic: 'intents.dlq', partition: 0, message, error }, 'g')).toThrow(/itself undecodable/);
  });
});

describe('BusError', () => {
  it('serialises to code, message, retriable and hint (no stack)', () => {
    const e = new BusError('REGISTRY_UNAVAILABLE', 'down', { retriable: true, hint: 'start it' });
    expect(JSON.parse(JSON.stringify(e))).toEqual({ code: 'REGISTRY_UNAVAILABLE', message: 'down', retriable: true, hint: 'start it' });
  });

  it('an original too large to carry whole keeps its first bytes and the digest of all of it, so the letter fits the DLQ', () => {
    const { createHash } = require_('node:crypto') as typeof import('node:crypto');
    const value = Buffer.concat([Buffer.from(JSON.stringify({ intent_id: ID, pad: '' }).slice(0, -2)), Buffer.alloc(900_000, 0x61), Buffer.from('"}')]);
    const key = Buffer.alloc(5_000, 0x6b);
    const big = {
      key, value, timestamp: '1795000000000', attributes: 0, offset: '43', size: value.length, headers: { trace: Buffer.from('abc') },
      isControlRecord: false, batchContext: {} as never, magicByte: 2,
    } as unknown as KafkaMessage;
    const { record, letter } = deadLetterOf({ topic: 'intents', partition: 0, message: big, error: new BusError('UNDECODABLE', 'no framing', { retriable: false, hint: 'h' }) }, 'g');
    expect(() => parseMessage('DeadLetter', letter)).not.toThrow();
    expect(Buffer.byteLength(JSON.stringify(letter))).toBeLessThan(64 * 1024);
    expect(letter.original.truncated).toEqual({
      key_bytes: 5_000, key_sha256: createHash('sha256').update(key).digest('hex'),
      value_bytes: value.length, value_sha256: createHash('sha256').update(value).digest('hex'), header_bytes: 'trace'.length + 3,
    });
    expect(Buffer.from(letter.original.value!, 'base64').equals(value.subarray(0, 4096))).toBe(true);
    expect(letter.intent_id).toBe(ID);
    expect(record.key).toBe(letter.original.truncated!.key_sha256);
  });
});

