import { z } from 'zod';
import { MESSAGES, MESSAGE_NAMES, type MessageName } from './messages.ts';

export const SCHEMA_ID_BASE = 'https://intentgate.dev/schemas/';

/**
 * JSON Schema (draft-07) for one message. Draft-07 because the schema registry recognises it
 * by its `$schema` and every common validator reads it. Refinements (cross-field rules such
 * as "allow carries a warrant") exist only in zod; readers validate with zod after decoding.
 */
export function jsonSchemaOf(name: MessageName): Record<string, unknown> {
  const body = z.toJSONSchema(MESSAGES[name], { target: 'draft-7', io: 'input', unrepresentable: 'throw' }) as Record<string, unknown>;
  const { $schema, ...rest } = body;
  return { $schema, $id: `${SCHEMA_ID_BASE}${name}.json`, title: name, ...rest };
}

/** Stable text of a schema as checked in under schemas/ and registered in the registry. */
export function jsonSchemaText(name: MessageName): string {
  return `${JSON.stringify(jsonSchemaOf(name), null, 2)}\n`;
}

export function allJsonSchemas(): Map<MessageName, string> {
  return new Map(MESSAGE_NAMES.map((n) => [n, jsonSchemaText(n)]));
}
