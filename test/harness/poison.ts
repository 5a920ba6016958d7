// The fuzz corpus: a bounded, seeded set of malformed intent records, one maker per class, each
// with the reason its dead letter must carry. Shared by the fuzz suite and the chaos suite.
import { createHash } from 'node:crypto';
import type { Intent } from '@intentgate/contracts';
import { exampleIntent } from '@intentgate/contracts/examples';
import { prng } from '../../bench/pipeline/intents.ts';

export interface Poison {
  kind: string;
  key: string;
  value: Buffer | null;
  /** The intent_id a reader can recover from the bytes (then a final deny is owed), or null. */
  intentId: string | null;
  reason: string;
}

export type PoisonMaker = (key: string) => Poison;

export interface PoisonCorpusOptions {
  seed: number;
  /** Per run, so the same stack can take the corpus again (ids are the idempotency keys). */
  run: string;
  /** The agent the valid intents (and the intents inside the malformed ones) act as. */
  agent: string;
  /** The intents topic's schema id, for the wire framing (known once the schemas are registered). */
  schemaId: () => number;
}

export interface PoisonCorpus {
  classes: Record<string, PoisonMaker>;
  /** How many of each class a suite sends. */
  perClass: (kind: string) => number;
  validIntent: (session: string, resourceId?: string) => Intent;
  framed: (json: string | Buffer, id?: number, magic?: number) => Buffer;
  rand: () => number;
  word: (n?: number) => string;
}

