// checkResult's quick path (wellFormed) must accept exactly what PolicyResult (zod) accepts, or
// less, and give the same output; anything it declines goes to zod.
import { describe, expect, it } from 'vitest';
import { PolicyError, PolicyResult, checkResult } from '../src/index.ts';
import { wellFormed } from '../src/engine.ts';

const reason = (over: object = {}) => ({ code: 'ALL_GUARDS_PASSED', rule: 'intentgate.decision', message: 'scope, source_trusted', ...over });
const valid: unknown[] = [
  { verdict: 'allow', reasons: [reason()], obligations: {} },
  { verdict: 'allow', reasons: [reason()], obligations: { audit: 'full' } },
  { obligations: { approval: { quorum: 1, deadline_seconds: 300 } }, reasons: [reason({ code: 'IRREVERSIBLE_IN_DOMAIN' }), reason({ code: 'X1', message: '' })], verdict: 'escalate' },
  { verdict: 'deny', reasons: Array.from({ length: 64 }, (_, i) => reason({ message: `m${i}` })), obligations: { '2': 1, b: [1, { c: null }], a: 'x' } },
  { verdict: 'deny', reasons: [reason({ rule: 'r'.repeat(256), message: 'm'.repeat(2048), code: `A${'B'.repeat(63)}` })], obligations: {} },
  JSON.parse('{"verdict":"deny","reasons":[{"message":"ü €😀","rule":"x","code":"NO_DECISION"}],"obligations":{"constructor":1,"toString":2}}'),
];
const invalid: unknown[] = [
  null, 'allow', [], 1,
  { verdict: 'allow', reasons: [reason()] },
  { verdict: 'allow', reasons: [reason()], obligations: {}, extra: 1 },
  { verdict: 'maybe', reasons: [reason()], obligations: {} },
  { verdict: 'allow', reasons: [], obligations: {} },
  { verdict: 'allow', reasons: Array.from({ length: 65 }, () => reason()), obligations: {} },
  { verdict: 'allow', reasons: reason(), obligations: {} },
  { verdict: 'allow', reasons: [reason({ extra: 1 })], obligations: {} },
  { verdict: 'allow', reasons: [{ code: 'A1', rule: 'r' }], obligations: {} },
  { verdict: 'allow', reasons: [{ code: 'A1', rule: 'r', msg: '' }], obligations: {} },
  { verdict: 'allow', reasons: [reason({ code: 'lower' })], obligations: {} },
  { verdict: 'allow', reasons: [reason({ code: 'A' })], obligations: {} },
  { verdict: 'allow', reasons: [reason({ code: `A${'B'.repeat(64)}` })], obligations: {} },
  { verdict: 'allow', reasons: [reason({ rule: '' })], obligations: {} },
  { verdict: 'allow', reasons: [reason({ rule: 'r'.repeat(257) })], obligations: {} },
  { verdict: 'allow', reasons: [reason({ message: 'm'.repeat(2049) })], obligations: {} },
  { verdict: 'allow', reasons: [reason({ message: 1 })], obligations: {} },
  { verdict: 'allow', reasons: [null], obligations: {} },
  { verdict: 'allow', reasons: [reason()], obligations: [] },
  { verdict: 'allow', reasons: [reason()], obligations: null },
  { verdict: 'allow', reasons: [reason()], obligations: 'x' },
];

function viaZod(result: unknown): PolicyResult | PolicyError {
  const parsed = PolicyResult.safeParse(result);
  return parsed.success ? parsed.data : new PolicyError('POLICY_RESULT_INVALID', 'invalid');
}

function agree(result: unknown): void {
  const quick = wellFormed(result);
  const zod = viaZod(result);
  if (quick !== null) {
    expect(zod).not.toBeInstanceOf(PolicyError);
    expect(quick).toStrictEqual(zod);
    expect(JSON.stringify(quick)).toBe(JSON.stringify(zod));
  }
  const checked = (() => {
    try {
      return checkResult([{ result }], 'e');
    } catch (err) {
      return err as PolicyError;
    }
  })();
  if (zod instanceof PolicyError) {
    expect(checked).toBeInstanceOf(PolicyError);
    expect((checked as PolicyError).code).toBe('POLICY_RESULT_INVALID');
  } else {
    expect(checked).toStrictEqual(zod);
    expect(JSON.stringify(checked)).toBe(JSON.stringify(zod));
  }
}

describe('checkResult without zod for well-formed results', () => {
  it('takes the quick path for every well-formed result, with the output zod gives', () => {
    for (const r of valid) {
      expect(wellFormed(r)).not.toBeNull();
      agree(r);
    }
  });

  it('declines everything zod rejects, which then fails as before', () => {
    for (const r of invalid) {
      expect(wellFormed(r)).toBeNull();
      agree(r);
    }
  });

  it('leaves a __proto__ key to zod', () => {
    const r = JSON.parse('{"verdict":"allow","reasons":[{"code":"OK","rule":"r","message":""}],"obligations":{"__proto__":{"x":1}}}');
    expect(wellFormed(r)).toBeNull();
    agree(r);
  });

  it('agrees with zod on random mutations of valid results', () => {
    let seed = 7;
    const rand = () => ((seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0) / 4_294_967_296);
    const values: unknown[] = [undefined, null, 0, 1, '', 'x', 'allow', 'deny', 'A1', 'm'.repeat(2049), [], {}, [reason()], { a: 1 }, true];
    for (let i = 0; i < 5_000; i++) {
      const r = structuredClone(valid[Math.floor(rand() * valid.length)]) as Record<string, unknown>;
      const target = rand() < 0.5 ? r : (((r.reasons as unknown[])[0] ?? r) as Record<string, unknown>);
      const keys = [...Object.keys(target), 'extra'];
      const key = keys[Math.floor(rand() * keys.length)]!;
      const value = values[Math.floor(rand() * values.length)];
      if (value === undefined) delete target[key];
      else target[key] = value;
      agree(r);
    }
  });
});
