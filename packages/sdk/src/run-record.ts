import { z } from 'zod';
import { ExecutionResult, Uuid } from '@intentgate/contracts';

/**
 * How a claimed execution ended, as its executor reports it: its ExecutionResult's status,
 * reason and time, the handler's detail and the receipt id. Kept with the claim (per consumed
 * record) before it is reported, so a redelivery of the same record reports the same outcome
 * again, with the same receipt id, instead of refusing its own warrant as reused.
 */
const StoredOutcome = z.strictObject({
  status: ExecutionResult.shape.status,
  reason: ExecutionResult.shape.reason,
  detail: z.record(z.string(), z.unknown()).optional(),
  finished_at: ExecutionResult.shape.finished_at,
  receipt_id: Uuid,
});
export type Outcome = z.infer<typeof StoredOutcome>;

/**
 * What a record's run key holds: claimed and started (`mark` is the exact stored text, `at` when,
 * if it says), or finished with its outcome.
 */
export type RunRecord = { state: 'started'; mark: string; at: number | null } | { state: 'finished'; outcome: Outcome };

const STARTED = 'started';

/** The mark written with the claim, before the handler runs: when it started and by whom. */
export function startedMark(now: number, holder: string): string {
  return `${STARTED} ${now} ${holder}`;
}

export function encodeRun(outcome: Outcome): string {
  return JSON.stringify(outcome);
}

/**
 * Reads a run key's value. Anything but a well-formed outcome counts as started (with no known
 * start time): the claim was made, so the action may have run, and its outcome is not known.
 */
export function decodeRun(text: string | null): RunRecord | null {
  if (text === null) return null;
  const started: RunRecord = { state: 'started', mark: text, at: null };
  if (text.startsWith(STARTED)) {
    const at = Number(text.split(' ')[1]);
    return { ...started, at: Number.isSafeInteger(at) && at > 0 ? at : null };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return started;
  }
  const parsed = StoredOutcome.safeParse(value);
  return parsed.success ? { state: 'finished', outcome: parsed.data } : started;
}
