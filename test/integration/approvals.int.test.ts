// Human approval end to end: escalations reach the approvals service, a reviewer signs in on
// the page in headless Chromium and answers, and only an approval with a valid warrant runs,
// once. Also: a timeout denies, a script in a resource id stays text, an approval cannot be
// carried over to a changed intent, separation of duties, quorum, and a restart loses nothing.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ApprovalsClient, ApprovalsApiError, APPROVALS_ISSUER, tokenDigest, type ApprovalsService } from '@intentgate/approvals';
import type { ApprovedIntent, Decision, ExecutionResult, Intent } from '@intentgate/contracts';
import { exampleIntent } from '@intentgate/contracts/examples';
import type { DecisionService } from '@intentgate/decision';
import { LedgerService } from '@intentgate/ledger';
import { digestOf, newBearerToken } from '@intentgate/evidence';
import { projectRoot } from '@intentgate/infra';
import { AgentClient, ExecutorRuntime } from '@intentgate/sdk';
import { approvalsService, connection, labelAsStated, decisionWorker, eventually, roleEnv, serviceTrust, stack, testBus, testLogger, testTrust, uniqueGroup, variantBundle } from '@intentgate/test';

const AGENT = 'spiffe://example.org/agents/approvals-test';
const CHROMIUM = process.env.INTENTGATE_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = join(projectRoot, 'test-results', 'approvals');
const bus = testBus();
let decision: DecisionService;
let approvals: ApprovalsService;
let agent: AgentClient;
let executor: ExecutorRuntime;
let browser: Browser;
let ledger: LedgerService;
const ledgerToken = newBearerToken('igl');
const executed: ApprovedIntent[] = [];
const results = new Map<string, ExecutionResult[]>();
const receipts = new Map<string, Array<{ kind: string; body: Record<string, unknown> }>>();
const stoppers: Array<{ stop(): Promise<void> }> = [];

function intent(over: { resourceId?: string; origin?: string } = {}): Intent {
  const base = exampleIntent();
  return {
    ...base,
    subject: { type: 'agent', id: AGENT, properties: { autonomy: 'supervised' } },
    delegation: [
      { principal: over.origin ?? 'dave@example.org', kind: 'human', scope: ['*'] },
      { principal: AGENT, kind: 'agent', scope: ['infra:*'] },
    ],
    session: { ...base.session, id: `approvals-${randomUUID().slice(0, 8)}`, workflow_step: 'cleanup', request_source: 'user' },
    // Irreversible infra actions always need a human (policy: review_irreversible_domains).
    action: { name: 'infra.delete', domain: 'infra', reversible: false },
    resource: { type: 'service', id: over.resourceId ?? `svc-${randomUUID().slice(0, 8)}`, properties: { sensitivity: 'internal', environment: 'staging' } },
    context: { ticket: 'OPS-42' },
  };
}

/** Its services are labelled staging, as the context feeder would have them (unlabelled means production). */
async function submit(i: Intent): Promise<void> {
  await labelAsStated(i);
  await agent.submit(i);
}

const api = (reviewer: string) => new ApprovalsClient(approvals.url, `token-${reviewer}`);

async function pendingFor(intentId: string): Promise<string> {
  let id = '';
  await eventually(() => id !== '', `the approval request for ${intentId}`, 60_000, async () => {
    id = approvals.pending().find((p) => p.request.intent_id === intentId)?.request.decision_id ?? '';
  });
  return id;
}

async function signIn(page: Page, reviewer: string): Promise<void> {
  await page.goto(approvals.url);
  await page.waitForURL(/\/login$/);
  await page.fill('input[name=reviewer]', reviewer);
  await page.fill('input[name=password]', `${reviewer}-secret`);
  await page.click('button[type=submit]');
  await page.waitForSelector('h1:has-text("Pending")');
}

async function showRequest(page: Page, intentId: string) {
  await pendingFor(intentId);
  await page.goto(approvals.url);
  const card = page.locator(`section.request[data-intent="${intentId}"]`);
  await card.waitFor();
  return card;
}

