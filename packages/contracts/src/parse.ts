import type { z } from 'zod';
import { MESSAGES, type Message, type MessageName } from './messages.ts';

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

export function parseMessage<N extends MessageName>(name: N, value: unknown): Message<N> {
  const result = MESSAGES[name].safeParse(value);
  if (!result.success) throw new ContractViolation(name, result.error.issues);
  return result.data as Message<N>;
}
