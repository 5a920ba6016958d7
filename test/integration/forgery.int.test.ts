// The second layer on its own: an outside client that can write every topic (as on a cluster
// whose ACLs are off or wrong: here it holds the provisioner's credentials, a super user) tries each forgery of issue 16, and the service that reads the
// forged record refuses it with its code. Nothing it writes changes a decision, runs an action,
// settles an escalation or enters the ledger.
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalRequest, DeadLetter, Decision, ExecutionResult, Intent, Receipt } from '@intentgate/contracts';
import { exampleIntent } from '@intentgate/contracts/examples';
import { ApprovalsService } from '@intentgate/approvals';
import { DecisionService } from '@intentgate/decision';
import {
  certifiedSigner, certifyKey, digestOf, generateSigningKey, publicJwkOf, signWarrant, withSignature, type CertifiedSigner, type SigningKey,
} from '@intentgate/evidence';
import { ensureOpa } from '@intentgate/infra';
import { LedgerService } from '@intentgate/ledger';
import { buildBundle, type BuiltBundle } from '@intentgate/policy';
import { AgentClient, ExecutorRuntime } from '@intentgate/sdk';
import { activate, approvalsService, connection, eventually, freshContext, saslFor, serviceTrust, starterBundle, testBus, testLogger, testTrust, uniqueGroup, variantBundle, labelAsStated } from '@intentgate/test';

const AGENT = 'spiffe://example.org/agents/forger';
const tenant = `forgery-${randomUUID().slice(0, 8)}`;
const bus = testBus();
const attacker = bus.producer();
const stoppers: Array<() => Promise<unknown>> = [];
const letters: DeadLetter[] = [];
const receipts: Receipt[] = [];
const results: ExecutionResult[] = [];
const ran: string[] = [];
let bundle: BuiltBundle;
let decision: DecisionService;
let approvals: ApprovalsService;
let ledger: LedgerService;
let agent: AgentClient;
let executorSigner: CertifiedSigner;

function intent(over: Partial<Intent> = {}): Intent {
  const base = exampleIntent();
  return {
    ...base, intent_id: randomUUID(),
    subject: { type: 'agent', id: AGENT, properties: { autonomy: 'supervised' } },
    delegation: [{ principal: 'alice@example.org', kind: 'human', scope: ['*'] }, { principal: AGENT, kind: 'agent', scope: ['data:*', 'infra:*', 'ai:*'] }],
    session: { ...base.session, id: `forgery-${randomUUID().slice(0, 8)}` },
    action: { name: 'data.delete', domain: 'data', reversible: true },
    resource: { type: 'table', id: 'invoices', properties: { sensitivity: 'internal' } },
    context: {},
    ...over,
  };
}

/** The dead letters about one record, once some consumer refused it. */
async function refusalsOf(topic: string, match: (l: DeadLetter) => boolean): Promise<DeadLetter[]> {
  await eventually(() => letters.some((l) => l.original.topic === topic && match(l)), `a dead letter from ${topic}`);
  return letters.filter((l) => l.original.topic === topic && match(l));
}

const keyOf = (l: DeadLetter) => (l.original.key === null ? null : Buffer.from(l.original.key, 'base64').toString('utf8'));

beforeAll(async () => {
  await bus.registerSchemas();
  for (const [topic, sink] of [['bus.dlq', letters], ['receipts', receipts], ['executions', results]] as const) {
    const watch = bus.consumer<'DeadLetter' | 'Receipt' | 'ExecutionResult'>({
      groupId: uniqueGroup(`forgery-${topic}`), topics: [topic], fromBeginning: true,
      handle: async (records) => {
        for (const { value } of records) (sink as unknown[]).push(value);
      },
    });
    await watch.start();
    stoppers.push(() => watch.stop());
  }
  bundle = await starterBundle();
  await activate(bus, bundle, { version: 'real', tenant, by: 'test' });
  await freshContext();
  decision = await DecisionService.start({
    identity: 'off', // not what this exercises; each start records the mode change
    ...connection('provisioner'), tenant, groupId: uniqueGroup('forgery-decision'),
    contextFreshnessMs: 600_000, approvalDeadlineCapSeconds: 120, logger: testLogger(), trust: await serviceTrust('decision'),
  });
  stoppers.push(() => decision.stop());
  approvals = await approvalsService('forgery');
  stoppers.push(() => approvals.stop());
  ledger = await LedgerService.start({
    ...connection('provisioner'), dataDir: await mkdtemp(join(tmpdir(), 'ig-forgery-ledger-')),
    groupId: uniqueGroup('forgery-ledger'), logger: testLogger(), trust: { roots: (await testTrust()).roots },
  });
  stoppers.push(() => ledger.stop());
  const executorTrust = await serviceTrust('executor');
  executorSigner = executorTrust.signer;
  const executor = await ExecutorRuntime.start({
    ...connection('provisioner'), domain: 'data', executorId: 'forgery-data',
    issuer: ['intentgate-decision', 'intentgate-approvals'], groupId: uniqueGroup('forgery-executor'), trust: executorTrust, logger: testLogger(),
    handler: async (a) => {
      ran.push(a.intent.intent_id);
      return {};
    },
  });
  stoppers.push(() => executor.stop());
  agent = await AgentClient.connect({ ...connection('agent-platform'), trust: { roots: (await testTrust()).roots } });
  stoppers.push(() => agent.close());
}, 600_000);

