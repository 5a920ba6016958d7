import type { z } from 'zod';
import { MESSAGES, type Message, type MessageName } from './messages.ts';
import { assertCanonicalJson } from './json-limits.ts';

/** A value that does not satisfy the wire contract. `issues` are zod's, path and message only. */
export class ContractViolation extends Error {
  readonly code = 'SCHEMA_INVALID';
  readonly messageName: MessageName;
  readonly issues: ReadonlyArray<{ path: string; message: string }>;

  constructor(messageName: MessageName, issues: z.core.$ZodIssue[]) {
    const listed = issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    super(`not a valid ${messageName}: ${listed.join('; ')}${issues.length > 5 ? `; and ${issues.length - 5} more` : ''}`);
    this.name = 'ContractViolation';
    this.messageName = messageName;
    this.issues = issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  }
}

/**
 * Checks a value against its message's contract: first what canonical JSON cannot carry
 * (JsonRefused, with its own code), then the schema (ContractViolation). Writers and readers
 * both call it, so a value that would not survive canonicalization is never produced either.
 */
export function parseMessage<N extends MessageName>(name: N, value: unknown): Message<N> {
  assertCanonicalJson(name, value);
  const result = MESSAGES[name].safeParse(value);
  if (!result.success) throw new ContractViolation(name, result.error.issues);
  return result.data as Message<N>;
}