function executionsOf(intentId: string): number {
  return executed.filter((a) => a.intent.intent_id === intentId).length;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install the Debian package chromium (.ci/run does), or set INTENTGATE_CHROMIUM`);
  }
  await mkdir(SHOTS, { recursive: true });
  await bus.registerSchemas();
  const s = stack();
  // Deadlines capped at 40 s: long enough to answer on the page, short enough to watch one pass.
  decision = await decisionWorker(bus, 'approvals', { approvalDeadlineCapSeconds: 40 });
  approvals = await approvalsService('web');
  ledger = await LedgerService.start({ trust: { roots: (await testTrust()).roots }, ...connection('provisioner'), dataDir: await mkdtemp(join(tmpdir(), 'ig-approvals-ledger-')), groupId: uniqueGroup('approvals-ledger'), logger: testLogger(),
    tokens: [{ name: 'audit', roles: ['auditor'], tokenSha256: ledgerToken.sha256 }] });
  executor = await ExecutorRuntime.start({
    ...connection('provisioner'), domain: 'infra', executorId: 'approvals-test',
    issuer: ['intentgate-decision', APPROVALS_ISSUER], trust: await serviceTrust('executor'), groupId: uniqueGroup('approvals-executor'), logger: testLogger(),
    handler: async (a) => {
      executed.push(a);
      return { detail: { deleted: a.intent.resource.id } };
    },
  });
  const watch = bus.consumer<'ExecutionResult' | 'Receipt'>({
    groupId: uniqueGroup('approvals-watch'), topics: ['executions', 'receipts'],
    handle: async (records) => {
      for (const r of records) {
        if (r.topic === 'executions') {
          const e = r.value as ExecutionResult;
          results.set(e.intent_id, [...(results.get(e.intent_id) ?? []), e]);
        } else {
          const rc = r.value as { kind: string; intent_id: string | null; body: Record<string, unknown> };
          if (rc.intent_id) receipts.set(rc.intent_id, [...(receipts.get(rc.intent_id) ?? []), rc]);
        }
      }
    },
  });
  await watch.start();
  stoppers.push(watch);
  agent = await AgentClient.connect({ ...connection('agent-platform'), trust: { roots: (await testTrust()).roots }, clientId: 'approvals-test-agent' });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser?.close();
  await agent?.close();
  await executor?.stop();
  await Promise.allSettled(stoppers.map((s) => s.stop()));
  await approvals?.stop();
  await ledger?.stop();
  await decision?.stop();
  await bus.close();
});

describe('reviewing on the page (headless Chromium)', () => {
  it('approved runs once, denied never runs, unanswered times out to a deny', async () => {
    const [late, approved, denied] = [intent(), intent(), intent()];
    for (const i of [late, approved, denied]) await submit(i);
    // Escalated (its request is pending review), and so not final: the agent's wait is a DECISION_TIMEOUT, nothing else.
    await pendingFor(approved.intent_id);
    await expect(agent.awaitDecision(approved.intent_id, 500)).rejects.toMatchObject({ code: 'DECISION_TIMEOUT' });

    const page = await browser.newPage();
    await signIn(page, 'bob');
    const card = await showRequest(page, approved.intent_id);
    await showRequest(page, denied.intent_id);
    // Everything a reviewer needs to judge: agent, chain, action, resource, sensitivity, why, deadline.
    await expect.poll(() => card.locator('.agent').textContent()).toBe(AGENT);
    expect(await card.locator('.chain li').count()).toBe(2);
    expect(await card.locator('.irreversible').textContent()).toBe('irreversible');
    expect(await card.locator('.sensitivity').textContent()).toBe('internal');
    // The autonomy decided on: the registry says assisted, the agent claims more (supervised), which only tightens.
    expect(await card.locator('.autonomy').textContent()).toBe('supervised');
    expect(await card.locator('.owner').textContent()).toBe('alice@example.org');
    expect(await card.locator('.environment').textContent()).toBe('staging');
    expect(await card.locator('.unlabelled').count()).toBe(0);
    expect(await card.locator('.reasons').textContent()).toContain('IRREVERSIBLE_IN_DOMAIN');
    expect(await card.locator('time[data-deadline]').getAttribute('data-deadline')).toMatch(/^\d{4}-/);
    await page.screenshot({ path: join(SHOTS, '1-pending.png'), fullPage: true });

    await card.locator('textarea[name=comment]').fill('old staging service, ticket OPS-42');
    await card.locator('button.approve').click();
    await page.waitForSelector('.flash.ok');
    expect(await page.locator('.flash').textContent()).toMatch(/final decision allow \(APPROVED_BY_REVIEW\)/);
    await page.screenshot({ path: join(SHOTS, '2-approved.png'), fullPage: true });

    const allow = await agent.awaitDecision(approved.intent_id, 30_000);
    expect(allow).toMatchObject({ verdict: 'allow', final: true, reasons: [{ code: 'APPROVED_BY_REVIEW' }], intent_digest: digestOf(approved) });
    await eventually(() => executionsOf(approved.intent_id) === 1, 'the approved intent to run');

    await page.locator(`section.request[data-intent="${denied.intent_id}"] button.deny`).click();
    await page.waitForSelector('.flash.ok');
    expect(await page.locator('.flash').textContent()).toMatch(/final decision deny \(APPROVAL_DENIED\)/);
    expect(await agent.awaitDecision(denied.intent_id, 30_000)).toMatchObject({ verdict: 'deny', final: true, reasons: [{ code: 'APPROVAL_DENIED' }] });

    // Nobody answers the first one: denied at its deadline, never an allow.
    const timedOut = await agent.awaitDecision(late.intent_id, 90_000);
    expect(timedOut).toMatchObject({ verdict: 'deny', final: true, reasons: [{ code: 'APPROVAL_TIMEOUT' }] });

    await page.goto(`${approvals.url}/history`);
    for (const [i, text] of [[approved, 'allow APPROVED_BY_REVIEW'], [denied, 'deny APPROVAL_DENIED'], [late, 'deny APPROVAL_TIMEOUT']] as const) {
      expect((await page.locator(`tr[data-intent="${i.intent_id}"] .outcome`).textContent())?.replace(/\s+/g, ' ').trim()).toBe(text);
    }
    expect(await page.locator(`tr[data-intent="${approved.intent_id}"]`).textContent()).toContain('old staging service, ticket OPS-42');
    await page.screenshot({ path: join(SHOTS, '3-history.png'), fullPage: true });

    // The approval receipt names the reviewer, the answer, its time and the digest seen.
    await eventually(() => (receipts.get(approved.intent_id) ?? []).some((r) => r.kind === 'approval'), 'the approval receipt');
    const receipt = receipts.get(approved.intent_id)!.find((r) => r.kind === 'approval')!;
    expect(receipt.body).toMatchObject({ outcome: 'approved', responses: [{ reviewer: 'bob', answer: 'approve', intent_digest: digestOf(approved), comment: 'old staging service, ticket OPS-42' }] });

    // Any past decision replays: one settled by review replays through the escalation it settled.
    let replay: { status: number; body: Record<string, unknown> } = { status: 0, body: {} };
    await eventually(() => replay.status === 200, 'the reviewed decision to replay from the ledger', 60_000, async () => {
      const res = await fetch(`${ledger.httpUrl}/v1/replay/${allow.decision_id}`, { headers: { authorization: `Bearer ${ledgerToken.token}` } });
      replay = { status: res.status, body: (await res.json()) as Record<string, unknown> };
    });
    expect(replay.body).toMatchObject({ decided_by: 'review', outcome: 'approved', identical: true, escalation: { identical: true } });

    await new Promise((r) => setTimeout(r, 1_500));
    expect(executionsOf(approved.intent_id)).toBe(1);
    expect(executionsOf(denied.intent_id)).toBe(0);
    expect(executionsOf(late.intent_id)).toBe(0);
    await page.close();
  });

  it('a script in a resource id is shown as text and never runs', async () => {
    const evil = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';
    const i = intent({ resourceId: evil });
    await submit(i);
    const page = await browser.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => void dialogs.push(d.message()));
    await signIn(page, 'carol');
    const card = await showRequest(page, i.intent_id);
    expect(await card.locator('h2 .resource').textContent()).toBe(evil);
    expect(await card.locator('script, img').count()).toBe(0);
    expect(await page.evaluate("typeof window.__pwned")).toBe("undefined");
    expect(dialogs).toEqual([]);
    await page.screenshot({ path: join(SHOTS, '4-script-as-text.png'), fullPage: true });
    await card.locator('button.deny').click();
    await page.waitForSelector('.flash.ok');
    await page.close();
  });

  it('an open page notices a new request without reloading (so a half-typed comment is not lost)', async () => {
    const page = await browser.newPage();
    await signIn(page, 'carol');
    const i = intent();
    await submit(i);
    await pendingFor(i.intent_id);
    await page.waitForSelector('#changed a', { timeout: 30_000 });
    await page.click('#changed a');
    await page.locator(`section.request[data-intent="${i.intent_id}"] button.deny`).click();
    await page.waitForSelector('.flash.ok');
    expect(await agent.awaitDecision(i.intent_id, 30_000)).toMatchObject({ verdict: 'deny', reasons: [{ code: 'APPROVAL_DENIED' }] });
    await page.close();
  });

  it('a wrong password is refused, and repeated failures are rate limited', async () => {
    const page = await browser.newPage();
    for (let k = 0; k < 5; k++) {
      await page.goto(`${approvals.url}/login`);
      await page.fill('input[name=reviewer]', 'alice');
      await page.fill('input[name=password]', 'not-her-password');
      await page.click('button[type=submit]');
      expect(await page.locator('.flash.error').textContent()).toBe('Unknown reviewer or wrong password.');
    }
    await page.goto(`${approvals.url}/login`);
    await page.fill('input[name=reviewer]', 'alice');
    await page.fill('input[name=password]', 'alice-secret'); // right, but too late
    await page.click('button[type=submit]');
    expect(await page.locator('.flash.error').textContent()).toMatch(/Too many failed sign-ins/);
    await page.close();
    // A form posted without the page's CSRF token is refused.
    const forged = await fetch(`${approvals.url}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'reviewer=bob&password=bob-secret&csrf=x' });
    expect(forged.status).toBe(403);
    expect(await forged.json()).toMatchObject({ code: 'CSRF_REJECTED' });
  });
});