export function poisonCorpus(options: PoisonCorpusOptions): PoisonCorpus {
  // The benchmark's seeded PRNG: the same corpus on every run.
  const rand = prng(options.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const word = (n = 6) => Array.from({ length: n }, () => 'abcdefghijklmnopqrstuvwxyz'[Math.floor(rand() * 26)]).join('');
  let serial = 0;
  /** A uuid from the seeded stream and the run: deterministic shape, unique per run. */
  function nextId(): string {
    const h = createHash('sha256').update(`${options.run}/${options.seed}/${serial++}`).digest('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((Number.parseInt(h.slice(16, 17), 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }

  function validIntent(session: string, resourceId = `fuzz.${word()}`): Intent {
    return {
      ...exampleIntent(),
      intent_id: nextId(),
      subject: { type: 'agent', id: options.agent, properties: { autonomy: 'supervised' } },
      delegation: [{ principal: 'alice@example.org', kind: 'human', scope: ['*'] }, { principal: options.agent, kind: 'agent', scope: ['data:*'] }],
      session: { id: session, workflow_step: 'reconcile', request_source: 'user' },
      action: { name: 'data.query', domain: 'data', reversible: true },
      resource: { type: 'table', id: resourceId, properties: { sensitivity: 'internal' } },
      context: { note: word(12), rows: Math.floor(rand() * 100) },
    };
  }

  function framed(json: string | Buffer, id = options.schemaId(), magic = 0): Buffer {
    const header = Buffer.alloc(5);
    header.writeUInt8(magic, 0);
    header.writeInt32BE(id, 1);
    return Buffer.concat([header, typeof json === 'string' ? Buffer.from(json, 'utf8') : json]);
  }

  /** A valid intent's JSON text with its context replaced by `rawContext` (JSON text that may not survive JSON.stringify). */
  function withRawContext(intent: Intent, rawContext: string): string {
    return JSON.stringify({ ...intent, context: '\u0000RAW' }).replace('"\\u0000RAW"', rawContext);
  }



  /** The malformed classes: what each is, how to make one (seeded), the reason its letter must carry. */
  const CLASSES: Record<string, PoisonMaker> = {
    'not JSON': (key) => ({ kind: 'not JSON', key, value: framed(`{"intent_id":"${nextId()}","action":${pick(['', '{', '[1,', 'tru'])}`), intentId: null, reason: 'UNDECODABLE' }),
    'no framing': (key) => {
      const i = validIntent(key);
      return { kind: 'no framing', key, value: Buffer.from(JSON.stringify(i)), intentId: i.intent_id, reason: 'UNDECODABLE' };
    },
    'wrong magic byte': (key) => {
      const i = validIntent(key);
      return { kind: 'wrong magic byte', key, value: framed(JSON.stringify(i), options.schemaId(), 1 + Math.floor(rand() * 254)), intentId: i.intent_id, reason: 'UNDECODABLE' };
    },
    'unknown schema id': (key) => {
      const i = validIntent(key);
      return { kind: 'unknown schema id', key, value: framed(JSON.stringify(i), 900_000 + Math.floor(rand() * 99_999)), intentId: i.intent_id, reason: 'SCHEMA_UNKNOWN' };
    },
    'negative schema id': (key) => {
      const i = validIntent(key);
      return { kind: 'negative schema id', key, value: framed(JSON.stringify(i), pick([-1, 0, -2_147_483_648])), intentId: i.intent_id, reason: 'SCHEMA_UNKNOWN' };
    },
    'schema-invalid': (key) => {
      const { delegation: _d, ...i } = validIntent(key);
      return { kind: 'schema-invalid', key, value: framed(JSON.stringify(i)), intentId: i.intent_id, reason: 'SCHEMA_INVALID' };
    },
    'wrong types': (key) => {
      const i = validIntent(key);
      const broken = pick([
        { ...i, action: { ...i.action, reversible: 'yes' } },
        { ...i, context: [1, 2, 3] },
        { ...i, delegation: 'alice' },
        { ...i, submitted_at: 1_700_000_000 },
      ]);
      return { kind: 'wrong types', key, value: framed(JSON.stringify(broken)), intentId: i.intent_id, reason: 'SCHEMA_INVALID' };
    },
    'missing intent_id': (key) => {
      const { intent_id: _id, ...i } = validIntent(key);
      return { kind: 'missing intent_id', key, value: framed(JSON.stringify(i)), intentId: null, reason: 'SCHEMA_INVALID' };
    },
    'unreadable intent_id': (key) => {
      const i = { ...validIntent(key), intent_id: pick<unknown>([42, 'not-a-uuid', null, { id: nextId() }, [nextId()]]) };
      return { kind: 'unreadable intent_id', key, value: framed(JSON.stringify(i)), intentId: null, reason: 'SCHEMA_INVALID' };
    },
    'not an object': (key) => ({ kind: 'not an object', key, value: framed(pick(['null', '[1,2]', '"intent"', '42', 'true'])), intentId: null, reason: 'SCHEMA_INVALID' }),
    'empty value': (key) => ({ kind: 'empty value', key, value: pick([null, Buffer.alloc(0), Buffer.from([0])]), intentId: null, reason: 'UNDECODABLE' }),
    'non-finite number': (key) => {
      const i = validIntent(key);
      return { kind: 'non-finite number', key, value: framed(withRawContext(i, `{"amount":${pick(['1e309', '-1e309', '9e999'])}}`)), intentId: i.intent_id, reason: 'NUMBER_NOT_FINITE' };
    },
    'lone surrogate in a string': (key) => {
      const i = validIntent(key);
      return { kind: 'lone surrogate in a string', key, value: framed(withRawContext(i, `{"note":"${word(3)}${pick(['\\ud800', '\\udfff', '\\ud83d'])}"}`)), intentId: i.intent_id, reason: 'LONE_SURROGATE' };
    },
    'lone surrogate in a key': (key) => {
      const i = validIntent(key);
      return { kind: 'lone surrogate in a key', key, value: framed(withRawContext(i, `{"${pick(['\\udc00', '\\ud800'])}${word(3)}":1}`)), intentId: i.intent_id, reason: 'LONE_SURROGATE' };
    },
    'deep nesting': (key) => {
      const i = validIntent(key);
      const depth = 33 + Math.floor(rand() * 2000);
      return { kind: 'deep nesting', key, value: framed(withRawContext(i, `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`)), intentId: i.intent_id, reason: 'NESTING_TOO_DEEP' };
    },
    '__proto__ key': (key) => {
      const i = validIntent(key);
      return { kind: '__proto__ key', key, value: framed(withRawContext(i, '{"__proto__":{"sensitivity":"public"}}')), intentId: i.intent_id, reason: 'KEY_RESERVED' };
    },
    'invalid UTF-8': (key) => {
      const i = validIntent(key);
      const [before, after] = JSON.stringify(i).split('"reconcile"');
      const bad = Buffer.concat([Buffer.from(`${before}"rec`), Buffer.from([pick([0xff, 0xc3, 0xed])]), Buffer.from(`ile"${after}`)]);
      return { kind: 'invalid UTF-8', key, value: framed(bad), intentId: i.intent_id, reason: 'UTF8_INVALID' };
    },
    'huge record': (key) => {
      const i = validIntent(key);
      // 70 KB: over the intent's 64 KiB, kept whole in its letter.
      return { kind: 'huge record', key, value: framed(JSON.stringify({ ...i, context: { blob: word(1).repeat(70_000) } })), intentId: i.intent_id, reason: 'MESSAGE_TOO_LARGE' };
    },
    'huge record, letter truncated': (key) => {
      const i = validIntent(key);
      // 400 KB: too large for a whole dead letter; the letter keeps its digest, the deny still comes.
      return { kind: 'huge record, letter truncated', key, value: framed(JSON.stringify({ ...i, context: { blob: word(1).repeat(400_000) } })), intentId: i.intent_id, reason: 'MESSAGE_TOO_LARGE' };
    },
  };

  /** How many of each class (the huge ones fewer: every later worker in the run reads them again). */
  const PER_CLASS = (kind: string) => (kind.startsWith('huge') ? 1 : 3);
  return { classes: CLASSES, perClass: PER_CLASS, validIntent, framed, rand, word };
}
