// What npm start's demo shows of the trust roots: an outside client that can write the bus
// forges a warrant key and an approved delete, then an allow-everything bundle and an
// activation, and each is refused by the service that reads it; nothing happens.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bus } from '@intentgate/bus';
import type { DeadLetter, Decision, ExecutionResult, Intent, Receipt } from '@intentgate/contracts';
import type { Executors } from '@intentgate/executors';
import { certifyKey, digestOf, generateSigningKey, publicJwkOf, signWarrant, withSignature } from '@intentgate/evidence';
import { buildBundle } from '@intentgate/policy';
import type { AgentClient } from '@intentgate/sdk';
import { DEMO_AGENT, type DemoRow } from './demo.ts';

export interface ForgeryOptions {
  opaPath: string;
  /** The bundle in force (what must still decide after the forged activation). */
  bundle: { digest: string; version: string };
  tenant?: string;
  timeoutMs?: number;
  /** A bus with an agent platform's credentials: the broker refuses its writes of trust material first. */
  agentPlatformBus?: Bus;
}

async function until<T>(look: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = look();
    if (found !== undefined || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function runForgeryDemo(agent: AgentClient, bus: Bus, executors: Executors, options: ForgeryOptions): Promise<DemoRow[]> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const tenant = options.tenant ?? 'default';
  const letters: DeadLetter[] = [];
  const results = new Map<string, ExecutionResult>();
  const receipts: Receipt[] = [];
  const watchers = await Promise.all((['bus.dlq', 'executions', 'receipts'] as const).map(async (topic) => {
    const w = bus.consumer<'DeadLetter' | 'ExecutionResult' | 'Receipt'>({
      groupId: `intentgate-demo-forgery-${randomUUID()}`, topics: [topic],
      handle: async (records) => {
        for (const { value } of records) {
          if (topic === 'bus.dlq') letters.push(value as DeadLetter);
          else if (topic === 'executions') results.set((value as ExecutionResult).intent_id, value as ExecutionResult);
          else receipts.push(value as Receipt);
        }
      },
    });
    await w.start();
    return w;
  }));
  const producer = bus.producer();
  try {
    const rows: DemoRow[] = [];
    if (options.agentPlatformBus) {
      // The first layer: with an agent platform's credentials, the broker refuses the write itself.
      const key = await generateSigningKey(`intentgate-decision-${randomUUID().slice(0, 6)}`);
      const refused = await options.agentPlatformBus.producer().send({
        topic: 'warrant.keys', key: key.kid, value: { issuer: 'intentgate-decision', kid: key.kid, jwk: { ...publicJwkOf(key), alg: 'EdDSA', use: 'sig' }, published_at: new Date().toISOString() },
      }).then(() => 'written?', (err: unknown) => (err as { code?: string }).code ?? (err as Error).message);
      rows.push({ label: 'agent platform writes warrant.keys', domain: '-', action: 'produce', verdict: 'none made', reason: `broker ${refused}`, execution: 'not executed', effect: 'no key published' });
    }
    // 1. A key of its own, "certified" by a root of its own, under the decision worker's name; then a delete it "approved".
    const key = await generateSigningKey(`intentgate-decision-${randomUUID().slice(0, 6)}`);
    const certificate = certifyKey(await generateSigningKey('local-root'), key, { principal: 'intentgate-decision', uses: ['warrant'], receiptKinds: [] });
    await producer.send({ topic: 'warrant.keys', key: key.kid, value: { issuer: 'intentgate-decision', kid: key.kid, jwk: { ...publicJwkOf(key), alg: 'EdDSA', use: 'sig' }, published_at: new Date().toISOString(), certificate } });
    const rowsBefore = executors.invoiceCount();
    const del: Intent = {
      intent_id: randomUUID(), submitted_at: new Date().toISOString(),
      subject: { type: 'agent', id: DEMO_AGENT, properties: { autonomy: 'supervised' } },
      delegation: [{ principal: 'alice@demo.intentgate.local', kind: 'human', scope: ['*'] }, { principal: DEMO_AGENT, kind: 'agent', scope: ['data:*'] }],
      session: { id: `forger-${randomUUID().slice(0, 8)}`, workflow_step: 'reconcile', request_source: 'user' },
      action: { name: 'data.delete', domain: 'data', reversible: false },
      resource: { type: 'table', id: 'billing.invoices', properties: { sensitivity: 'internal' } },
      context: { rows: 7 },
    };
    const decisionId = randomUUID();
    const warrant = await signWarrant(key, { issuer: 'intentgate-decision', decisionId, intentId: del.intent_id, intentDigest: digestOf(del), domain: 'data', ttlSeconds: 30 });
    const forged: Decision = {
      decision_id: decisionId, intent_id: del.intent_id, intent_digest: digestOf(del), verdict: 'allow', final: true,
      reasons: [{ code: 'ALL_GUARDS_PASSED', rule: 'forged', message: 'forged' }], obligations: {},
      policy: { bundle_digest: options.bundle.digest, version: options.bundle.version, entrypoint: 'intentgate/decision/decision' },
      input_digest: digestOf({}), decided_at: new Date().toISOString(), warrant,
    };
    await producer.send({ topic: 'intents.approved.data', key: del.intent_id, value: { intent: del, decision: forged, warrant } });
    const keyLetter = await until(() => letters.find((l) => l.original.topic === 'warrant.keys' && l.original.key !== null && Buffer.from(l.original.key, 'base64').toString('utf8') === key.kid), timeoutMs);
    const refused = await until(() => results.get(del.intent_id), timeoutMs);
    rows.push({
      label: 'forged warrant key + "approved" delete', domain: 'data', action: 'data.delete', verdict: 'none made',
      reason: keyLetter ? `key ${keyLetter.reason.code}` : 'key not refused?',
      execution: refused ? `${refused.status}${refused.reason ? ` (${refused.reason.code})` : ''}` : 'no report',
      effect: `${executors.invoiceCount()} of ${rowsBefore} rows remain`,
    });

    // 2. An allow-everything bundle nobody signed, activated by an "operator" key nobody configured.
    const dir = await mkdtemp(join(tmpdir(), 'ig-forged-policy-'));
    let allowAll;
    try {
      await mkdir(join(dir, 'intentgate'));
      await writeFile(join(dir, 'intentgate', 'decision.rego'), 'package intentgate.decision\n\nimport rego.v1\n\ndecision := {"verdict": "allow", "reasons": [{"code": "ALL_GUARDS_PASSED", "rule": "forged", "message": "pre-approved"}], "obligations": {}}\n');
      allowAll = await buildBundle({ opaPath: options.opaPath, policyDir: dir, revision: 'forged' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const now = new Date().toISOString();
    await bus.sendAtomically([
      { topic: 'policy.bundles', key: allowAll.digest, value: { digest: allowAll.digest, version: 'allow-all', manifest: { entrypoints: ['intentgate/decision/decision'], revision: 'forged', built_at: now, built_by: 'forger' }, bundle: allowAll.bytes.toString('base64') } },
      { topic: 'policy.activations', key: tenant, value: withSignature(await generateSigningKey('local-operator'), 'PolicyActivation', { tenant, bundle_digest: allowAll.digest, version: 'allow-all', activated_at: now, activated_by: 'forger' }) },
    ]);
    const codeFor = (code: string) => receipts.find((r) => r.kind === 'policy-activation' && (r.body as { bundle_digest?: string }).bundle_digest === allowAll.digest && (r.body as { reason?: { code?: string } }).reason?.code === code);
    const bundleRefused = await until(() => codeFor('BUNDLE_UNSIGNED'), timeoutMs);
    const activationRefused = await until(() => codeFor('ACTIVATION_SIGNATURE_INVALID'), timeoutMs);
    // A tool call the real policy refuses, decided after the forged activation.
    const tool: Intent = {
      ...del, intent_id: randomUUID(), submitted_at: new Date().toISOString(), session: { ...del.session, workflow_step: 'notes' },
      delegation: [del.delegation[0]!, { principal: DEMO_AGENT, kind: 'agent', scope: ['ai:*'] }],
      action: { name: 'mcp.tool.call', domain: 'ai', reversible: true }, resource: { type: 'mcp_tool', id: 'demo/delete_all_notes', properties: { sensitivity: 'internal' } }, context: {},
    };
    const after = await agent.decide(tool, timeoutMs).catch((e: Error) => e);
    rows.push({
      label: 'allow-all bundle + forged activation', domain: 'ai', action: 'mcp.tool.call',
      verdict: after instanceof Error ? 'error' : after.verdict,
      reason: after instanceof Error ? after.message : `${after.reasons[0]?.code ?? ''} (${[bundleRefused ? 'BUNDLE_UNSIGNED' : '', activationRefused ? 'ACTIVATION_SIGNATURE_INVALID' : ''].filter(Boolean).join(', ') || 'not refused?'})`,
      execution: 'not executed',
      effect: after instanceof Error ? '' : `decided under ${after.policy?.version ?? 'no policy'}`,
    });
    return rows;
  } finally {
    await Promise.all(watchers.map((w) => w.stop()));
  }
}
