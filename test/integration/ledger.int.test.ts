// The ledger on the real stack: 1,000 decisions across two policy versions land in per-partition
// Merkle logs, are provable (inclusion and consistency against signed checkpoints), replay
// identically under the version that made each, and a rebuild from the topic gives the same roots.
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Checkpoint, Decision, Intent } from '@intentgate/contracts';
import { exampleIntent } from '@intentgate/contracts/examples';
import { ContextStore } from '@intentgate/context';
import { DecisionService } from '@intentgate/decision';
import { newBearerToken, parseVerifierKey, verifyCheckpoint, verifyConsistency, verifyInclusion, verifyLogDirectory, receiptLeafHash } from '@intentgate/evidence';
import { projectRoot } from '@intentgate/infra';
import { LedgerService, originOf, type LedgerToken } from '@intentgate/ledger';
import { replayDecision, type BuiltBundle, type EngineCache } from '@intentgate/policy';
import { activate, connection, eventually, freshContext, labelResources, publishSigningKey, roleEnv, serviceTrust, stack, starterBundle, testBus, testLogger, testTrust, uniqueGroup, variantBundle } from '@intentgate/test';

const AGENT = 'spiffe://example.org/agents/ledger-load';
const bus = testBus();
const dirs: string[] = [];
const stoppers: Array<() => Promise<unknown>> = [];
let ledger: LedgerService;
const ledgerGroup = uniqueGroup('ledger');
let v1: BuiltBundle;
let v2: BuiltBundle;
const decided = new Map<string, Decision>();
// The ledger's API tokens: an auditor's and an operator's (the ledger keeps only their digests).
const auditor = newBearerToken('igl');
const operator = newBearerToken('igl');
const tokens: LedgerToken[] = [
  { name: 'audit', roles: ['auditor'], tokenSha256: auditor.sha256 },
  { name: 'ops', roles: ['operator'], tokenSha256: operator.sha256 },
];

function intent(i: number): Intent {
  const base = exampleIntent();
  return {
    ...base,
    subject: { type: 'agent', id: AGENT, properties: { autonomy: 'supervised' } },
    delegation: [{ principal: 'alice@example.org', kind: 'human', scope: ['*'] }, { principal: AGENT, kind: 'agent', scope: ['data:*'] }],
    session: { id: `ledger-${randomUUID().slice(0, 8)}`, workflow_step: 'reconcile', request_source: 'user' },
    // A mix: queries allow, big exports deny, irreversible deletes escalate.
    action: i % 3 === 0 ? { name: 'data.query', domain: 'data', reversible: true } : i % 3 === 1 ? { name: 'data.export', domain: 'data', reversible: false } : { name: 'data.delete', domain: 'data', reversible: false },
    resource: { type: 'table', id: 'ledger.table', properties: { sensitivity: 'confidential' } },
    context: i % 3 === 0 ? {} : { rows: 5_000 },
  };
}

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ig-ledger-'));
  dirs.push(d);
  return d;
}

beforeAll(async () => {
  const s = stack();
  v1 = await starterBundle('v1');
  v2 = await variantBundle((data) => (data.approval.deadline_seconds = 120), 'v2');

  // Its agent registered and its table labelled, as the context feeder does: the file stands alone.
  await freshContext();
  await labelResources([{ type: 'table', id: 'ledger.table', sensitivity: 'confidential' }]);
  ledger = await LedgerService.start({
    trust: { roots: (await testTrust()).roots },
    ...connection('provisioner'), dataDir: await tempDir(), groupId: ledgerGroup,
    checkpointEvery: 100, checkpointIntervalMs: 500, logger: testLogger(), tokens,
  });
  stoppers.push(() => ledger.stop());

  const tenant = `ledger-${randomUUID().slice(0, 8)}`;
  await activate(bus, v1, { version: '1', tenant, by: 'test' });
  const service = await DecisionService.start({
    identity: 'off', // not what this exercises; each start records the mode change
    trust: await serviceTrust('decision'),
    ...connection('provisioner'), tenant, groupId: uniqueGroup('ledger-decision'), contextFreshnessMs: 600_000, logger: testLogger(),
  });
  stoppers.push(() => service.stop());
  const watcher = bus.consumer<'Decision'>({
    groupId: uniqueGroup('ledger-watch'), topics: ['decisions'],
    handle: async (records) => {
      for (const r of records) if (r.key?.startsWith('ledger-')) decided.set(r.value.intent_id, r.value);
    },
  });
  await watcher.start();
  stoppers.push(() => watcher.stop());
  const producer = bus.producer();
  const intents = Array.from({ length: 1_000 }, (_, i) => intent(i));
  for (let i = 0; i < intents.length; i += 50) {
    if (i === 500) {
      // v2 mid-run: wait for the first half to be decided so the split is clean to check.
      await eventually(() => intents.slice(0, 500).every((x) => decided.has(x.intent_id)), 'the first 500 decisions', 120_000);
      await activate(bus, v2, { version: '2', tenant, by: 'test' });
      await eventually(() => service.active.current !== null && 'ref' in service.active.current && service.active.current.ref.bundle_digest === v2.digest, 'v2 active', 60_000);
    }
    await producer.sendMany(intents.slice(i, i + 50).map((value) => ({ topic: 'intents', key: value.session.id, value })));
  }
  await eventually(() => intents.every((x) => decided.has(x.intent_id)), 'all 1,000 decisions', 180_000);
}, 600_000);

