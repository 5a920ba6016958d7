// What the contract refuses before any schema is consulted: JSON that canonical JSON (RFC 8785)
// cannot carry, and documents too large or too deep to handle safely. A message that passed the
// schema but held `1e309` (JSON.parse reads Infinity) used to throw later, in canonicalization,
// inside the decision worker's batch; refusing it here, with its own code, makes it a dead letter
// with a reason instead. None of this is expressible in JSON Schema (JSON text cannot even write a
// non-finite number), so schemas/ is unchanged: readers enforce it in code, as with refinements.
import type { MessageName } from './messages.ts';

export const JSON_REFUSAL_CODES = [
  /** The encoded message is over its size limit (bytes of UTF-8 JSON, framing excluded). */
  'MESSAGE_TOO_LARGE',
  /** The payload is not well-formed UTF-8: decoding would replace bytes and change what is hashed. */
  'UTF8_INVALID',
  /** Objects and arrays nested deeper than the limit. */
  'NESTING_TOO_DEEP',
  /** A number JSON.parse read as Infinity or -Infinity (e.g. 1e309), or NaN from code. */
  'NUMBER_NOT_FINITE',
  /** A string or object key holding an unpaired UTF-16 surrogate (e.g. "\ud800"): RFC 8785 refuses it. */
  'LONE_SURROGATE',
  /** An object key `__proto__`: JavaScript objects built from it drop the key, so the digest would not cover it. */
  'KEY_RESERVED',
  /** A value with no JSON form (bigint, function, symbol), from code. */
  'VALUE_NOT_JSON',
] as const;
export type JsonRefusalCode = (typeof JSON_REFUSAL_CODES)[number];

export interface JsonLimits {
  /** Bytes of the message's UTF-8 JSON text. */
  maxBytes: number;
  /** Nesting of objects and arrays; the top-level object is depth 1. */
  maxDepth: number;
}

const KIB = 1024;

/**
 * Every message but the intent is written by IntentGate's own services; the bound keeps a reader's
 * memory in check whatever the broker allows (a policy bundle's base64 Wasm is the largest).
 */
const DEFAULT_LIMITS: JsonLimits = { maxBytes: 4 * KIB * KIB, maxDepth: 64 };

/**
 * An intent comes from any agent and is copied whole into the records its decision makes (the
 * receipt carries it inside the policy input, an allow carries it to the executor, an escalation
 * to the reviewers): 64 KiB (the HTTP gateway's body limit) keeps every one of those records far
 * under the broker's 1 MB; depth 32 leaves the receipt (intent + 3 levels) under the default 64.
 */
const LIMITS: Partial<Record<MessageName, JsonLimits>> = {
  Intent: { maxBytes: 64 * KIB, maxDepth: 32 },
};

export function limitsOf(name: MessageName): JsonLimits {
  return LIMITS[name] ?? DEFAULT_LIMITS;
}

const HINTS: Record<JsonRefusalCode, string> = {
  MESSAGE_TOO_LARGE: 'Send less: carry large payloads by reference (an id or a digest) rather than inline.',
  UTF8_INVALID: 'Encode the JSON text as UTF-8.',
  NESTING_TOO_DEEP: 'Flatten the structure.',
  NUMBER_NOT_FINITE: 'Send finite numbers only (a number beyond ±1.8e308 is not one); send a string if the value is symbolic.',
  LONE_SURROGATE: 'Send well-formed Unicode: pair every UTF-16 surrogate, or drop it.',
  KEY_RESERVED: 'Rename the key `__proto__`.',
  VALUE_NOT_JSON: 'Send only JSON values: strings, finite numbers, booleans, null, arrays and objects.',
};

/** A message refused before its schema: what canonical JSON cannot carry, or too much of it. */
export class JsonRefused extends Error {
  readonly code: JsonRefusalCode;
  readonly messageName: MessageName;
  /** Where in the document (dotted path; empty for the whole message). */
  readonly path: string;
  /** What the sender should do about it. */
  readonly hint: string;

  constructor(code: JsonRefusalCode, messageName: MessageName, path: string, detail: string) {
    super(`not a valid ${messageName}: ${path === '' ? '' : `${path}: `}${detail}`);
    this.name = 'JsonRefused';
    this.code = code;
    this.messageName = messageName;
    this.path = path;
    this.hint = HINTS[code];
  }
}

/** Refuses a message whose encoded size (UTF-8 bytes of its JSON) is over its limit. */
export function assertWithinSize(name: MessageName, bytes: number): void {
  const { maxBytes } = limitsOf(name);
  if (bytes > maxBytes) throw new JsonRefused('MESSAGE_TOO_LARGE', name, '', `${bytes} bytes, over the ${maxBytes}-byte limit`);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF-8 bytes to text, refusing malformed sequences instead of replacing them with U+FFFD. */
export function decodeUtf8(name: MessageName, bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new JsonRefused('UTF8_INVALID', name, '', 'the payload is not well-formed UTF-8');
  }
}

function pathOf(parts: ReadonlyArray<string | number>): string {
  return parts.map(String).join('.').slice(0, 512);
}

function preview(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}

/**
 * Refuses a value canonical JSON cannot carry, or nested past the message's limit. Recursion is
 * bounded by the depth limit (it stops one level past it), so a hostile document cannot exhaust
 * the stack; JSON.parse itself is not recursive in V8.
 */
export function assertCanonicalJson(name: MessageName, value: unknown): void {
  const { maxDepth } = limitsOf(name);
  const path: Array<string | number> = [];
  const visit = (v: unknown, depth: number): void => {
    switch (typeof v) {
      case 'string':
        if (!v.isWellFormed()) throw new JsonRefused('LONE_SURROGATE', name, pathOf(path), `the string ${preview(v)} holds an unpaired UTF-16 surrogate`);
        return;
      case 'number':
        if (!Number.isFinite(v)) throw new JsonRefused('NUMBER_NOT_FINITE', name, pathOf(path), `${v} is not a finite number`);
        return;
      case 'boolean':
      case 'undefined': // an absent optional field: JSON.stringify leaves it out
        return;
      case 'object':
        break;
      default:
        throw new JsonRefused('VALUE_NOT_JSON', name, pathOf(path), `a ${typeof v} has no JSON form`);
    }
    if (v === null) return;
    if (depth >= maxDepth) throw new JsonRefused('NESTING_TOO_DEEP', name, pathOf(path), `nested deeper than ${maxDepth} levels`);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        visit(v[i], depth + 1);
        path.pop();
      }
      return;
    }
    for (const key of Object.keys(v)) {
      if (!key.isWellFormed()) throw new JsonRefused('LONE_SURROGATE', name, pathOf(path), `the key ${preview(key)} holds an unpaired UTF-16 surrogate`);
      if (key === '__proto__') throw new JsonRefused('KEY_RESERVED', name, pathOf(path), 'the key "__proto__" is not carried by JavaScript objects');
      path.push(key);
      visit((v as Record<string, unknown>)[key], depth + 1);
      path.pop();
    }
  };
  visit(value, 0);
}
