// The chaos suite at a small scale: the whole deployment under a steady load, one fault per
// scenario (each service SIGKILLed and restarted, the broker killed and restarted on its data,
// Redis killed and restarted empty, 2x overload, the fuzz corpus in the load). After each: no
// intent undecided or decided twice, nothing executed twice, no receipt lost, no allow that
// rested on forgotten state. `npm run chaos` runs the same scenarios at full scale with a report.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stack } from '@intentgate/test';
import { startChaosEnvironment, type ChaosEnvironment } from '../chaos/environment.ts';
import { MUST_BE_ZERO } from '../chaos/report.ts';
import { ChaosRun, FAULTS, reportLine, SMALL_SCALE, verifyLedger } from '../chaos/scenarios.ts';

let env: ChaosEnvironment;
let run: ChaosRun;

beforeAll(async () => {
  env = await startChaosEnvironment(stack());
  run = await ChaosRun.start(env, stack());
}, 600_000);

afterAll(async () => {
  await run?.stop();
  await env?.stop();
});

describe('chaos (small scale)', () => {
  for (const fault of FAULTS) {
    it(`${fault}: nothing undecided, doubled, executed twice, lost or wrongly allowed`, async () => {
      const r = await run.run(fault, SMALL_SCALE);
      console.log(`[chaos] ${reportLine(r)}${r.doubledExamples.length ? `\n  doubled, e.g.: ${r.doubledExamples.join('\n  ')}` : ''}`);
      expect(r.submitted).toBeGreaterThan(0);
      expect(Object.fromEntries(MUST_BE_ZERO.map((k) => [k, r[k]]))).toEqual(Object.fromEntries(MUST_BE_ZERO.map((k) => [k, 0])));
      if (fault !== 'none' && fault !== 'overload' && fault !== 'fuzz') expect(r.recoveryMs, 'the faulted part did its work again').not.toBeNull();
      if (fault === 'fuzz') expect(r.malformed).toBeGreaterThan(0);
    }, 600_000);
  }

  it('after every fault, the ledger verifies: its logs and checkpoints, and each receipt\'s signer under the deployment\'s roots', async () => {
    const { ok, output } = await verifyLedger(env);
    console.log(`[chaos] intentgate verify:\n${output}`);
    expect(output).toMatch(/ok {4}signers: \d+ receipts/);
    expect(output).not.toMatch(/FAIL/);
    expect(ok).toBe(true);
  }, 120_000);
});