afterAll(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => {});
  await bus.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function get<T>(path: string, token: string | null = auditor.token): Promise<{ status: number; body: T; challenge: string | null }> {
  const res = await fetch(`${ledger.httpUrl}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: (await res.json()) as T, challenge: res.headers.get('www-authenticate') };
}

describe('ledger', () => {
  it('1,000 decisions across two policy versions all replay identically, each under the version that made it', async () => {
    const all = [...decided.values()];
    expect(all).toHaveLength(1_000);
    // The mix the intents are built for, so a replay covers every verdict (not 1,000 denies of an unknown agent).
    const verdicts = (v: string, code: string) => all.filter((d) => d.verdict === v && d.reasons.some((r) => r.code === code)).length;
    expect([verdicts('allow', 'ALL_GUARDS_PASSED'), verdicts('deny', 'EXPORT_BUDGET_EXCEEDED'), verdicts('escalate', 'IRREVERSIBLE_HIGH_IMPACT')]).toEqual([334, 333, 333]);
    const byVersion = (d: string) => all.filter((x) => x.policy?.bundle_digest === d).length;
    expect(byVersion(v1.digest)).toBe(500);
    expect(byVersion(v2.digest)).toBe(500);
    // Offline, from the ledger's own files: every decision receipt replays bit for bit.
    await eventually(() => [...ledger.logs.values()].reduce((n, l) => n + l.size, 0) >= 1_000, 'the ledger to hold the receipts', 120_000);
    const cache: EngineCache = new Map();
    const bundles = new Map([[v1.digest, v1.bytes], [v2.digest, v2.bytes]]);
    let replayed = 0;
    for (const log of ledger.logs.values()) {
      for (let i = 0; i < log.size; i++) {
        const { receipt } = await log.entry(i);
        const body = receipt.body as { decision?: Decision; input?: unknown };
        if (receipt.kind !== 'decision' || !body.decision || !decided.has(body.decision.intent_id) || body.decision.policy === null) continue;
        const result = await replayDecision({ decision: body.decision, input: body.input }, bundles.get(body.decision.policy.bundle_digest)!, cache);
        expect(result.differences, body.decision.decision_id).toEqual([]);
        replayed++;
      }
    }
    expect(replayed).toBe(1_000);
    // And through the ledger's HTTP API, which finds the bundle by digest itself.
    for (const d of all.slice(0, 5).concat(all.slice(-5))) {
      const { status, body } = await get<{ identical: boolean }>(`/v1/replay/${d.decision_id}`);
      expect(status).toBe(200);
      expect(body.identical).toBe(true);
    }
  });

  it('a receipt comes with an inclusion proof that verifies offline against a signed checkpoint', async () => {
    await ledger.checkpointAll(false);
    const vkey = parseVerifierKey((await get<{ verifier_key: string }>('/v1/key')).body.verifier_key);
    const log = [...ledger.logs.values()].find((l) => l.size > 10)!;
    const { receipt } = await log.entry(7);
    const { status, body } = await get<{ index: number; tree_size: number; leaf_hash: string; inclusion_proof: string[]; checkpoint: Checkpoint }>(`/v1/receipts/${receipt.receipt_id}`);
    expect(status).toBe(200);
    const signed = verifyCheckpoint(body.checkpoint, [vkey]);
    expect(body.leaf_hash).toBe(receiptLeafHash(receipt).toString('hex'));
    expect(verifyInclusion(body.index, signed.treeSize, Buffer.from(body.leaf_hash, 'hex'), body.inclusion_proof.map((h) => Buffer.from(h, 'hex')), signed.rootHash)).toBe(true);
    expect((await get<{ code: string }>(`/v1/receipts/${randomUUID()}`)).body.code).toBe('RECEIPT_NOT_FOUND');
    // By default, at the latest checkpoint.
    expect(body.tree_size).toBe(log.checkpoints.at(-1)!.tree_size);
  });

  it('a receipt is proved against a checkpoint the auditor already holds (any tree size that includes it); other sizes are 400 with a code', async () => {
    await ledger.checkpointAll(false);
    const vkey = parseVerifierKey(ledger.verifierKey);
    const log = [...ledger.logs.values()].find((l) => l.checkpoints.length >= 2)!;
    const held = log.checkpoints[0]!; // the auditor's older checkpoint
    const { receipt } = await log.entry(0);
    const { status, body } = await get<{ index: number; tree_size: number; leaf_hash: string; inclusion_proof: string[]; checkpoint: Checkpoint | null }>(`/v1/receipts/${receipt.receipt_id}?tree_size=${held.tree_size}`);
    expect(status).toBe(200);
    expect(body.tree_size).toBe(held.tree_size);
    expect(body.checkpoint).toEqual(held);
    const signed = verifyCheckpoint(held, [vkey]);
    expect(verifyInclusion(body.index, signed.treeSize, Buffer.from(body.leaf_hash, 'hex'), body.inclusion_proof.map((h) => Buffer.from(h, 'hex')), signed.rootHash)).toBe(true);
    // The same proof does not hold against the newer root: each size has its own.
    const latest = verifyCheckpoint(log.checkpoints.at(-1)!, [vkey]);
    expect(verifyInclusion(body.index, latest.treeSize, Buffer.from(body.leaf_hash, 'hex'), body.inclusion_proof.map((h) => Buffer.from(h, 'hex')), latest.rootHash)).toBe(false);
    for (const bad of ['0', String(log.size + 1), 'abc', '-1', '3.5']) {
      expect(await get<{ code: string }>(`/v1/receipts/${receipt.receipt_id}?tree_size=${bad}`), bad).toMatchObject({ status: 400, body: { code: 'BAD_TREE_SIZE' } });
    }
  });

  it('consistency proofs between checkpoints verify; bad ranges are JSON errors with a code', async () => {
    const [partition, log] = [...ledger.logs.entries()].find(([, l]) => l.checkpoints.length >= 2)!;
    const [a, b] = [log.checkpoints[0]!, log.checkpoints.at(-1)!];
    const { body } = await get<{ proof: string[] }>(`/v1/logs/${partition}/consistency?from=${a.tree_size}&to=${b.tree_size}`);
    expect(verifyConsistency(a.tree_size, b.tree_size, body.proof.map((h) => Buffer.from(h, 'hex')), Buffer.from(a.root_hash, 'hex'), Buffer.from(b.root_hash, 'hex'))).toBe(true);
    const bad = await get<{ code: string }>(`/v1/logs/${partition}/consistency?from=10&to=5`);
    expect(bad).toMatchObject({ status: 400, body: { code: 'BAD_RANGE' } });
    // Both ends are required: no end is taken as 0 or as the log's size.
    for (const query of ['', `?from=${a.tree_size}`, `?to=${b.tree_size}`]) {
      expect(await get<{ code: string }>(`/v1/logs/${partition}/consistency${query}`), query).toMatchObject({ status: 400, body: { code: 'RANGE_REQUIRED' } });
    }
    expect(await get<{ code: string }>(`/v1/logs/${partition}/consistency?from=x&to=${b.tree_size}`)).toMatchObject({ status: 400, body: { code: 'BAD_RANGE' } });
  });

  it('the ledger directories verify offline, and a rebuild from the topic gives the same roots', async () => {
    await ledger.checkpointAll(false);
    const vkey = parseVerifierKey(ledger.verifierKey);
    for (const [p, log] of ledger.logs) {
      expect(await verifyLogDirectory(log.dir, originOf(p), [vkey]), `log ${p}`).toMatchObject({ ok: true, entries: log.size });
    }
    const s = stack();
    const rebuilt = await LedgerService.start({ trust: { roots: (await testTrust()).roots }, ...connection('provisioner'), dataDir: await tempDir(), groupId: uniqueGroup('rebuild'), logger: testLogger() });
    stoppers.push(() => rebuilt.stop());
    const sizes = new Map([...ledger.logs].map(([p, l]) => [p, l.size]));
    await eventually(() => [...rebuilt.logs].every(([p, l]) => l.size >= sizes.get(p)!), 'the rebuild to catch up', 120_000);
    for (const [p, size] of sizes) expect(rebuilt.logs.get(p)!.root(size).toString('hex'), `log ${p}`).toBe(ledger.logs.get(p)!.root(size).toString('hex'));
  });
});

describe('ledger API access', () => {
  it('listens on loopback; health, the verifier key, checkpoints and consistency proofs are public', async () => {
    expect(ledger.httpUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await get('/healthz', null)).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await get('/readyz', null)).toMatchObject({ status: 200, body: { status: 'ready' } });
    expect(await get('/v1/key', null)).toMatchObject({ status: 200, body: { verifier_key: ledger.verifierKey } });
    const latest = await get<Checkpoint[]>('/v1/checkpoints/latest', null);
    expect(latest.status).toBe(200);
    expect(latest.body.length).toBeGreaterThan(0);
    const [partition, log] = [...ledger.logs.entries()].find(([, l]) => l.size > 0)!;
    expect((await get(`/v1/logs/${partition}/consistency?from=0&to=${log.size}`, null)).status).toBe(200);
  });

  it('receipts, replays and the export refuse a missing or unknown token with 401 and a Bearer challenge', async () => {
    const log = [...ledger.logs.values()].find((l) => l.size > 0)!;
    const { receipt } = await log.entry(0);
    const decisionId = [...decided.values()][0]!.decision_id;
    for (const path of ['/v1/export', `/v1/receipts/${receipt.receipt_id}`, `/v1/replay/${decisionId}`]) {
      const missing = await get<{ code: string; message: string; hint: string }>(path, null);
      expect(missing, path).toMatchObject({ status: 401, body: { code: 'UNAUTHENTICATED', message: 'this route needs a ledger API token' }, challenge: 'Bearer realm="intentgate-ledger"' });
      expect(missing.body.hint, path).toMatch(/Authorization: Bearer/);
      const unknown = await get(path, newBearerToken('igl').token);
      expect(unknown, path).toMatchObject({ status: 401, body: { code: 'UNAUTHENTICATED', message: 'unknown ledger API token' }, challenge: 'Bearer realm="intentgate-ledger", error="invalid_token"' });
    }
    // The digest the ledger keeps is not itself a credential.
    expect((await get('/v1/export', auditor.sha256)).status).toBe(401);
  });

  it('an operator reads receipts and replays but may not export (403); an auditor may do all three', async () => {
    const log = [...ledger.logs.values()].find((l) => l.size > 0)!;
    const { receipt } = await log.entry(0);
    const decisionId = [...decided.values()][1]!.decision_id;
    expect((await get(`/v1/receipts/${receipt.receipt_id}`, operator.token)).status).toBe(200);
    expect(await get(`/v1/replay/${decisionId}`, operator.token)).toMatchObject({ status: 200, body: { identical: true } });
    expect(await get('/v1/export', operator.token)).toMatchObject({ status: 403, body: { code: 'ROLE_NOT_ALLOWED', message: 'ops (operator) may not use export', hint: expect.stringMatching(/auditor/) } });
    const exported = await get<{ logs: unknown[] }>('/v1/export', auditor.token);
    expect(exported.status).toBe(200);
    expect(exported.body.logs.length).toBeGreaterThan(0);
  });
});

describe('the intentgate command', () => {
  const run = async (...args: string[]) => {
    const { main } = await import('@intentgate/cli');
    const lines: string[] = [];
    const code = await main(args, (l) => lines.push(l), (l) => lines.push(l));
    return { code, text: lines.join('\n') };
  };

  it('verify, export, replay and backtest against the live ledger and offline', async () => {
    await ledger.checkpointAll(false);
    const dirResult = await run('verify', ledger.dataDir, '--key', ledger.verifierKey);
    expect(dirResult.code, dirResult.text).toBe(0);
    expect(dirResult.text).toMatch(/ok {4}intentgate\/receipts\/0: \d+ entries/);

    const file = join(await tempDir(), 'audit.json');
    // Without a token the ledger refuses, and the command says how to send one; an operator may not export.
    const refused = await run('export', ledger.httpUrl, '--out', file);
    expect(refused.code).toBe(2);
    expect(refused.text).toMatch(/^error UNAUTHENTICATED: the ledger refused the request: this route needs a ledger API token\n {2}what to do: Pass --token/);
    expect((await run('verify', ledger.httpUrl, '--key', ledger.verifierKey, '--token', operator.token)).text).toMatch(/^error ROLE_NOT_ALLOWED: the ledger refused the request: ops \(operator\) may not use export/);
    expect((await run('export', ledger.httpUrl, '--out', file, '--token', auditor.token)).code).toBe(0);
    const exported = JSON.parse(await readFile(file, 'utf8')) as { warrant_keys: Array<{ kid: string }>; policy_bundles: Record<string, string> };
    expect(exported.warrant_keys.length).toBeGreaterThan(0);
    expect(Object.keys(exported.policy_bundles)).toEqual(expect.arrayContaining([v1.digest, v2.digest]));
    const unchecked = await run('verify', file, '--key', ledger.verifierKey);
    expect(unchecked.code).toBe(0);
    expect(unchecked.text).toMatch(/not checked: who signed each receipt/);
    // With the deployment's trust file, every receipt's signer is checked against its roots …
    const signers = await run('verify', file, '--key', ledger.verifierKey, '--trust', (await testTrust()).paths.trustFile);
    expect(signers.code, signers.text).toBe(0);
    expect(signers.text).toMatch(/ok {4}signers: \d+ receipts, each signed by a key your roots vouch for \(.*intentgate-decision \d+/);
    // … and under roots that never certified these producers, the first receipt fails.
    const { generateTrustMaterial } = await import('@intentgate/evidence');
    // Another deployment's roots, with key ids of their own (`trust init` names every deployment's keys local-*).
    const other = await generateTrustMaterial('other');
    const otherTrustFile = join(await tempDir(), 'other-trust.json');
    await writeFile(otherTrustFile, JSON.stringify({ roots: other.roots.roots, operators: other.roots.operators, policy_publishers: other.roots.policyPublishers }));
    const foreign = await run('verify', file, '--key', ledger.verifierKey, '--trust', otherTrustFile);
    expect(foreign.code).toBe(1);
    expect(foreign.text).toMatch(/FAIL {2}signers: intentgate\/receipts\/\d entry \d+: RECORD_SIGNER_UNKNOWN/);
    // Tamper with one receipt inside the exported bundle: verification names the entry.
    const bundle = JSON.parse(await readFile(file, 'utf8')) as { logs: Array<{ entries_log: string }> };
    const log = bundle.logs.find((l) => l.entries_log.length > 0)!;
    const bytes = Buffer.from(log.entries_log, 'base64');
    const at = bytes.indexOf('"producer":"intentgate-decision/') + 12;
    bytes[at] = bytes[at] === 0x64 ? 0x65 : 0x64;
    log.entries_log = bytes.toString('base64');
    await writeFile(file, JSON.stringify(bundle));
    const tampered = await run('verify', file, '--key', ledger.verifierKey);
    expect(tampered.code).toBe(1);
    expect(tampered.text).toMatch(/FAIL {2}intentgate\/receipts\/\d: first bad entry \d+: checksum frame/);

    const someDecision = [...decided.values()][10]!;
    // The operator's token replays; the token may also come from INTENTGATE_LEDGER_TOKEN.
    const replayed = await run('replay', someDecision.decision_id, '--ledger', ledger.httpUrl, '--token', operator.token);
    expect(replayed.code, replayed.text).toBe(0);
    expect(replayed.text).toMatch(/^identical/);
    process.env.INTENTGATE_LEDGER_TOKEN = auditor.token;
    try {
      expect((await run('replay', randomUUID(), '--ledger', ledger.httpUrl)).text).toMatch(/error DECISION_NOT_FOUND/);
    } finally {
      delete process.env.INTENTGATE_LEDGER_TOKEN;
    }
    expect((await run('replay', someDecision.decision_id, '--ledger', ledger.httpUrl)).text).toMatch(/^error UNAUTHENTICATED/);

    // A candidate that only moves the approval deadline changes no verdict …
    const sameVerdicts = await run('policy', 'backtest', join(projectRoot, 'policies'), '--last', '1000', '--ledger', ledger.httpUrl, '--token', auditor.token);
    expect(sameVerdicts.code, sameVerdicts.text).toBe(0);
    expect(sameVerdicts.text).toMatch(/0 of \d+ recorded decisions would change/);
    // … one that denies everything changes every allow and escalation, and fails the gate.
    const denyAll = await tempDir();
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(denyAll, 'intentgate'));
    await writeFile(join(denyAll, 'intentgate', 'decision.rego'), 'package intentgate.decision\n\nimport rego.v1\n\ndecision := {"verdict": "deny", "reasons": [{"code": "LOCKDOWN", "rule": "r", "message": ""}], "obligations": {}}\n');
    const lockdown = await run('policy', 'backtest', denyAll, '--last', '300', '--ledger', ledger.httpUrl, '--max-changed', '5', '--token', auditor.token);
    expect(lockdown.code, lockdown.text).toBe(1);
    expect(lockdown.text).toMatch(/change {2}[0-9a-f-]{36} {2}(allow|escalate) -> deny {2}\(LOCKDOWN\)/);
  });

  it('trusts only the key it was given: a copy of the logs re-signed by another key of the same name fails with the pinned key, is unverifiable without one (exit 3), and --trust-any never says ok (exit 4)', async () => {
    // A ledger whose key was replaced: the same receipts, checkpoints signed by another key under the same name.
    const forger = await LedgerService.start({ trust: { roots: (await testTrust()).roots }, ...connection('provisioner'), dataDir: await tempDir(), groupId: uniqueGroup('forger'), logger: testLogger() });
    stoppers.push(() => forger.stop());
    const sizes = new Map([...ledger.logs].map(([p, l]) => [p, l.size]));
    await eventually(() => [...forger.logs].every(([p, l]) => l.size >= sizes.get(p)!), 'the forger to hold the receipts', 120_000);
    await forger.checkpointAll(false);
    expect(forger.verifierKey.split('+')[0]).toBe(ledger.verifierKey.split('+')[0]);
    expect(forger.verifierKey).not.toBe(ledger.verifierKey);
    const forged = join(await tempDir(), 'forged.json');
    expect((await run('export', forger.dataDir, '--out', forged)).code).toBe(0);
    await forger.stop();

    const pinned = await run('verify', forged, '--key', ledger.verifierKey);
    expect(pinned.code).toBe(1);
    expect(pinned.text).toMatch(/FAIL {2}intentgate\/receipts\/\d: checkpoint \d+:/);
    // No key, and no local stack key on this machine: nothing is called verified.
    const previous = process.env.INTENTGATE_STATE_DIR;
    process.env.INTENTGATE_STATE_DIR = await tempDir();
    try {
      const bare = await run('verify', forged);
      expect(bare.code).toBe(3);
      expect(bare.text).toMatch(/^error NO_TRUST_ROOT: /);
      const any = await run('verify', forged, '--trust-any');
      expect(any.code).toBe(4);
      expect(any.text).not.toMatch(/^ok/m);
      expect(any.text).toMatch(/^unpinned intentgate\/receipts\/0: \d+ entries, \d+ checkpoints verified against the key that came with the data/m);
      expect(any.text).toMatch(/key SHA-256 [0-9a-f]{64}/);
      expect((await run('verify', forged, '--trust-any', '--key', ledger.verifierKey)).code).toBe(2);
    } finally {
      if (previous === undefined) delete process.env.INTENTGATE_STATE_DIR;
      else process.env.INTENTGATE_STATE_DIR = previous;
    }
    // The genuine logs, with the pinned key: verified, exit 0.
    expect((await run('verify', ledger.dataDir, '--key', ledger.verifierKey)).code).toBe(0);
  });

  it('prove: a receipt is in the log the auditor\'s own older checkpoint commits to; a checkpoint of another key or a changed root fails', async () => {
    await ledger.checkpointAll(false);
    const log = [...ledger.logs.values()].find((l) => l.checkpoints.length >= 2)!;
    const held = log.checkpoints[0]!;
    const { receipt } = await log.entry(0);
    const dir = await tempDir();
    const file = join(dir, 'checkpoint.json');
    await writeFile(file, JSON.stringify(held));
    const ok = await run('prove', receipt.receipt_id, '--checkpoint', file, '--key', ledger.verifierKey, '--ledger', ledger.httpUrl, '--token', auditor.token);
    expect(ok.code, ok.text).toBe(0);
    expect(ok.text).toMatch(new RegExp(`^ok {4}receipt ${receipt.receipt_id} \\(leaf [0-9a-f]{64}\\) is entry 0 of ${held.origin} at tree size ${held.tree_size}`, 'm'));
    // A checkpoint whose root was changed (its signature no longer covers it) fails, exit 1.
    const changed = join(dir, 'changed.json');
    await writeFile(changed, JSON.stringify({ ...held, root_hash: 'ab'.repeat(32) }));
    expect((await run('prove', receipt.receipt_id, '--checkpoint', changed, '--key', ledger.verifierKey, '--ledger', ledger.httpUrl, '--token', auditor.token)).code).toBe(1);
    // Under another ledger's key, the auditor's checkpoint does not verify.
    const { generateKeyPairSync } = await import('node:crypto');
    const { verifierKeyText } = await import('@intentgate/evidence');
    const other = verifierKeyText(ledger.verifierKey.split('+')[0]!, generateKeyPairSync('ed25519').publicKey);
    const foreign = await run('prove', receipt.receipt_id, '--checkpoint', file, '--key', other, '--ledger', ledger.httpUrl, '--token', auditor.token);
    expect(foreign.code).toBe(1);
    expect(foreign.text).toMatch(/^FAIL {2}checkpoint /);
    // A lying ledger answers with another genuine receipt and its valid proof: refused, not "ok".
    const latest = log.checkpoints.at(-1)!;
    const latestFile = join(dir, 'latest.json');
    await writeFile(latestFile, JSON.stringify(latest));
    const { receipt: another } = await log.entry(1);
    const { createServer } = await import('node:http');
    const liar = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      void fetch(`${ledger.httpUrl}/v1/receipts/${another.receipt_id}?${url.searchParams}`, { headers: { authorization: req.headers.authorization ?? '' } })
        .then(async (r) => res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text()));
    });
    await new Promise<void>((r) => liar.listen(0, '127.0.0.1', r));
    try {
      const lied = await run('prove', receipt.receipt_id, '--checkpoint', latestFile, '--key', ledger.verifierKey, '--ledger', `http://127.0.0.1:${(liar.address() as { port: number }).port}`, '--token', auditor.token);
      expect(lied.code).toBe(1);
      expect(lied.text).toMatch(new RegExp(`^FAIL {2}the ledger answered for ${another.receipt_id}`, 'm'));
    } finally {
      await new Promise((r) => liar.close(r));
    }
  });

  it('bad usage and a missing ledger are typed errors, not stack traces', async () => {
    const usage = await run('frobnicate');
    expect(usage.code).toBe(2);
    expect(usage.text).toMatch(/error USAGE: unknown command frobnicate\n {2}what to do:/);
    const missing = await run('verify', '/nonexistent/ledger');
    expect(missing.text).toMatch(/error NOT_FOUND/);
    expect(missing.text).not.toMatch(/\n\s+at /);
  });
});

