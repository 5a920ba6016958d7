// An allowed intent is executed, or reported to its agent as not executed before its warrant
// expires: an executor far behind (slow actions, one at a time) gives up the intents it has not
// started shortly before their warrants run out, reports each NOT_EXECUTED_IN_TIME, and can no
// longer run them. Never both: an intent that ran is not given up, and one given up never runs.
// And never a false "not executed": a claim store that lost its data cannot tell, so it says nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvedTopic, type ApprovedIntent, type ExecutionResult } from '@intentgate/contracts';
import { generateSigningKey, jwksOf, verifyWarrant, type Jwks, type SigningKey } from '@intentgate/evidence';
import { startStandaloneRedis } from '@intentgate/infra';
import { ExecutorRuntime } from '@intentgate/sdk';
import { Redis } from 'ioredis';
import { approvedIntentSignedBy, connection, eventually, serviceTrust, testBus, testLogger, uniqueGroup } from '@intentgate/test';

const ISSUER = 'deadline-test-decision';
const bus = testBus();
const producer = bus.producer();
const results: Array<{ result: ExecutionResult; at: number }> = [];
const stoppers: Array<() => Promise<unknown>> = [];
let key: SigningKey;
let jwks: Jwks;

beforeAll(async () => {
  await bus.registerSchemas();
  key = await generateSigningKey('deadline-test-1');
  jwks = jwksOf([key]);
  const watch = bus.consumer<'ExecutionResult'>({
    groupId: uniqueGroup('deadline-executions'), topics: ['executions'], fromBeginning: false,
    handle: async (records) => {
      for (const { value } of records) results.push({ result: value, at: Date.now() });
    },
  });
  await watch.start();
  stoppers.push(() => watch.stop());
});

afterAll(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => {});
  await bus.close();
});

const reportsOf = (id: string) => results.filter((r) => r.result.intent_id === id);
const expiryOf = async (a: ApprovedIntent) => (await verifyWarrant(a.warrant, { issuer: ISSUER, domain: 'data', intentDigest: a.decision.intent_digest, decisionId: a.decision.decision_id, jwks })).exp * 1000;

async function executor(options: { redisUrl: string; handlerMs: number; ran: string[]; marginMs: number }): Promise<ExecutorRuntime> {
  const runtime = await ExecutorRuntime.start({
    ...connection('provisioner'), redisUrl: options.redisUrl, domain: 'data', executorId: `deadline-${Math.random().toString(36).slice(2, 8)}`,
    groupId: uniqueGroup('deadline-executor'), issuer: ISSUER, jwks, trust: await serviceTrust('executor'), logger: testLogger(),
    concurrency: 1, deadlineMarginMs: options.marginMs,
    handler: async (a) => {
      options.ran.push(a.intent.intent_id);
      await new Promise((r) => setTimeout(r, options.handlerMs));
      return {};
    },
  });
  stoppers.push(() => runtime.stop());
  return runtime;
}

