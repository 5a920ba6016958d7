import { z } from 'zod';
import { ReasonCode } from '@intentgate/contracts';

/**
 * How a claimed execution ended, as its executor reports it. Kept with the claim (per consumed
 * record) before it is reported, so a redelivery of the same record reports the same outcome
 * again, with the same receipt id, instead of refusing its own warrant as reused.
 */
export interface Outcome {
  status: 'executed' | 'refused' | 'failed';
  reason?: { code: string; message: string };
  detail?: Record<string, unknown>;
  finished_at: string;
  receipt_id: string;
}

/** What a record's run key holds: claimed and started, or finished with its outcome. */
export type RunRecord = { state: 'started' } | { state: 'finished'; outcome: Outcome };

/** Written with the claim, before the handler runs. */
export const RUN_STARTED = 'started';

const StoredOutcome = z.strictObject({
  status: z.enum(['executed', 'refused', 'failed']),
  reason: z.strictObject({ code: ReasonCode, message: z.string().max(2048) }).optional(),
  detail: z.record(z.string(), z.unknown()).optional(),
  finished_at: z.string().min(1),
  receipt_id: z.string().min(1),
});

export function encodeRun(outcome: Outcome): string {
  return JSON.stringify(outcome);
}

/**
 * Reads a run key's value. Anything but a well-formed outcome counts as started: the claim was
 * made, so the action may have run, and its outcome is not known.
 */
export function decodeRun(text: string | null): RunRecord | null {
  if (text === null) return null;
  if (text === RUN_STARTED) return { state: 'started' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { state: 'started' };
  }
  const parsed = StoredOutcome.safeParse(value);
  if (!parsed.success) return { state: 'started' };
  const { reason, detail, ...rest } = parsed.data;
  return { state: 'finished', outcome: { ...rest, ...(reason ? { reason } : {}), ...(detail ? { detail } : {}) } };
}