describe('ledger restart', () => {
  it('after a restart on the same data, decisions recorded before it still replay', async () => {
    const before = [...decided.values()][42]!;
    const s = stack();
    const dataDir = ledger.dataDir;
    await ledger.stop();
    ledger = await LedgerService.start({ trust: { roots: (await testTrust()).roots }, ...connection('provisioner'), dataDir, groupId: ledgerGroup, logger: testLogger(), tokens });
    stoppers.push(() => ledger.stop());
    const { status, body } = await get<{ identical: boolean }>(`/v1/replay/${before.decision_id}`);
    expect(status).toBe(200);
    expect(body.identical).toBe(true);
  });

  it('keeps the keys it had before a restart when it learns a new one (the consumer will not read the old ones again)', async () => {
    const keysFile = join(ledger.dataDir, 'warrant-keys.json');
    const kidsIn = async () => new Set((JSON.parse(await readFile(keysFile, 'utf8').catch(() => '[]')) as Array<{ kid: string }>).map((k) => k.kid));
    let kept = new Set<string>();
    const refresh = async () => {
      kept = await kidsIn();
    };
    const first = await serviceTrust('executor');
    await publishSigningKey(bus, first.signer);
    await eventually(() => kept.has(first.signer.key.kid), 'the first key kept', 30_000, refresh);
    const before = await kidsIn();
    const dataDir = ledger.dataDir;
    await ledger.stop();
    ledger = await LedgerService.start({ trust: { roots: (await testTrust()).roots }, ...connection('provisioner'), dataDir, groupId: ledgerGroup, logger: testLogger(), tokens });
    stoppers.push(() => ledger.stop());
    const second = await serviceTrust('approvals');
    await publishSigningKey(bus, second.signer);
    await eventually(() => kept.has(second.signer.key.kid), 'the new key kept', 30_000, refresh);
    expect(before.size).toBeGreaterThan(0);
    for (const kid of before) expect(kept.has(kid), `${kid} still kept`).toBe(true);
  });

  it('refuses to start on a key file it cannot read, rather than overwrite it', async () => {
    const dataDir = await tempDir();
    await writeFile(join(dataDir, 'warrant-keys.json'), '{not json');
    await expect(LedgerService.start({ trust: { roots: (await testTrust()).roots }, ...connection('provisioner'), dataDir, groupId: uniqueGroup('bad-keys'), logger: testLogger(), tokens }))
      .rejects.toMatchObject({ code: 'LEDGER_DATA_INVALID' });
    expect(await readFile(join(dataDir, 'warrant-keys.json'), 'utf8')).toBe('{not json');
  });
});

