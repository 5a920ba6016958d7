// One valid example of every message, for tests, docs and the demo. Examples are built fresh
// on each call so a caller can mutate its copy.
import { randomUUID } from 'node:crypto';
import type { Message, MessageName } from './messages.ts';

const NOW = '2026-11-23T12:00:00.000Z';
const DIGEST_A = 'a'.repeat(64);
const DIGEST_B = 'b'.repeat(64);
const WARRANT = 'eyJhbGciOiJFZERTQSJ9.eyJqdGkiOiJ4In0.c2lnbmF0dXJl';

export function exampleIntent(overrides: Partial<Message<'Intent'>> = {}): Message<'Intent'> {
  return {
    intent_id: randomUUID(),
    submitted_at: NOW,
    subject: { type: 'agent', id: 'spiffe://example.org/agents/billing-assistant', properties: { autonomy: 'supervised' } },
    delegation: [
      { principal: 'alice@example.org', kind: 'human', scope: ['invoices:read', 'invoices:export'] },
      { principal: 'spiffe://example.org/agents/billing-assistant', kind: 'agent', scope: ['invoices:read'] },
    ],
    session: { id: `sess-${randomUUID()}`, workflow_step: 'reconcile', request_source: 'user' },
    action: { name: 'invoices.read', domain: 'data', reversible: true },
    resource: { type: 'table', id: 'billing.invoices', properties: { sensitivity: 'confidential' } },
    context: { rows_requested: 100 },
    ...overrides,
  };
}

function decisionFor(intent: Message<'Intent'>): Message<'Decision'> {
  return {
    decision_id: randomUUID(),
    intent_id: intent.intent_id,
    intent_digest: DIGEST_A,
    verdict: 'allow',
    final: true,
    reasons: [{ code: 'DATA_READ_WITHIN_SCOPE', rule: 'data.intentgate.data.allow', message: 'read within delegated scope' }],
    obligations: {},
    policy: { bundle_digest: DIGEST_B, version: '1.0.0', entrypoint: 'intentgate/decision' },
    input_digest: DIGEST_B,
    decided_at: NOW,
    warrant: WARRANT,
  };
}

export function exampleOf<N extends MessageName>(name: N): Message<N> {
  const intent = exampleIntent();
  const decision = decisionFor(intent);
  const examples: { [K in MessageName]: () => Message<K> } = {
    Intent: () => intent,
    Decision: () => decision,
    WarrantClaims: () => ({
      iss: 'intentgate-decision', sub: intent.intent_id, aud: 'data', jti: decision.decision_id,
      intent_digest: DIGEST_A, iat: 1_795_000_000, exp: 1_795_000_030,
    }),
    WarrantKey: () => ({
      issuer: 'intentgate-decision', kid: 'decision-1', published_at: NOW,
      jwk: { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'decision-1', alg: 'EdDSA', use: 'sig' },
      certificate: WARRANT,
    }),
    ApprovedIntent: () => ({ intent, decision, warrant: WARRANT }),
    ApprovalRequest: () => ({
      intent_id: intent.intent_id, decision_id: decision.decision_id, intent, intent_digest: DIGEST_A,
      reasons: [{ code: 'IRREVERSIBLE_NEEDS_REVIEW', rule: 'data.intentgate.escalate', message: 'irreversible export' }],
      quorum: 1, reviewers: ['bob@example.org'], deadline: '2026-11-23T12:05:00.000Z', requested_at: NOW, signature: WARRANT,
    }),
    ApprovalResponse: () => ({
      intent_id: intent.intent_id, decision_id: decision.decision_id, intent_digest: DIGEST_A,
      reviewer: 'bob@example.org', answer: 'approve', comment: 'checked with finance', responded_at: NOW,
    }),
    ExecutionResult: () => ({
      intent_id: intent.intent_id, decision_id: decision.decision_id, domain: 'data', status: 'executed',
      executor: 'executor-data-1', finished_at: NOW,
    }),
    Receipt: () => ({
      receipt_id: randomUUID(), kind: 'decision', intent_id: intent.intent_id,
      body: { decision, input: { intent } }, producer: 'decision-worker-1', produced_at: NOW, signature: WARRANT,
    }),
    Checkpoint: () => ({
      origin: 'intentgate/receipts/0', tree_size: 42, root_hash: DIGEST_A, issued_at: NOW,
      note: `intentgate/receipts/0\n42\nqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo=\n\n— ledger-1 AAAA\n`,
      signatures: [{ key_id: 'ledger-1', algorithm: 'Ed25519', signature: 'AAAA' }],
    }),
    PolicyBundle: () => ({
      digest: DIGEST_B, version: '1.0.0',
      manifest: { entrypoints: ['intentgate/decision'], revision: 'abc123', built_at: NOW, built_by: 'ci' },
      bundle: Buffer.from('not really a bundle').toString('base64'),
    }),
    PolicyActivation: () => ({
      tenant: 'default', bundle_digest: DIGEST_B, version: '1.0.0', activated_at: NOW, activated_by: 'ci', signature: WARRANT,
    }),
    Revocation: () => ({
      // A fresh principal each time: a published example must not revoke anyone real.
      link: `spiffe://example.org/agents/revoked-${randomUUID()}`, kind: 'principal', revoked_by: 'security@example.org', reason: 'key leaked', revoked_at: NOW,
    }),
    AgentRegistration: () => ({
      agent: 'spiffe://example.org/agents/billing-assistant', owner: 'alice@example.org', autonomy: 'supervised',
      domains: ['data'], actions: ['data.query', 'data.export'], status: 'active', revision: 1,
      changed_at: NOW, changed_by: 'operator:local-operator', reason: 'billing reconciliation', signature: WARRANT,
    }),
    ResourceLabel: () => ({
      type: 'table', id: 'billing.invoices', sensitivity: 'confidential', environment: 'production', revision: 1,
      changed_at: NOW, changed_by: 'operator:local-operator', reason: 'invoices hold customer data', signature: WARRANT,
    }),
    DeadLetter: () => ({
      original: { topic: 'intents', partition: 0, offset: '17', key: null, value: Buffer.from('{oops').toString('base64'), headers: {}, timestamp: '1795000000000' },
      reason: { code: 'UNDECODABLE', message: 'not JSON' }, intent_id: null, consumer_group: 'decision', failed_at: NOW,
    }),
  };
  return examples[name]() as Message<N>;
}