afterAll(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => {});
  await bus.close();
});

/** An approved intent with a warrant the attacker signed, published straight to the executors' topic. */
async function forgedApproval(key: SigningKey): Promise<Intent> {
  const forged = intent();
  const decisionId = randomUUID();
  const warrant = await signWarrant(key, {
    issuer: 'intentgate-decision', decisionId, intentId: forged.intent_id, intentDigest: digestOf(forged), domain: 'data', ttlSeconds: 30,
  });
  const d: Decision = {
    decision_id: decisionId, intent_id: forged.intent_id, intent_digest: digestOf(forged), verdict: 'allow', final: true,
    reasons: [{ code: 'ALL_GUARDS_PASSED', rule: 'forged', message: 'trust me' }], obligations: {},
    policy: { bundle_digest: bundle.digest, version: 'real', entrypoint: 'intentgate/decision/decision' }, input_digest: digestOf({}),
    decided_at: new Date().toISOString(), warrant,
  };
  await attacker.send({ topic: 'intents.approved.data', key: forged.intent_id, value: { intent: forged, decision: d, warrant } });
  return forged;
}

describe('forgeries on an open bus, refused by the services', () => {
  it('a warrant key the attacker certified itself, or carrying the real worker\'s certificate, is refused; the executor runs nothing under it', async () => {
    const key = await generateSigningKey(`decision-forged-${randomUUID().slice(0, 6)}`);
    const attackerRoot = await generateSigningKey((await testTrust()).root.kid); // named like the real root
    const selfCertified = certifyKey(attackerRoot, key, { principal: 'intentgate-decision', uses: ['warrant', 'receipt'], receiptKinds: ['decision'] });
    await attacker.send({ topic: 'warrant.keys', key: key.kid, value: { issuer: 'intentgate-decision', kid: key.kid, jwk: { ...publicJwkOf(key), alg: 'EdDSA', use: 'sig' }, published_at: new Date().toISOString(), certificate: selfCertified } });
    const stolen = await generateSigningKey(`decision-stolen-${randomUUID().slice(0, 6)}`);
    const real = (await serviceTrust('decision')).signer;
    await attacker.send({ topic: 'warrant.keys', key: stolen.kid, value: { issuer: 'intentgate-decision', kid: stolen.kid, jwk: { ...publicJwkOf(stolen), alg: 'EdDSA', use: 'sig' }, published_at: new Date().toISOString(), certificate: real.certificate } });
    const bare = await generateSigningKey(`decision-bare-${randomUUID().slice(0, 6)}`);
    await attacker.send({ topic: 'warrant.keys', key: bare.kid, value: { issuer: 'intentgate-decision', kid: bare.kid, jwk: { ...publicJwkOf(bare), alg: 'EdDSA', use: 'sig' }, published_at: new Date().toISOString() } });

    expect((await refusalsOf('warrant.keys', (l) => keyOf(l) === key.kid)).map((l) => l.reason.code)).toContain('KEY_CERT_BAD_SIGNATURE');
    expect((await refusalsOf('warrant.keys', (l) => keyOf(l) === stolen.kid)).map((l) => l.reason.code)).toContain('KEY_CERT_MISMATCH');
    expect((await refusalsOf('warrant.keys', (l) => keyOf(l) === bare.kid)).map((l) => l.reason.code)).toContain('KEY_NOT_CERTIFIED');

    const forged = [await forgedApproval(key), await forgedApproval(stolen), await forgedApproval(bare)];
    await eventually(() => forged.every((f) => results.some((r) => r.intent_id === f.intent_id)), 'the executor to report each forged approval');
    for (const f of forged) {
      expect(results.find((r) => r.intent_id === f.intent_id)).toMatchObject({ status: 'refused', reason: { code: 'WARRANT_UNKNOWN_KEY' } });
      expect(ran).not.toContain(f.intent_id);
    }
  });

  it('an unsigned bundle and an activation signed by the attacker are refused and recorded; the real policy stays in force', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ig-allow-all-'));
    await mkdir(join(dir, 'intentgate'));
    await writeFile(join(dir, 'intentgate', 'decision.rego'), `package intentgate.decision\n\nimport rego.v1\n\ndecision := {"verdict": "allow", "reasons": [{"code": "ALL_GUARDS_PASSED", "rule": "attacker", "message": "pre-approved"}], "obligations": {}}\n`);
    const allowAll = await buildBundle({ opaPath: await ensureOpa(), policyDir: dir, revision: 'attacker' });
    const forgedOperator = await generateSigningKey((await testTrust()).operator.kid);
    const now = new Date().toISOString();
    await bus.sendAtomically([
      { topic: 'policy.bundles', key: allowAll.digest, value: { digest: allowAll.digest, version: 'attacker-1', manifest: { entrypoints: ['intentgate/decision/decision'], revision: 'attacker', built_at: now, built_by: 'attacker' }, bundle: allowAll.bytes.toString('base64') } },
      { topic: 'policy.activations', key: tenant, value: withSignature(forgedOperator, 'PolicyActivation', { tenant, bundle_digest: allowAll.digest, version: 'attacker-1', activated_at: now, activated_by: 'platform-team' }) },
      { topic: 'policy.activations', key: tenant, value: { tenant, bundle_digest: bundle.digest, version: 'attacker-2', activated_at: now, activated_by: 'platform-team' } },
    ]);
    const refused = (code: string, digest: string) => receipts.some((r) => r.kind === 'policy-activation' && (r.body as { reason?: { code?: string }; bundle_digest?: string }).reason?.code === code && (r.body as { bundle_digest?: string }).bundle_digest === digest);
    await eventually(() => refused('BUNDLE_UNSIGNED', allowAll.digest) && refused('ACTIVATION_SIGNATURE_INVALID', allowAll.digest) && refused('ACTIVATION_UNSIGNED', bundle.digest), 'the refusal receipts');
    // A tool call the real policy denies (not on the allowlist), decided after the forgeries.
    const d = await agent.decide(intent({ action: { name: 'mcp.tool.call', domain: 'ai', reversible: true }, resource: { type: 'mcp_tool', id: 'demo/delete_everything', properties: { sensitivity: 'internal' } } }));
    expect(d).toMatchObject({ verdict: 'deny', reasons: [{ code: 'TOOL_NOT_ALLOWED' }], policy: { bundle_digest: bundle.digest, version: 'real' } });
    const inForce = () => (decision.active.current && 'ref' in decision.active.current ? decision.active.current.ref.bundle_digest : null);
    expect(inForce()).toBe(bundle.digest);

    // A newer signed policy, then the operator's older activation published again: a rollback nobody asked for.
    const newer = await variantBundle((data) => (data.approval.deadline_seconds = 301), 'newer');
    await activate(bus, newer, { version: 'newer', tenant, by: 'test' });
    await eventually(() => inForce() === newer.digest, 'the newer bundle in force');
    const replayed = withSignature((await testTrust()).operator, 'PolicyActivation', {
      tenant, bundle_digest: bundle.digest, version: 'real', activated_at: new Date(Date.now() - 3_600_000).toISOString(), activated_by: 'test',
    });
    await attacker.send({ topic: 'policy.activations', key: tenant, value: replayed });
    await eventually(() => refused('ACTIVATION_STALE', bundle.digest), 'the stale activation refused');
    expect(inForce()).toBe(newer.digest);
  });

  it('receipts that are unsigned, signed by a stranger, or signed by a real key beyond its authority never enter the ledger', async () => {
    const base = () => ({ receipt_id: randomUUID(), intent_id: randomUUID(), body: { decision: { verdict: 'allow' } }, produced_at: new Date().toISOString() });
    const unsigned = { ...base(), kind: 'decision' as const, producer: 'intentgate-decision/w1' };
    const stranger = withSignature(await generateSigningKey('stranger'), 'Receipt', { ...base(), kind: 'decision' as const, producer: 'intentgate-decision/w1' });
    // The executors' real key, signing a decision receipt, and an execution receipt in the decision worker's name.
    const overreach = withSignature(executorSigner.key, 'Receipt', { ...base(), kind: 'decision' as const, producer: 'intentgate-executor/forgery-data' });
    const impersonation = withSignature(executorSigner.key, 'Receipt', { ...base(), kind: 'execution' as const, producer: 'intentgate-decision/w1' });
    // A well-formed one by the same key, within its authority: the marker that the ledger read past the others.
    const honest = withSignature(executorSigner.key, 'Receipt', { ...base(), kind: 'execution' as const, producer: 'intentgate-executor/forgery-data' });
    for (const r of [unsigned, stranger, overreach, impersonation, honest]) await attacker.send({ topic: 'receipts', key: r.intent_id, value: r });
    const ledgerRefusal = async (r: { intent_id: string }) =>
      (await refusalsOf('receipts', (l) => l.intent_id === r.intent_id && l.consumer_group.includes('forgery-ledger'))).map((l) => l.reason.code);
    expect(await ledgerRefusal(unsigned)).toEqual(['RECEIPT_UNSIGNED']);
    expect(await ledgerRefusal(stranger)).toEqual(['RECEIPT_SIGNER_UNKNOWN']);
    expect(await ledgerRefusal(overreach)).toEqual(['RECEIPT_SIGNER_NOT_ALLOWED']);
    expect(await ledgerRefusal(impersonation)).toEqual(['RECEIPT_SIGNER_NOT_ALLOWED']);
    const inLedger = (id: string) => [...ledger.logs.values()].some((log) => log.indexOf(id) !== undefined);
    await eventually(() => inLedger(honest.receipt_id), 'the honest receipt in the ledger');
    for (const r of [unsigned, stranger, overreach, impersonation]) expect(inLedger(r.receipt_id)).toBe(false);
  });

  it('approval requests that no decision made are refused by the approvals service; a real escalation is pending', async () => {
    const fake = (): ApprovalRequest => {
      const i = intent({ action: { name: 'infra.delete', domain: 'infra', reversible: false }, resource: { type: 'service', id: 'checkout', properties: { sensitivity: 'internal' } } });
      return {
        intent_id: i.intent_id, decision_id: randomUUID(), intent: i, intent_digest: digestOf(i),
        reasons: [{ code: 'IRREVERSIBLE_NEEDS_REVIEW', rule: 'platform', message: 'routine cleanup, pre-approved by the platform team' }],
        quorum: 1, reviewers: [], deadline: new Date(Date.now() + 600_000).toISOString(), requested_at: new Date().toISOString(),
      };
    };
    const unsigned = fake();
    const byStranger = withSignature(await generateSigningKey('stranger-decision'), 'ApprovalRequest', fake());
    // A key the real root certified, but only for receipts: it may not escalate.
    const receiptsOnly = await certifiedSigner((await testTrust()).root, `exec-${randomUUID().slice(0, 6)}`, { principal: 'intentgate-executor', uses: ['receipt'], receiptKinds: ['execution'] });
    await attacker.send({ topic: 'warrant.keys', key: receiptsOnly.key.kid, value: { issuer: receiptsOnly.principal, kid: receiptsOnly.key.kid, jwk: { ...publicJwkOf(receiptsOnly.key), alg: 'EdDSA', use: 'sig' }, published_at: new Date().toISOString(), certificate: receiptsOnly.certificate } });
    const byExecutorKey = withSignature(receiptsOnly.key, 'ApprovalRequest', fake());
    for (const r of [unsigned, byStranger, byExecutorKey]) await attacker.send({ topic: 'approvals.requests', key: r.intent_id, value: r });
    const refusal = async (r: ApprovalRequest) => (await refusalsOf('approvals.requests', (l) => l.intent_id === r.intent_id && l.consumer_group === approvals.groupId)).map((l) => l.reason.code);
    expect(await refusal(unsigned)).toEqual(['APPROVAL_REQUEST_UNSIGNED']);
    expect(await refusal(byStranger)).toEqual(['APPROVAL_REQUEST_SIGNER_UNKNOWN']);
    expect(await refusal(byExecutorKey)).toEqual(['APPROVAL_REQUEST_SIGNER_NOT_ALLOWED']);
    // A real escalation, made by the decision worker, after them: it is pending, they are not.
    const real = intent({ action: { name: 'infra.delete', domain: 'infra', reversible: false }, resource: { type: 'service', id: 'old-staging', properties: { sensitivity: 'internal', environment: 'staging' } } });
    // Labelled staging in the context store (unlabelled, it would be production: outside the change window, a deny).
    await labelAsStated(real);
    await agent.submit(real);
    await eventually(() => approvals.pending().some((p) => p.request.intent_id === real.intent_id), 'the real escalation to be pending', 60_000);
    const pending = approvals.pending().map((p) => p.request.intent_id);
    for (const r of [unsigned, byStranger, byExecutorKey]) expect(pending).not.toContain(r.intent_id);
  });

  it('a forged allow on decisions, waiting before the intent or racing the worker, is never what an agent gets; a reused intent id gets no earlier decision', async () => {
    const denied = intent({ action: { name: 'mcp.tool.call', domain: 'ai', reversible: true }, resource: { type: 'mcp_tool', id: 'demo/delete_everything', properties: { sensitivity: 'internal' } } });
    const forged = (over: Partial<Decision> = {}): Decision => ({
      decision_id: randomUUID(), intent_id: denied.intent_id, intent_digest: digestOf(denied), verdict: 'deny', final: true,
      reasons: [{ code: 'ALL_GUARDS_PASSED', rule: 'forged', message: 'pre-approved' }], obligations: {}, policy: null, input_digest: null,
      decided_at: new Date().toISOString(), ...over,
    });
    const before = agent.refusedDecisions;
    // Published before the intent (it would wait in the client's early memory), unsigned and signed by a stranger.
    await attacker.send({ topic: 'decisions', key: denied.session.id, value: forged() });
    await attacker.send({ topic: 'decisions', key: denied.session.id, value: withSignature(await generateSigningKey('stranger-decider'), 'Decision', forged()) });
    await eventually(() => agent.refusedDecisions >= before + 2, 'the client to drop both forged decisions');
    const d = await agent.decide(denied);
    expect(d).toMatchObject({ verdict: 'deny', reasons: [{ code: 'TOOL_NOT_ALLOWED' }], policy: { bundle_digest: expect.any(String) } });

    // The id of an intent decided before, for another action: a final deny, never the earlier decision.
    const first = intent({ action: { name: 'data.query', domain: 'data', reversible: true } });
    expect((await agent.decide(first)).verdict).toBe('allow');
    const reused = { ...intent({ action: { name: 'data.delete', domain: 'data', reversible: true } }), intent_id: first.intent_id };
    expect(await agent.decide(reused)).toMatchObject({ verdict: 'deny', reasons: [{ code: 'INTENT_ID_CONFLICT' }], intent_digest: digestOf(reused) });
  });

  it('a poison record too large for a whole dead letter, from an agent platform, stops no decision: its letter keeps the digest', async () => {
    const { Kafka, logLevel } = await import('kafkajs');
    const { createHash } = await import('node:crypto');
    const session = `forgery-big-${randomUUID().slice(0, 8)}`;
    const dlq: DeadLetter[] = [];
    const watch = bus.consumer<'DeadLetter'>({
      groupId: uniqueGroup('forgery-intents-dlq'), topics: ['intents.dlq'], fromBeginning: true,
      handle: async (records) => {
        for (const { value } of records) if (keyOf(value) === session) dlq.push(value);
      },
    });
    await watch.start();
    stoppers.push(() => watch.stop());
    const platform = new Kafka({ clientId: 'forgery-big-poison', brokers: connection('agent-platform').brokers, ...saslFor('agent-platform'), logLevel: logLevel.NOTHING });
    const raw = platform.producer();
    await raw.connect();
    // Not framed, 900 KB: poison that, base64-encoded whole, would not fit the DLQ's 1 MB records.
    const poison = Buffer.alloc(900_000, 0x7b);
    try {
      await raw.send({ topic: 'intents', messages: [{ key: session, value: poison }] });
    } finally {
      await raw.disconnect();
    }
    const after = intent({ action: { name: 'data.query', domain: 'data', reversible: true }, session: { ...intent().session, id: session } });
    expect((await agent.decide(after, 60_000)).verdict).toBe('allow');
    await eventually(() => dlq.length > 0, 'the poison record in intents.dlq');
    expect(dlq[0]!.original.truncated).toMatchObject({ value_bytes: 900_000, value_sha256: createHash('sha256').update(poison).digest('hex') });
  });
});
