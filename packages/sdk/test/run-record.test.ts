import { describe, expect, it } from 'vitest';
import { decodeRun, encodeRun, RUN_STARTED, type Outcome } from '../src/run-record.ts';

const executed: Outcome = { status: 'executed', detail: { rows: 3 }, finished_at: '2026-12-02T12:00:00.000Z', receipt_id: 'r-1' };

describe('run records', () => {
  it('an absent key means no earlier claim on the record', () => {
    expect(decodeRun(null)).toBeNull();
  });

  it('a started run has no outcome yet', () => {
    expect(decodeRun(RUN_STARTED)).toEqual({ state: 'started' });
  });

  it('a recorded outcome reads back as it was written, reason and detail included', () => {
    expect(decodeRun(encodeRun(executed))).toEqual({ state: 'finished', outcome: executed });
    const failed: Outcome = { status: 'failed', reason: { code: 'HANDLER_FAILED', message: 'disk full' }, finished_at: '2026-12-02T12:00:01.000Z', receipt_id: 'r-2' };
    expect(decodeRun(encodeRun(failed))).toEqual({ state: 'finished', outcome: failed });
  });

  it('anything else counts as started: the claim was made, the outcome is not known', () => {
    for (const text of ['{oops', '"executed"', JSON.stringify({ ...executed, status: 'done' }), JSON.stringify({ ...executed, reason: { code: 'lower', message: '' } }), JSON.stringify({ status: 'executed' })]) {
      expect(decodeRun(text), text).toEqual({ state: 'started' });
    }
  });
});