describe('an approval is bound to one intent, once', () => {
  it('an answer about a modified intent is refused; the approval cannot run a changed intent or run twice', async () => {
    const i = intent();
    await submit(i);
    await pendingFor(i.intent_id);
    const changed: Intent = { ...i, resource: { ...i.resource, id: 'payments-staging' } };
    await expect(api('bob').answer(i.intent_id, 'approve', { intentDigest: digestOf(changed) })).rejects.toMatchObject({ code: 'APPROVAL_DIGEST_MISMATCH' });
    const answered = await api('bob').answer(i.intent_id, 'approve');
    expect(answered.status).toBe('settled');
    const allow = await agent.awaitDecision(i.intent_id, 30_000);
    await eventually(() => executionsOf(i.intent_id) === 1, 'the approved intent to run');

    // Replaying the approval: the same warrant on a changed intent, and on the same intent again.
    const producer = bus.producer();
    await producer.send({ topic: 'intents.approved.infra', key: i.intent_id, value: { intent: changed, decision: allow, warrant: allow.warrant } });
    await producer.send({ topic: 'intents.approved.infra', key: i.intent_id, value: { intent: i, decision: allow, warrant: allow.warrant } });
    await eventually(() => (results.get(i.intent_id) ?? []).length >= 3, 'the executor to report both replays');
    const refusals = results.get(i.intent_id)!.filter((r) => r.status === 'refused').map((r) => r.reason?.code);
    expect(refusals.sort()).toEqual(['WARRANT_DIGEST_MISMATCH', 'WARRANT_REUSED']);
    expect(executionsOf(i.intent_id)).toBe(1);
    expect(executed.some((a) => a.intent.resource.id === 'payments-staging')).toBe(false);
    // And the settled request takes no further answers.
    await expect(api('carol').answer(i.intent_id, 'approve')).rejects.toMatchObject({ code: 'APPROVAL_NOT_PENDING' });
  });

  it('separation of duties: the human who started the chain cannot approve it', async () => {
    const i = intent({ origin: 'alice@example.org' });
    await submit(i);
    await pendingFor(i.intent_id);
    const err = await api('alice').answer(i.intent_id, 'approve').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApprovalsApiError);
    expect(err).toMatchObject({ code: 'SEPARATION_OF_DUTIES', status: 409 });
    expect((await api('carol').answer(i.intent_id, 'approve')).status).toBe('settled');
    expect(await agent.awaitDecision(i.intent_id, 30_000)).toMatchObject({ verdict: 'allow', obligations: { approved_by: ['carol'] } });
    await eventually(() => executionsOf(i.intent_id) === 1, 'the approved intent to run');
  });
});

