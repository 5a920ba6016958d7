// An executor killed mid-execution (SIGKILL, a child process) on the real stack: the redelivered
// approved intent never runs twice, and what is reported for it is what happened (the recorded
// outcome, or that the outcome is unknown), never a refusal of its own warrant as reused.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvedTopic, type ApprovedIntent, type ExecutionResult, type Receipt } from '@intentgate/contracts';
import { generateSigningKey, jwksOf, type Jwks, type SigningKey } from '@intentgate/evidence';
import { projectRoot } from '@intentgate/infra';
import { Redis } from 'ioredis';
import { ExecutorRuntime } from '@intentgate/sdk';
import { approvedIntentSignedBy, connection, eventually, roleEnv, serviceTrust, stack, testBus, testLogger, testTrust, uniqueGroup } from '@intentgate/test';

const ISSUER = 'crash-test-decision';
const bus = testBus();
const producer = bus.producer();
const dir = mkdtempSync(join(tmpdir(), 'intentgate-crash-'));
const results: ExecutionResult[] = [];
const receipts: Receipt[] = [];
const stoppers: Array<() => Promise<unknown>> = [];
let key: SigningKey;
let jwks: Jwks;
let trust: Awaited<ReturnType<typeof serviceTrust>>;
let trustFile: string;

beforeAll(async () => {
  await bus.registerSchemas();
  key = await generateSigningKey('crash-test-1');
  jwks = jwksOf([key]);
  // One executor identity across the crash and the restart: the same key signs the receipt it reports again.
  trust = await serviceTrust('executor');
  trustFile = (await testTrust()).paths.trustFile;
  for (const topic of ['executions', 'receipts'] as const) {
    const watch = bus.consumer<'ExecutionResult' | 'Receipt'>({
      groupId: uniqueGroup(`crash-${topic}`), topics: [topic], fromBeginning: true,
      handle: async (records) => {
        for (const { value } of records) (topic === 'executions' ? results : receipts).push(value as never);
      },
    });
    await watch.start();
    stoppers.push(() => watch.stop());
  }
});

afterAll(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => {});
  await bus.close();
  rmSync(dir, { recursive: true, force: true });
});

const approvedIntent = () => approvedIntentSignedBy(key, ISSUER);

function publish(approved: ApprovedIntent): Promise<unknown> {
  return producer.send({ topic: approvedTopic('data'), key: approved.intent.intent_id, value: approved });
}