describe('the executor is behind: unstarted intents are given up before their warrants expire', () => {
  it('each intent ran once or was reported NOT_EXECUTED_IN_TIME before its warrant expired, never both; the late redelivery reports the same', async () => {
    const ran: string[] = [];
    const runtime = await executor({ redisUrl: connection('provisioner').redisUrl, handlerMs: 2_500, ran, marginMs: 3_000 });
    // Eight actions of 2.5 s, one at a time, behind warrants of 8 s: the executor cannot start them all in time.
    const approved = await Promise.all(Array.from({ length: 8 }, () => approvedIntentSignedBy(key, ISSUER, 8)));
    await producer.sendMany(approved.map((a) => ({ topic: approvedTopic('data'), key: a.intent.intent_id, value: a })));
    // The executor works through all eight (the given-up ones are refused at once when it reaches them).
    await eventually(() => approved.every((a) => reportsOf(a.intent.intent_id).length > 0 && (ran.includes(a.intent.intent_id) || reportsOf(a.intent.intent_id).length >= 2)), 'every intent executed, or given up and reached by the executor', 120_000);
    await new Promise((r) => setTimeout(r, 1_000));

    let forfeited = 0;
    for (const a of approved) {
      const id = a.intent.intent_id;
      const reports = reportsOf(id);
      const timesRun = ran.filter((r) => r === id).length;
      if (timesRun === 1) {
        expect(reports.map((r) => r.result.status), `${id}: ran, and reported executed only`).toEqual(['executed']);
        continue;
      }
      expect(timesRun, `${id}: given up, so never run`).toBe(0);
      forfeited++;
      // Every report of it is the one outcome (the executor's late redelivery reports the recorded refusal again).
      expect(new Set(reports.map((r) => JSON.stringify([r.result.status, r.result.reason?.code, r.result.finished_at])))).toEqual(new Set([JSON.stringify(['refused', 'NOT_EXECUTED_IN_TIME', reports[0]!.result.finished_at])]));
      expect(reports[0]!.result.reason!.message).toMatch(/Submit the action again as a new intent/);
      // Told before the warrant ran out.
      expect(Date.parse(reports[0]!.result.finished_at)).toBeLessThan(await expiryOf(a));
      expect(reports[0]!.at).toBeLessThan(await expiryOf(a) + 1_000);
    }
    expect(forfeited).toBeGreaterThan(0);
    expect(runtime.forfeited).toBe(forfeited);
    // Stopped here: it reads the same topic with its own claim store, and would run the next test's intents too.
    await runtime.stop();
  });

  it('a claim store that lost its data says nothing: intents that ran before the loss are not reported "not executed"', async () => {
    const redis = await startStandaloneRedis();
    stoppers.push(() => redis.stop());
    const ran: string[] = [];
    const runtime = await executor({ redisUrl: redis.url, handlerMs: 10, ran, marginMs: 4_000 });
    // Warrants issued after this store's memory began (its epoch, plus the skew allowed).
    const probe = new Redis(redis.url);
    let epoch = 0;
    await eventually(() => epoch > 0, 'the claim epoch set', 30_000, async () => {
      epoch = Number(await probe.get('ig:claim:data:epoch'));
    });
    probe.disconnect();
    await new Promise((r) => setTimeout(r, Math.max(0, epoch + 3_000 - Date.now())));
    const approved = await Promise.all(Array.from({ length: 3 }, () => approvedIntentSignedBy(key, ISSUER, 12)));
    await producer.sendMany(approved.map((a) => ({ topic: approvedTopic('data'), key: a.intent.intent_id, value: a })));
    await eventually(() => approved.every((a) => reportsOf(a.intent.intent_id).length === 1), 'the three executed');
    // The store forgets everything, before the give-up time (8 s after issue) comes.
    await redis.kill();
    await redis.restart({ empty: true });
    const lastExpiry = Math.max(...(await Promise.all(approved.map(expiryOf))));
    await new Promise((r) => setTimeout(r, Math.max(0, lastExpiry + 1_500 - Date.now())));
    for (const a of approved) {
      // Executed, and nothing else said of it (a redelivered batch reports the recorded outcome again, identical).
      const reports = reportsOf(a.intent.intent_id).map((r) => JSON.stringify([r.result.status, r.result.reason?.code ?? null, r.result.finished_at]));
      expect(reports.length).toBeGreaterThanOrEqual(1);
      expect(new Set(reports)).toEqual(new Set([JSON.stringify(['executed', null, reportsOf(a.intent.intent_id)[0]!.result.finished_at])]));
    }
    expect(ran.filter((id) => approved.some((a) => a.intent.intent_id === id))).toHaveLength(3);
    expect(runtime.forfeited).toBe(0);
  });

  it('a deadline margin that is not a whole number of 0 or more refuses to start', async () => {
    await expect(ExecutorRuntime.start({
      ...connection('provisioner'), domain: 'data', executorId: 'deadline-bad', groupId: uniqueGroup('deadline-bad'), issuer: ISSUER, jwks,
      trust: await serviceTrust('executor'), logger: testLogger(), deadlineMarginMs: -1, handler: async () => ({}),
    })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});
