import { describe, expect, it } from 'vitest';
import { decodeRun, encodeRun, startedMark, type Outcome } from '../src/run-record.ts';

const executed: Outcome = { status: 'executed', detail: { rows: 3 }, finished_at: '2026-12-02T12:00:00.000Z', receipt_id: '5f0b7f5e-4a61-4d7e-9d0c-2f3a4b5c6d7e' };

describe('run records', () => {
  it('an absent key means no earlier claim on the record', () => {
    expect(decodeRun(null)).toBeNull();
  });

  it('a started run has no outcome yet, and says when it started', () => {
    const mark = startedMark(1_796_212_779_457, 'instance-1');
    expect(decodeRun(mark)).toEqual({ state: 'started', mark, at: 1_796_212_779_457 });
    expect(decodeRun('started')).toEqual({ state: 'started', mark: 'started', at: null });
  });

  it('a recorded outcome reads back as it was written, reason and detail included', () => {
    expect(decodeRun(encodeRun(executed))).toEqual({ state: 'finished', outcome: executed });
    const failed: Outcome = { status: 'failed', reason: { code: 'HANDLER_FAILED', message: 'disk full' }, finished_at: '2026-12-02T12:00:01.000Z', receipt_id: '0c4f1e2d-3b5a-4c6d-8e7f-9a0b1c2d3e4f' };
    expect(decodeRun(encodeRun(failed))).toEqual({ state: 'finished', outcome: failed });
  });

  it('anything else counts as started with no known start: the claim was made, the outcome is not known', () => {
    for (const text of ['{oops', '"executed"', JSON.stringify({ ...executed, status: 'done' }), JSON.stringify({ ...executed, reason: { code: 'lower', message: '' } }),
      JSON.stringify({ status: 'executed' }), JSON.stringify({ ...executed, receipt_id: 'r-1' }), JSON.stringify({ ...executed, finished_at: 'yesterday' })]) {
      expect(decodeRun(text), text).toEqual({ state: 'started', mark: text, at: null });
    }
  });
});
