import { describe, expect, it } from 'vitest';
import type { Bus, IncomingRecord } from '@intentgate/bus';
import { exampleIntent } from '@intentgate/contracts/examples';
import { pino } from 'pino';
import { ADMISSION_DEFAULTS, Admission, compileAdmission } from '../src/admission.ts';

const record = (timestampMs: number) => ({ timestamp: String(timestampMs) }) as IncomingRecord<'Intent'>;
// check() reads only the bounds and the backlog it was given: no broker is involved.
const admission = (options: Parameters<typeof compileAdmission>[0]) => new Admission(null as unknown as Bus, compileAdmission(options), pino({ level: 'silent' }));

describe('admission config', () => {
  it('takes its defaults from one place and names each executor group', () => {
    const config = compileAdmission();
    expect(config).toMatchObject(ADMISSION_DEFAULTS);
    expect(config.executorGroups).toEqual({ app: 'intentgate-executor-app', data: 'intentgate-executor-data', infra: 'intentgate-executor-infra', ai: 'intentgate-executor-ai' });
    expect(compileAdmission({ executorGroups: { data: 'mine' } }).executorGroups.data).toBe('mine');
  });

  it('refuses a bound that is not a whole number of 0 or more, and a poll faster than 50 ms, at start', () => {
    expect(() => compileAdmission({ decisionLagBoundMs: -1 })).toThrow(/decisionLagBoundMs must be a whole number of 0 or more/);
    expect(() => compileAdmission({ executorBacklogBound: 1.5 })).toThrow(/executorBacklogBound/);
    expect(() => compileAdmission({ executorPollMs: 10 })).toThrow(/at least 50/);
    expect(() => compileAdmission({ retryAfterMs: Number.NaN })).toThrow(/retryAfterMs/);
  });
});

describe('admission check', () => {
  const now = 1_800_000_000_000;

  it('admits an intent within the bound and refuses one that waited longer, saying when to retry', () => {
    const a = admission({ decisionLagBoundMs: 1_000, retryAfterMs: 2_000 });
    expect(a.check(exampleIntent(), record(now - 1_000), now)).toBeNull();
    expect(a.check(exampleIntent(), record(now - 1_001), now)).toEqual({ retryAfterMs: 2_000, message: expect.stringMatching(/1001 ms after it was submitted, over its 1000 ms bound/) });
  });

  it('with a bound of 0, admits however long it waited', () => {
    expect(admission({ decisionLagBoundMs: 0 }).check(exampleIntent(), record(0), now)).toBeNull();
  });

  it('refuses an intent of a domain whose executors are over their backlog bound, not of another, and admits while the backlog is unknown', () => {
    const a = admission({ executorBacklogBound: 10 });
    const data = exampleIntent();
    expect(data.action.domain).toBe('data');
    expect(a.check(data, record(now), now)).toBeNull(); // unknown
    a.backlog.set('data', 11);
    expect(a.check(data, record(now), now)?.message).toMatch(/the data executors have 11 approved intents yet to run, over their bound of 10/);
    a.backlog.set('data', 10);
    expect(a.check(data, record(now), now)).toBeNull();
    a.backlog.set('infra', 1_000);
    expect(a.check(data, record(now), now)).toBeNull();
  });
});