/** Runs the crashing executor until it kills itself; resolves with its exit signal. */
function crashingExecutor(crash: 'in-handler' | 'before-report', approved: ApprovedIntent, groupId: string, sideEffects: string): Promise<string | null> {
  const s = stack();
  const child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', join(projectRoot, 'test', 'integration', 'fixtures', 'crashing-executor.ts')], {
    env: {
      ...process.env, CRASH: crash, INTENT_ID: approved.intent.intent_id, GROUP_ID: groupId, EXECUTOR_ID: 'crash-test', ISSUER,
      JWKS: JSON.stringify(jwks), SIDE_EFFECT_FILE: sideEffects,
      ...roleEnv('provisioner'),
      INTENTGATE_TRUST_FILE: trustFile, INTENTGATE_SIGNER_FILE: trust.signerFile,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  stoppers.push(async () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the crashing executor did not crash:\n${stderr}`)), 120_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === null) reject(new Error(`the crashing executor exited ${code} instead of crashing:\n${stderr}`));
      else resolve(signal);
    });
  });
}

/** The same executor (group, id, key), restarted in this process; records any handler call. */
async function restartedExecutor(approved: ApprovedIntent, groupId: string, ran: string[], runLeaseMs: number): Promise<void> {
  const s = stack();
  const executor = await ExecutorRuntime.start({
    ...connection('provisioner'), domain: 'data', executorId: 'crash-test', groupId,
    issuer: ISSUER, jwks, trust, logger: testLogger(), runLeaseMs,
    accept: (a) => a.intent.intent_id === approved.intent.intent_id,
    handler: async (a) => {
      ran.push(a.intent.intent_id);
      return { detail: { written: 1 } };
    },
  });
  stoppers.push(() => executor.stop());
}

const resultsFor = (id: string) => results.filter((r) => r.intent_id === id && r.executor === 'crash-test');
const receiptsFor = (id: string) => receipts.filter((r) => r.intent_id === id && r.kind === 'execution');

const linesOf = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean);

/**
 * Publishes an approved intent, lets the crashing executor die at `crash` after its side effect,
 * restarts the same executor in this process and waits for the redelivered intent's report.
 */
async function crashAndRestart(crash: 'in-handler' | 'before-report', runLeaseMs: number) {
  const approved = await approvedIntent();
  const id = approved.intent.intent_id;
  const group = uniqueGroup(`crash-${crash}`);
  const sideEffects = join(dir, `${crash}.log`);
  await publish(approved);
  expect(await crashingExecutor(crash, approved, group, sideEffects)).toBe('SIGKILL');
  const crashedAt = Date.now();
  expect(linesOf(sideEffects)).toEqual([id]);
  expect(resultsFor(id)).toEqual([]); // it died before sending anything
  const ran: string[] = [];
  await restartedExecutor(approved, group, ran, runLeaseMs);
  await eventually(() => resultsFor(id).length > 0 && receiptsFor(id).length > 0, 'the redelivered intent to be reported', 120_000);
  return { approved, id, ran, sideEffects, crashedAt };
}

describe('an executor killed during an execution', { timeout: 300_000 }, () => {
  it('killed after recording the outcome, before reporting it: the redelivery reports that outcome, and a replay is still refused', async () => {
    const { approved, id, ran, sideEffects } = await crashAndRestart('before-report', 60_000);
    expect(resultsFor(id)).toMatchObject([{ status: 'executed', decision_id: approved.decision.decision_id }]);
    expect(resultsFor(id)[0]!.reason).toBeUndefined();
    expect(receiptsFor(id)[0]!.body).toMatchObject({ result: resultsFor(id)[0], detail: { written: 1 } });
    expect(ran).toEqual([]); // not run again
    expect(linesOf(sideEffects)).toEqual([id]);

    // The same approved intent published again is a replay, not a redelivery: refused.
    await publish(approved);
    await eventually(() => resultsFor(id).length === 2, 'the replay to be reported', 60_000);
    expect(resultsFor(id)[1]).toMatchObject({ status: 'refused', reason: { code: 'WARRANT_REUSED' } });
    expect(ran).toEqual([]);
  });

  it('killed inside the handler: the redelivery reports the outcome as unknown (failed, OUTCOME_UNKNOWN) and does not run it again', async () => {
    // The run started just before the crash; a redelivery within the lease (the run might still
    // be going on another member) is retried, not reported.
    const lease = 20_000;
    const { id, ran, sideEffects, crashedAt } = await crashAndRestart('in-handler', lease);
    expect(resultsFor(id)).toMatchObject([{ status: 'failed', reason: { code: 'OUTCOME_UNKNOWN' } }]);
    expect(Date.parse(resultsFor(id)[0]!.finished_at)).toBeGreaterThanOrEqual(crashedAt - 1_000 + lease);
    expect(resultsFor(id)[0]!.reason!.message).toMatch(/side effect may have happened/);
    expect(receiptsFor(id)[0]!.body).toMatchObject({ result: resultsFor(id)[0] });
    expect(ran).toEqual([]);
    expect(linesOf(sideEffects)).toEqual([id]);
  });

  it('a long action keeps its run marked started, renewed past the lease, and then records its outcome', async () => {
    const approved = await approvedIntent();
    const id = approved.intent.intent_id;
    const group = uniqueGroup('long-run');
    const s = stack();
    const redis = new Redis(connection('provisioner').redisUrl);
    stoppers.push(() => redis.quit());
    let finish!: () => void;
    const running = new Promise<void>((r) => (finish = r));
    let started = false;
    const executor = await ExecutorRuntime.start({
      ...connection('provisioner'), domain: 'data', executorId: 'crash-test', groupId: group,
      issuer: ISSUER, jwks, trust, logger: testLogger(), runLeaseMs: 1_500,
      accept: (a) => a.intent.intent_id === id,
      handler: async () => {
        started = true;
        await running;
        return { detail: { written: 1 } };
      },
    });
    stoppers.push(() => executor.stop());
    await publish(approved);
    await eventually(() => started, 'the action to start');
    const [runKey] = await redis.keys(`ig:run:data:${group}:*`);
    expect(runKey).toBeDefined();
    const markTime = async () => Number((await redis.get(runKey!))!.split(' ')[1]);
    const first = await markTime();
    // Three lease lengths later the mark is still a started mark, renewed meanwhile.
    await new Promise((r) => setTimeout(r, 4_500));
    expect(await redis.get(runKey!)).toMatch(/^started /);
    expect(await markTime()).toBeGreaterThan(first);
    finish();
    await eventually(() => resultsFor(id).length > 0 && receiptsFor(id).length > 0, 'the outcome to be reported');
    expect(resultsFor(id)).toMatchObject([{ status: 'executed' }]);
    expect(JSON.parse((await redis.get(runKey!))!)).toMatchObject({ status: 'executed', receipt_id: receiptsFor(id)[0]!.receipt_id });
  });
});
