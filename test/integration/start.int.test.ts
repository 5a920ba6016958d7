// `npm start`'s script, run as a user would: it comes up, writes stack.json, and Ctrl-C (or a
// hard kill, via the reaper) leaves no process behind.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { projectRoot, type StackFile } from '@intentgate/infra';
import { eventually, stack } from '@intentgate/test';

const START = join(projectRoot, 'infra', 'bin', 'start.ts');
const running: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
}

function startScript(env: NodeJS.ProcessEnv) {
  const stateDir = mkdtempSync(join(tmpdir(), 'intentgate-state-'));
  dirs.push(stateDir);
  const child = spawn(process.execPath, ["--disable-warning=TimeoutNegativeWarning", START], { env: { ...env, INTENTGATE_STATE_DIR: stateDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => output,
    stackFile: join(stateDir, 'stack.json'),
    up: () => eventually(() => output.includes('Press Ctrl-C') || child.exitCode !== null, 'the stack to come up', 300_000).then(
      () => {
        if (child.exitCode !== null) throw new Error(`start exited ${child.exitCode}:\n${output}`);
      },
      // A timeout says where start stood: its output so far, and its services' log when it got that far.
      (err: unknown) => {
        const services = join(stateDir, 'logs', 'services.log');
        const log = existsSync(services) ? readFileSync(services, 'utf8').split('\n').slice(-40).join('\n') : '(no services log yet)';
        throw new Error(`${(err as Error).message}\n--- npm start printed:\n${output}\n--- last lines of ${services}:\n${log}`);
      },
    ),
  };
}

function withoutStackEnv(): NodeJS.ProcessEnv {
  const { KAFKA_BROKERS: _k, SCHEMA_REGISTRY_URL: _s, REDIS_URL: _r, ...env } = process.env;
  return { ...env, INTENTGATE_CONTAINERS: 'never' };
}

// The whole system starts in a child process here: the ceiling matches up()'s own wait, so a
// loaded machine waits instead of failing.
describe('npm start', { timeout: 360_000 }, () => {
  it('uses the servers given by the environment, provisions them, and stops on Ctrl-C', async () => {
    const s = stack();
    const run = startScript({
      ...process.env,
      KAFKA_BROKERS: s.kafka.brokers.join(','),
      SCHEMA_REGISTRY_URL: s.schemaRegistry.url,
      REDIS_URL: s.redis.url,
      // The role files of the test stack: npm start provisions as its provisioner and runs as its roles.
      ...(s.credentialsDir ? { INTENTGATE_CREDENTIALS_DIR: s.credentialsDir } : {}),
      // Servers, topics and schemas only: a second decision worker must not join the tests' stack.
      INTENTGATE_SERVICES: 'off',
    });
    await run.up();
    const file = JSON.parse(readFileSync(run.stackFile, 'utf8')) as StackFile;
    expect(file.kafka).toMatchObject({ source: 'env', brokers: s.kafka.brokers });
    expect(file.schemaRegistry).toMatchObject({ source: 'env', url: s.schemaRegistry.url });
    expect(file.redis).toMatchObject({ source: 'env', url: s.redis.url });
    expect(run.output()).toMatch(/topics\s+19 ready \(0 created\)/);
    expect(run.output()).toMatch(/schemas\s+19 subjects registered/);
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    expect(existsSync(run.stackFile)).toBe(false);
  });

  it('brings up a local stack, runs the demo (denied actions leave no side effect), and Ctrl-C leaves no process behind', async () => {
    const run = startScript(withoutStackEnv());
    await run.up();
    const out = run.output();
    expect(out).toMatch(/policy\s+local-[0-9a-f]{12} \(sha256 [0-9a-f]{64}\) active/);
    expect(out).toMatch(/export 200 confidential rows\s+data\s+data\.export\s+allow\s+ALL_GUARDS_PASSED\s+executed\s+exports\/.*\.csv written/);
    expect(out).toMatch(/export 5000 confidential rows\s+data\s+data\.export\s+deny\s+EXPORT_BUDGET_EXCEEDED\s+not executed\s+no export file/);
    expect(out).toMatch(/create an order \(research step\)\s+app\s+http\.post\s+deny\s+METHOD_NOT_PERMITTED\s+not executed\s+no order/);
    // One escalation approved by the local reviewer (through the reviewers' API), one left to time out.
    expect(out).toMatch(/delete old staging service, approved\s+infra\s+infra\.delete\s+allow\s+APPROVED_BY_REVIEW\s+executed\s+checkout-staging-old\.json deleted/);
    expect(out).toMatch(/delete payments staging, unanswered\s+infra\s+infra\.delete\s+deny\s+APPROVAL_TIMEOUT\s+not executed\s+payments-staging\.json untouched/);
    expect(out).toMatch(/approvals\s+http:\/\/127\.0\.0\.1:\d+\s+\(reviewer page: sign in as reviewer \/ \S+;/);
    expect(out).toMatch(/MCP write_note\s+ai\s+mcp\.tool\.call\s+allow\s+ALL_GUARDS_PASSED\s+executed\s+note saved/);
    expect(out).toMatch(/tools\/call demo_write_note → ok: note \d+ saved/);
    expect(out).toMatch(/tools\/call demo_delete_all_notes → error: denied by IntentGate: TOOL_NOT_ALLOWED \(decision [0-9a-f-]{36}\)/);
    expect(out).toMatch(/delete invoices, asked by a tool output\s+data\s+data\.delete\s+deny\s+TAINTED_SOURCE\s+not executed\s+(\d+) of \1 rows remain/);
    // The two lies: a delete called reversible (the action catalog says otherwise), another agent's id (the SVID says whose).
    expect(out).toMatch(/LIE: delete invoices "reversible", asked by a tool output\s+data\s+data\.delete\s+deny\s+TAINTED_SOURCE \+ REVERSIBLE_CLAIM_OVERRULED\s+not executed\s+(\d+) of \1 rows remain/);
    expect(out).toMatch(/LIE: claims to be payroll-bot, exports invoices\s+data\s+data\.export\s+deny\s+SUBJECT_MISMATCH\s+not executed\s+no export file/);
    expect(out).toMatch(/identity\s+required: the decision worker verifies each intent's JWT-SVID and delegation tokens \(local trust domain demo\.intentgate\.local/);
    // The trust roots: where the keys live, and the demo's forgeries, each refused by the service that reads it.
    expect(out).toMatch(/trust\s+\S*trust\/trust\.json \(roots every service is configured with\); private keys beside it: root \S+root\.jwk/);
    expect(out).toMatch(/agent platform writes warrant\.keys\s+-\s+produce\s+none made\s+broker NOT_AUTHORIZED\s+not executed\s+no key published/);
    expect(out).toMatch(/forged warrant key \+ "approved" delete\s+data\s+data\.delete\s+none made\s+key KEY_CERT_BAD_SIGNATURE\s+refused \(WARRANT_UNKNOWN_KEY\)\s+(\d+) of \1 rows remain/);
    expect(out).toMatch(/allow-all bundle \+ forged activation\s+ai\s+mcp\.tool\.call\s+deny\s+TOOL_NOT_ALLOWED \(BUNDLE_UNSIGNED, ACTIVATION_SIGNATURE_INVALID\)\s+not executed\s+decided under local-[0-9a-f]{12}/);
    const trustDir = join(dirname(run.stackFile), 'trust');
    for (const key of ['root.jwk', 'operator.jwk', 'policy-publisher.pem', 'signers/decision.json']) {
      expect(statSync(join(trustDir, key)).mode & 0o077, `${key} is private`).toBe(0);
    }
    const file = JSON.parse(readFileSync(run.stackFile, 'utf8')) as StackFile;
    // Headless review against the running stack: the CLI finds the approvals service and the local reviewer's token.
    const cli = spawnSync(process.execPath, ['--disable-warning=TimeoutNegativeWarning', join(projectRoot, 'packages', 'cli', 'bin', 'intentgate.ts'), 'approvals', 'list'],
      { env: { ...process.env, INTENTGATE_STATE_DIR: dirname(run.stackFile) }, encoding: 'utf8' });
    expect(cli.stdout + cli.stderr).toContain('nothing is waiting for review');
    expect(cli.status).toBe(0);
    // The ledger and the MCP gateway answer only with a token; npm start made the local ones (0600)
    // and says where they are; the CLI finds the ledger's for the stack's own ledger.
    const state = dirname(run.stackFile);
    expect(out).toContain(`API token (auditor, operator): ${join(state, 'ledger-token')}`);
    expect(out).toContain(`bearer token for the demo agent: ${join(state, 'mcp-token')}`);
    for (const secret of ['ledger-token', 'mcp-token']) expect(statSync(join(state, secret)).mode & 0o777, secret).toBe(0o600);
    expect(readFileSync(join(state, 'ledger-tokens.json'), 'utf8')).not.toContain(readFileSync(join(state, 'ledger-token'), 'utf8').trim());
    expect((await fetch(`${file.ledgerUrl}/v1/export`)).status).toBe(401);
    expect((await fetch(`${file.ledgerUrl}/v1/key`)).status).toBe(200);
    expect((await fetch(file.mcpGatewayUrl!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(401);
    const verify = spawnSync(process.execPath, ['--disable-warning=TimeoutNegativeWarning', join(projectRoot, 'packages', 'cli', 'bin', 'intentgate.ts'), 'verify', file.ledgerUrl!],
      { env: { ...process.env, INTENTGATE_STATE_DIR: state, INTENTGATE_LEDGER_TOKEN: '' }, encoding: 'utf8' });
    expect(verify.stdout + verify.stderr).toMatch(/ok {4}intentgate\/receipts\/0: \d+ entries/);
    expect(verify.status).toBe(0);
    const pids = [file.kafka.pid, file.schemaRegistry.pid, file.redis.pid];
    expect(pids.every((p) => typeof p === 'number')).toBe(true);
    for (const pid of pids) expect(alive(pid!), `pid ${pid} runs`).toBe(true);
    expect(file.kafka.source).toBe('local');
    expect(run.output()).toMatch(/kafka\s+local\s+127\.0\.0\.1:\d+\s+3\.9\.1/);

    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    for (const pid of pids) expect(alive(pid!), `pid ${pid} is gone`).toBe(false);
    expect(existsSync(run.stackFile)).toBe(false);
  });

  it('a hard kill of npm start is cleaned up by the reaper', async () => {
    const run = startScript(withoutStackEnv());
    await run.up();
    const file = JSON.parse(readFileSync(run.stackFile, 'utf8')) as StackFile;
    const pids = [file.kafka.pid!, file.schemaRegistry.pid!, file.redis.pid!];
    run.child.kill('SIGKILL');
    await run.exited;
    await eventually(() => pids.every((p) => !alive(p)), 'the reaper to stop the orphaned servers', 60_000);
  });
});
