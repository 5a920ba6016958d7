import { assertWithinSize, ContractViolation, decodeUtf8, JsonRefused, parseMessage, topicSpec, type Message, type MessageName } from '@intentgate/contracts';
import { BusError, describe } from './errors.ts';
import type { SchemaCatalog } from './registry.ts';

/** Registry wire framing: magic byte 0, then the schema id as a 4-byte big-endian integer. */
const MAGIC_BYTE = 0;
const HEADER_BYTES = 5;

export interface Decoded<N extends MessageName = MessageName> {
  value: Message<N>;
  schemaId: number;
}

export class Serde {
  readonly #catalog: SchemaCatalog;

  constructor(catalog: SchemaCatalog) {
    this.#catalog = catalog;
  }

  /** Contract-checks a value and frames it with the topic's schema id (registered on first use). */
  async encode(topic: string, value: unknown): Promise<Buffer> {
    const message = topicSpec(topic).value;
    let checked: unknown;
    try {
      checked = parseMessage(message, value);
    } catch (err) {
      throw contractError(topic, err);
    }
    const json = JSON.stringify(checked);
    const bytes = Buffer.byteLength(json, 'utf8');
    try {
      assertWithinSize(message, bytes);
    } catch (err) {
      throw contractError(topic, err);
    }
    const id = await this.#catalog.ensureId(topic);
    // One allocation: header and UTF-8 payload written in place.
    const out = Buffer.allocUnsafe(HEADER_BYTES + bytes);
    out.writeUInt8(MAGIC_BYTE, 0);
    out.writeInt32BE(id, 1);
    out.write(json, HEADER_BYTES, 'utf8');
    return out;
  }

  /**
   * Unframes a record value, checks its schema id is known to the registry, and validates it
   * against the reader's zod contract for the topic (stricter than the JSON Schema: it also
   * holds the cross-field rules, and refuses what canonical JSON cannot carry). Throws BusError:
   * UNDECODABLE, SCHEMA_UNKNOWN, SCHEMA_INVALID and the contract's JSON refusals
   * (MESSAGE_TOO_LARGE, UTF8_INVALID, NESTING_TOO_DEEP, NUMBER_NOT_FINITE, LONE_SURROGATE, …)
   * mean the record is poison (send it to the DLQ); REGISTRY_UNAVAILABLE means try again later
   * (never DLQ a record because the registry was down).
   */
  async decode<N extends MessageName>(topic: string, buffer: Buffer | null): Promise<Decoded<N>> {
    if (buffer === null || buffer.length < HEADER_BYTES || buffer[0] !== MAGIC_BYTE) {
      throw new BusError('UNDECODABLE', `record on ${topic} lacks the schema registry framing (magic byte 0 + schema id)`, {
        retriable: false, hint: 'Produce with the IntentGate bus or SDK, which frame values with their schema id.',
      });
    }
    const name = topicSpec(topic).value as N;
    let text: string;
    try {
      // Before the registry: a refusal here needs no lookup, and nothing of a huge record is parsed.
      assertWithinSize(name, buffer.length - HEADER_BYTES);
      text = decodeUtf8(name, buffer.subarray(HEADER_BYTES));
    } catch (err) {
      throw contractError(topic, err);
    }
    const schemaId = buffer.readInt32BE(1);
    if (schemaId <= 0) {
      // Registries number schemas from 1: such an id is unknown without asking, so no answer other than a 404 can make it look retriable.
      throw new BusError('SCHEMA_UNKNOWN', `${topic}: schema id ${schemaId} cannot name a registered schema`, {
        retriable: false, hint: 'Produce with the IntentGate bus or SDK, which frame values with their registered schema id.',
      });
    }
    await this.#catalog.assertKnown(schemaId, topic);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new BusError('UNDECODABLE', `${topic}: payload after the framing is not JSON: ${describe(err)}`, {
        retriable: false, hint: 'Values must be JSON documents framed with their schema id.', cause: err,
      });
    }
    try {
      return { value: parseMessage(name, raw), schemaId };
    } catch (err) {
      throw contractError(topic, err);
    }
  }
}

function contractError(topic: string, err: unknown): BusError {
  if (err instanceof JsonRefused) return new BusError(err.code, `${topic}: ${err.message}`, { retriable: false, hint: err.hint, cause: err });
  return new BusError('SCHEMA_INVALID', `${topic}: ${describe(err)}`, {
    retriable: false,
    hint: err instanceof ContractViolation ? `Fix the ${err.messageName} fields named above.` : 'Fix the message to match the contract.',
    cause: err,
  });
}
