// Approved intents signed by a test's own warrant key: for executor tests that are not about the
// decision worker (the executor is given the key's JWKS).
import { randomUUID } from 'node:crypto';
import type { ApprovedIntent } from '@intentgate/contracts';
import { exampleIntent, exampleOf } from '@intentgate/contracts/examples';
import { digestOf, signWarrant, type SigningKey } from '@intentgate/evidence';

/** An approved data intent on a table of its own, with a valid warrant from `key` as `issuer`. */
export async function approvedIntentSignedBy(key: SigningKey, issuer: string, ttlSeconds = 120): Promise<ApprovedIntent> {
  const intent = exampleIntent({ resource: { type: 'table', id: `t-${randomUUID().slice(0, 8)}`, properties: { sensitivity: 'internal' } } });
  const decision = { ...exampleOf('Decision'), decision_id: randomUUID(), intent_id: intent.intent_id, intent_digest: digestOf(intent) };
  const warrant = await signWarrant(key, {
    issuer, intentId: intent.intent_id, domain: 'data', decisionId: decision.decision_id, intentDigest: decision.intent_digest, ttlSeconds,
  });
  return { intent, decision: { ...decision, warrant }, warrant };
}