describe('ledger crash', () => {
  it('SIGKILLed in a child process during load and restarted: the logs verify and every receipt appears exactly once', async () => {
    const { spawn } = await import('node:child_process');
    const { readFrames, ENTRIES_FILE } = await import('@intentgate/evidence');
    const s = stack();
    const dataDir = await tempDir();
    const tokensFile = join(await tempDir(), 'ledger-tokens.json');
    await writeFile(tokensFile, JSON.stringify({ tokens: [{ name: 'audit', roles: ['auditor'], token_sha256: auditor.sha256 }] }));
    const env = {
      ...process.env, ...roleEnv('provisioner'),
      INTENTGATE_TRUST_FILE: (await testTrust()).paths.trustFile,
      LEDGER_DATA_DIR: dataDir, LEDGER_TOKENS_FILE: tokensFile, LEDGER_GROUP: uniqueGroup('ledger-crash'), LEDGER_CHECKPOINT_EVERY: '50', LEDGER_CHECKPOINT_INTERVAL_MS: '200', LOG_LEVEL: 'info',
    };
    const launch = () => {
      const child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', join(projectRoot, 'services', 'ledger', 'src', 'main.ts')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      stoppers.push(async () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
      let out = '';
      const ready = new Promise<string>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /"msg":"ledger ready"/.test(out) && /"http":"(http:[^"]+)"/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
        child.on('exit', (code, signal) => reject(new Error(`ledger exited ${code ?? signal}: ${out.slice(-1500)}`)));
      });
      return { child, ready };
    };
    const marker = randomUUID();
    // Signed as an executor's receipts are (the ledger appends nothing else), by a key published first.
    const { signer } = await serviceTrust('executor');
    await publishSigningKey(bus, signer);
    const { withSignature } = await import('@intentgate/evidence');
    const receipts = Array.from({ length: 2_000 }, (_, i) => withSignature(signer.key, 'Receipt', {
      receipt_id: randomUUID(), kind: 'execution' as const, intent_id: randomUUID(), body: { marker, i, pad: 'x'.repeat(500) },
      producer: `${signer.principal}/crash-test`, produced_at: new Date().toISOString(),
    }));
    const first = launch();
    await first.ready;
    const producer = bus.producer();
    let sent = 0;
    const sending = (async () => {
      for (; sent < receipts.length; sent += 100) {
        await producer.sendMany(receipts.slice(sent, sent + 100).map((value) => ({ topic: 'receipts', key: value.intent_id, value })));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await eventually(() => sent >= 600, 'load under way');
    first.child.kill('SIGKILL');
    if (first.child.exitCode === null && first.child.signalCode === null) await new Promise((r) => first.child.once('exit', r));
    await sending;
    const second = launch();
    const url = await second.ready;
    // Appends follow offsets within a partition: once the last batch (spread over every partition)
    // is in, everything before it is too.
    let held = false;
    await eventually(() => held, 'the restarted ledger to hold every receipt', 120_000, async () => {
      const found = await Promise.all(receipts.slice(-100).map((r) => fetch(`${url}/v1/receipts/${r.receipt_id}`, { headers: { authorization: `Bearer ${auditor.token}` } }).then((res) => res.ok)));
      held = found.every(Boolean);
    });
    second.child.kill('SIGTERM');
    expect(await new Promise((r) => second.child.once('exit', (code) => r(code)))).toBe(0);

    const vkey = parseVerifierKey((await readFile(join(dataDir, 'ledger.vkey'), 'utf8')).trim());
    const counts = new Map<string, number>();
    for (let p = 0; p < 3; p++) {
      const dir = join(dataDir, `receipts-${p}`);
      expect(await verifyLogDirectory(dir, originOf(p), [vkey]), `log ${p}`).toMatchObject({ ok: true });
      for (const f of readFrames(await readFile(join(dir, ENTRIES_FILE)))) {
        const id = f.entry!.receipt.receipt_id;
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
    }
    expect([...counts.values()].filter((n) => n !== 1), 'receipts in the logs more than once').toEqual([]);
    expect(receipts.filter((r) => counts.get(r.receipt_id) !== 1).length, 'marker receipts not exactly once').toBe(0);
  });
});
