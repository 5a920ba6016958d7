// Every caller-written field of the trust inventory, lied about in the loosening direction, on
// the real Wasm policy and the worker's own identity check: never an allow. (The same lies go
// through the decision worker on the real stack in test/integration/lies.int.test.ts.)
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { TRUST_INVENTORY, type Intent } from '@intentgate/contracts';
import { certifiedSigner, generateSigningKey, jwksOf, type Jwks, type SigningKey } from '@intentgate/evidence';
import { ensureOpa, projectRoot } from '@intentgate/infra';
import { buildBundle, PolicyEngine } from '@intentgate/policy';
import type { ContextSnapshot } from '@intentgate/context';
import { LIES, REGISTRY_LIES, withLieCredentials, type Lie } from '@intentgate/test';
import { decide, type DecideSettings } from '../src/decide.ts';
import { verifyIntentIdentity } from '../src/identity.ts';

const TD = 'lies.test';
const AGENT = `spiffe://${TD}/agents/liar`;
const OTHER = `spiffe://${TD}/agents/trusted-colleague`;
let engine: PolicyEngine;
let settings: DecideSettings;
let idKey: SigningKey;
let bundles: Map<string, Jwks>;
const clock = { now: () => Date.parse('2026-11-24T12:00:00Z') };

function snapshotOf(lie: Lie): ContextSnapshot {
  const a = lie.store.agent ?? {};
  return {
    session: { exported_rows: 0, actions: 0, denied: 0 },
    usage: { exported_rows: lie.store.usage ?? 0 },
    // A label under another type than the intent names is not found (the store's key is exact).
    resource: lie.labelType !== undefined && lie.labelType !== lie.intent('x', 'y').resource.type
      ? { sensitivity: null, environment: null }
      : { sensitivity: lie.store.label?.sensitivity ?? null, environment: lie.store.label?.environment ?? null },
    agent: {
      revoked: false, registered: a.registered ?? true, status: 'active', owner: 'alice@example.org', autonomy: a.autonomy ?? 'assisted',
      domains: a.domains ?? ['app', 'data', 'infra', 'ai'], actions: a.actions ?? ['*'], revision: 1,
    },
    revoked: [], synced_at: clock.now(),
  };
}


async function decided(lie: Lie, intent: Intent, snapshot: ContextSnapshot) {
  const identity = lie.identity ? await verifyIntentIdentity(await withLieCredentials(intent, idKey, TD, OTHER, lie), { trust: bundles, maxDepth: 4 }, new Set()) : null;
  return (await decide(intent, snapshot, engine, settings, clock, identity)).decision;
}

beforeAll(async () => {
  const bundle = await buildBundle({ opaPath: await ensureOpa(), policyDir: join(projectRoot, 'policies') });
  engine = await PolicyEngine.load(bundle.bytes, { version: '1' });
  const signer = await certifiedSigner(await generateSigningKey('root'), 'k1', { principal: 'ig', uses: ['warrant', 'approval-request', 'receipt'], receiptKinds: ['decision'] });
  settings = { issuer: 'ig', producer: 'ig/test', warrantTtlSeconds: 30, policyTimeoutMicros: 1_000_000, defaultApprovalDeadlineSeconds: 300, approvalDeadlineCapSeconds: 60, signer };
  idKey = await generateSigningKey(`${TD}-1`);
  bundles = new Map([[TD, jwksOf([idKey])]]);
}, 600_000);

describe('lies in the loosening direction (Wasm policy, identity check)', () => {
  it('tells a lie for every field of the trust inventory a caller writes', () => {
    const told = new Set(LIES.map((l) => l.field));
    const untold = TRUST_INVENTORY.filter((r) => r.writtenBy === 'caller' && !told.has(r.field)).map((r) => r.field);
    expect(untold, 'caller-written fields without a lie in test/harness/lies.ts').toEqual([]);
  });

  for (const lie of LIES) {
    it(`${lie.field}: ${lie.says}`, async () => {
      const decision = await decided(lie, lie.intent(AGENT, `lies.${lie.field}`), snapshotOf(lie));
      expect(lie.verdicts, JSON.stringify(decision.reasons)).toContain(decision.verdict);
      for (const code of lie.codes) expect(decision.reasons.map((r) => r.code)).toContain(code);
      if (lie.anyOf) expect(decision.reasons.map((r) => r.code).filter((c) => lie.anyOf!.includes(c)), JSON.stringify(decision.reasons)).not.toEqual([]);
    });
  }

  it('the honest twin of each policy lie is allowed or decided the same way a reviewer would see it (the lie is what is caught)', async () => {
    // The delete called reversible, told honestly from a user: escalated by the catalog, not denied for the lie.
    const honest = LIES.find((l) => l.field === 'intent.action.reversible')!.intent(AGENT, 'lies.honest');
    const fromUser = { ...honest, session: { ...honest.session, request_source: 'user' }, resource: { type: 'table', id: 'lies.honest', properties: { sensitivity: 'confidential' as const } } };
    const decision = await decided({ ...LIES[0]!, identity: undefined } as Lie, fromUser, snapshotOf({ store: {} } as Lie));
    expect(decision.verdict).toBe('escalate');
    expect(decision.reasons.map((r) => r.code)).toEqual(['IRREVERSIBLE_HIGH_IMPACT', 'REVERSIBLE_CLAIM_OVERRULED']);
  });

  it('an agent the registry does not know, or has suspended, is denied whatever it says', async () => {
    const intent = LIES.find((l) => l.field === 'intent.action.name')!.intent(AGENT, 'lies.registry');
    const query = { ...intent, action: { name: 'data.query', domain: 'data' as const, reversible: true } };
    const unknown = await decided({ store: {} } as Lie, query, { ...snapshotOf({ store: {} } as Lie), agent: { revoked: false, registered: false, status: null, owner: null, autonomy: null, domains: [], actions: [], revision: null } });
    expect(unknown.verdict).toBe('deny');
    expect(unknown.reasons.map((r) => r.code)).toEqual(expect.arrayContaining([...REGISTRY_LIES.unregistered.codes]));
    const base = snapshotOf({ store: {} } as Lie);
    const suspended = await decided({ store: {} } as Lie, query, { ...base, agent: { ...base.agent, status: 'suspended' } });
    expect(suspended.verdict).toBe('deny');
    expect(suspended.reasons.map((r) => r.code)).toEqual(expect.arrayContaining([...REGISTRY_LIES.suspended.codes]));
  });
});
