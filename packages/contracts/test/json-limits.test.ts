// What the contract refuses before the schema: each class with its own code, in every message,
// whether the value came from JSON text (a reader) or from code (a writer).
import { describe, expect, it } from 'vitest';
import {
  assertWithinSize, decodeUtf8, JsonRefused, JSON_REFUSAL_CODES, limitsOf, MESSAGE_NAMES, parseMessage, type JsonRefusalCode,
} from '../src/index.ts';
import { exampleIntent, exampleOf } from '../src/examples.ts';

function refusal(run: () => unknown): JsonRefused {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(JsonRefused);
    return err as JsonRefused;
  }
  throw new Error('expected a JsonRefused, nothing was thrown');
}

/** An intent read from JSON text with `context` replaced by the raw JSON given. */
function intentWithContext(rawContext: string): unknown {
  const text = JSON.stringify({ ...exampleIntent(), context: '__CONTEXT__' }).replace('"__CONTEXT__"', rawContext);
  return JSON.parse(text);
}

function nested(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

describe('what canonical JSON cannot carry is refused with its own code', () => {
  const cases: Array<[string, string, JsonRefusalCode, RegExp]> = [
    ['a number JSON.parse reads as Infinity (1e309)', '{"amount":1e309}', 'NUMBER_NOT_FINITE', /context\.amount/],
    ['-1e309 (-Infinity) inside an array', '{"xs":[1,-1e309]}', 'NUMBER_NOT_FINITE', /context\.xs\.1/],
    ['a lone high surrogate in a string', '{"note":"abc\\ud800"}', 'LONE_SURROGATE', /context\.note/],
    ['a lone low surrogate in a key', '{"\\udc00x":1}', 'LONE_SURROGATE', /key/],
    ['a key __proto__', '{"__proto__":{"admin":true}}', 'KEY_RESERVED', /__proto__/],
  ];
  it.each(cases)('%s', (_what, raw, code, message) => {
    const err = refusal(() => parseMessage('Intent', intentWithContext(raw)));
    expect(err.code).toBe(code);
    expect(err.messageName).toBe('Intent');
    expect(err.message).toMatch(message);
    expect(err.hint.length).toBeGreaterThan(10);
  });

  it('a well-formed surrogate pair and a large finite number are fine', () => {
    const ok = parseMessage('Intent', intentWithContext('{"emoji":"\\ud83d\\ude00","big":1e308,"neg":-0}')) as { context: Record<string, unknown> };
    expect(ok.context).toEqual({ emoji: '😀', big: 1e308, neg: -0 });
  });

  it('nesting: an intent may go 32 levels deep, not 33; the path names where', () => {
    // The intent is level 1 and its context (the first of the nested objects) level 2.
    expect(() => parseMessage('Intent', intentWithContext(nested(31)))).not.toThrow();
    const err = refusal(() => parseMessage('Intent', intentWithContext(nested(32))));
    expect(err.code).toBe('NESTING_TOO_DEEP');
    expect(err.path).toMatch(/^context(\.a)+$/);
  });

  it('nesting far past the limit (100 000 levels) is refused without exhausting the stack', () => {
    const err = refusal(() => parseMessage('Intent', intentWithContext(nested(100_000))));
    expect(err.code).toBe('NESTING_TOO_DEEP');
  });

  it('a writer is refused too: NaN, Infinity, a bigint, a function, from code', () => {
    for (const [value, code] of [[Number.NaN, 'NUMBER_NOT_FINITE'], [Infinity, 'NUMBER_NOT_FINITE'], [10n, 'VALUE_NOT_JSON'], [() => 1, 'VALUE_NOT_JSON']] as const) {
      expect(refusal(() => parseMessage('Intent', exampleIntent({ context: { value } }))).code).toBe(code);
    }
  });

  it('applies to every message, before its schema', () => {
    for (const name of MESSAGE_NAMES) {
      const bad = { ...(exampleOf(name) as Record<string, unknown>), extra: Number.POSITIVE_INFINITY };
      // A strict schema would refuse `extra` as SCHEMA_INVALID; the finite check comes first.
      expect(refusal(() => parseMessage(name, bad)).code).toBe('NUMBER_NOT_FINITE');
    }
  });
});

describe('size and encoding', () => {
  it('an intent over 64 KiB is MESSAGE_TOO_LARGE; other messages have a larger bound', () => {
    expect(limitsOf('Intent').maxBytes).toBe(64 * 1024);
    expect(() => assertWithinSize('Intent', 64 * 1024)).not.toThrow();
    const err = refusal(() => assertWithinSize('Intent', 64 * 1024 + 1));
    expect(err.code).toBe('MESSAGE_TOO_LARGE');
    expect(err.message).toMatch(/65537 bytes/);
    expect(limitsOf('PolicyBundle').maxBytes).toBeGreaterThan(limitsOf('Intent').maxBytes);
    expect(() => assertWithinSize('PolicyBundle', 1024 * 1024)).not.toThrow();
  });

  it('malformed UTF-8 is UTF8_INVALID (never silently replaced by U+FFFD)', () => {
    expect(decodeUtf8('Intent', Buffer.from('{"a":"é"}'))).toBe('{"a":"é"}');
    for (const bytes of [[0x7b, 0xff, 0x7d], [0x22, 0xc3, 0x22], [0xed, 0xa0, 0x80]]) {
      expect(refusal(() => decodeUtf8('Intent', Buffer.from(bytes))).code).toBe('UTF8_INVALID');
    }
  });

  it('every refusal code is a stable UPPER_SNAKE reason code with a hint', () => {
    for (const code of JSON_REFUSAL_CODES) expect(code).toMatch(/^[A-Z][A-Z0-9_]{1,63}$/);
    expect(new Set(JSON_REFUSAL_CODES).size).toBe(JSON_REFUSAL_CODES.length);
  });
});