describe('headless review (intentgate approvals)', () => {
  it('lists the request and approves it for the digest it printed; the executor runs it once', async () => {
    const { main } = await import('@intentgate/cli');
    const i = intent();
    await submit(i);
    await pendingFor(i.intent_id);
    const lines: string[] = [];
    const cli = (...args: string[]) => main(['approvals', ...args, '--approvals', approvals.url, '--token', 'token-carol'], (l) => void lines.push(l), (l) => void lines.push(l));
    expect(await cli('list')).toBe(0);
    expect(lines.join('\n')).toContain(i.resource.id);
    expect(await cli('approve', i.intent_id, '--comment', 'from the terminal')).toBe(0);
    expect(lines.join('\n')).toMatch(new RegExp(`approving infra.delete on service ${i.resource.id} \\(intent ${i.intent_id}, digest ${digestOf(i).slice(0, 16)}…\\)`));
    expect(lines.join('\n')).toMatch(/settled: allow \(APPROVED_BY_REVIEW\)/);
    await eventually(() => executionsOf(i.intent_id) === 1, 'the intent approved from the terminal to run');
    lines.length = 0;
    expect(await main(['approvals', 'approve', i.intent_id, '--approvals', approvals.url, '--token', 'wrong'], (l) => void lines.push(l), (l) => void lines.push(l))).toBe(2);
    expect(lines.join('\n')).toMatch(/error UNAUTHENTICATED/);
  });
});

describe('restarts', () => {
  it('the approvals service restarted with requests pending loses none, including those sent while it was down', async () => {
    const before = [intent(), intent(), intent()];
    for (const i of before) await submit(i);
    for (const i of before) await pendingFor(i.intent_id);
    const { dataDir, groupId } = { dataDir: approvals.dataDir, groupId: approvals.groupId };
    await approvals.stop();
    const during = [intent(), intent()];
    for (const i of during) await submit(i);
    await new Promise((r) => setTimeout(r, 2_000)); // escalated while nobody listens
    approvals = await approvalsService('web', { dataDir, groupId });
    for (const i of [...before, ...during]) await pendingFor(i.intent_id);
    expect(approvals.pending().filter((p) => [...before, ...during].some((i) => i.intent_id === p.request.intent_id))).toHaveLength(5);
    // Still answerable, with the same key: the approved one runs.
    expect((await api('bob').answer(during[0]!.intent_id, 'approve')).status).toBe('settled');
    await eventually(() => executionsOf(during[0]!.intent_id) === 1, 'the intent approved after the restart to run');
    for (const i of [...before, during[1]!]) await api('bob').answer(i.intent_id, 'deny');
  });
});

describe('crash', () => {
  it('the approvals service SIGKILLed while settling and restarted: nothing pending is lost, nothing runs twice', async () => {
    const s = stack();
    const dir = await mkdtemp(join(tmpdir(), 'ig-approvals-crash-'));
    const reviewersFile = join(dir, 'reviewers.json');
    await writeFile(reviewersFile, JSON.stringify({ reviewers: [{ id: 'bob', name: 'Bob', principals: ['bob@example.org'], token_sha256: tokenDigest('token-bob') }] }));
    const env = {
      ...process.env, ...roleEnv('provisioner'),
      APPROVALS_REVIEWERS_FILE: reviewersFile, APPROVALS_DATA_DIR: join(dir, 'data'), APPROVALS_GROUP: uniqueGroup('approvals-crash'),
      APPROVALS_START_AT: 'latest', LOG_LEVEL: 'info',
      // One signer file for both runs: a settlement published again after the crash is signed by the same key.
      INTENTGATE_TRUST_FILE: (await testTrust()).paths.trustFile, INTENTGATE_SIGNER_FILE: (await serviceTrust('approvals')).signerFile,
    };
    const main = join(projectRoot, 'services', 'approvals', 'src', 'main.ts');
    const launch = () => {
      const child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', main], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      stoppers.push({ stop: async () => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')) });
      let out = '';
      const url = new Promise<string>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*"msg":"approvals service ready"/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
        child.on('exit', (code) => reject(new Error(`approvals service exited ${code}: ${out.slice(-2000)}`)));
      });
      return { child, url, log: () => out };
    };
    const pendingIn = async (c: ApprovalsClient, ids: string[]) => {
      let seen: string[] = [];
      await eventually(() => ids.every((id) => seen.includes(id)), 'the requests in the restarted service', 60_000, async () => {
        seen = (await c.pending()).map((p) => p.request.intent_id);
      }).catch((err: Error) => {
        throw new Error(`${err.message}; missing ${ids.filter((id) => !seen.includes(id)).join(', ')}`);
      });
    };

    const first = launch();
    const c1 = new ApprovalsClient(await first.url, 'token-bob');
    const before = [intent(), intent(), intent()];
    for (const i of before) await submit(i);
    await pendingIn(c1, before.map((i) => i.intent_id));
    // Killed while an approval is being settled (stored, signing, publishing: wherever it is).
    const inFlight = c1.answer(before[0]!.intent_id, 'approve').catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 30));
    first.child.kill('SIGKILL');
    await inFlight;
    const during = [intent(), intent()];
    for (const i of during) await submit(i);
    await new Promise((r) => setTimeout(r, 1_500));

    const second = launch();
    const c2 = new ApprovalsClient(await second.url, 'token-bob');
    const crashed = await c2.get(before[0]!.intent_id);
    await pendingIn(c2, [...before.slice(1), ...during].map((i) => i.intent_id)).catch((err: Error) => {
      throw new Error(`${err.message}\nrestarted service log:\n${second.log().slice(-4000)}`);
    });
    // The one in flight either settled (and its records were published, now or after the restart) or is still open.
    // An answer stored before the kill settled on restart; one that never got stored can be given again.
    expect(crashed.status === 'final' || (crashed.status === 'pending' && crashed.responses.length === 0)).toBe(true);
    if (crashed.status === 'pending') expect((await c2.answer(before[0]!.intent_id, 'approve')).status).toBe('settled');
    for (const i of [before[1]!, during[0]!]) expect((await c2.answer(i.intent_id, 'approve')).status).toBe('settled');
    for (const i of [before[2]!, during[1]!]) expect((await c2.answer(i.intent_id, 'deny')).status).toBe('settled');
    const approved = [before[0]!, before[1]!, during[0]!];
    for (const i of approved) await eventually(() => executionsOf(i.intent_id) === 1, `approved intent ${i.intent_id} to run`);
    await new Promise((r) => setTimeout(r, 1_500));
    for (const i of approved) expect(executionsOf(i.intent_id), 'runs once').toBe(1);
    for (const i of [before[2]!, during[1]!]) expect(executionsOf(i.intent_id)).toBe(0);
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
    expect(second.child.exitCode).toBe(0);
    await rm(dir, { recursive: true, force: true });
  });
});

describe('quorum', () => {
  it('two approvals needed: one is recorded, the second settles it', async () => {
    await decision.stop();
    decision = await decisionWorker(bus, 'approvals-quorum', {
      approvalDeadlineCapSeconds: 60,
      bundle: await variantBundle((d) => {
        (d.approval as Record<string, unknown>).quorum = { infra: 2, data: 1, app: 1, ai: 1 };
      }),
    });
    const i = intent();
    await submit(i);
    const id = await pendingFor(i.intent_id);
    expect(approvals.pending().find((p) => p.request.decision_id === id)?.request.quorum).toBe(2);
    expect((await api('bob').answer(id, 'approve')).status).toBe('recorded');
    await expect(agent.awaitDecision(i.intent_id, 1_000)).rejects.toMatchObject({ code: 'DECISION_TIMEOUT' });
    const settled = await api('carol').answer(id, 'approve');
    expect(settled).toMatchObject({ status: 'settled', decision: { verdict: 'allow', obligations: { approved_by: ['bob', 'carol'] } } });
    const final: Decision = await agent.awaitDecision(i.intent_id, 30_000);
    expect(final.verdict).toBe('allow');
    await eventually(() => executionsOf(i.intent_id) === 1, 'the quorum-approved intent to run');
  });
});
