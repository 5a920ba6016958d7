// Turning one intent into its decision and the records that carry it. Pure apart from the
// clock, ids and the signing key, which are passed in, so the worker stays thin and this
// logic is tested without servers.
import { randomUUID } from 'node:crypto';
import { approvedTopic, JSON_REFUSAL_CODES, SENSITIVITY_LEVELS, type ApprovalBasis, type Decision, type DeadLetter, type Intent, type Reason } from '@intentgate/contracts';
import { canonicalJson, digestOf, sha256Hex, signWarrant, withSignature, type CertifiedSigner } from '@intentgate/evidence';
import { decideWith, PolicyError, wasmEvaluator, type Outcome, type PolicyEngine, type PolicyEvaluator } from '@intentgate/policy';
import type { ContextSnapshot } from '@intentgate/context';
import { IdentityError } from '@intentgate/evidence';
import type { VerifiedIdentity } from './identity.ts';
import type { OutgoingRecord } from '@intentgate/bus';

export interface DecideSettings {
  issuer: string;
  /** Names the receipts' producer: the signer's principal, then this instance. */
  producer: string;
  warrantTtlSeconds: number;
  policyTimeoutMicros: number;
  defaultApprovalDeadlineSeconds: number;
  /** Upper bound on any escalation deadline (the demo and tests use short ones). */
  approvalDeadlineCapSeconds: number;
  /** The worker's certified key: signs warrants, escalations and receipts. */
  signer: CertifiedSigner;
  /** Who runs the policy; the active engine's own Wasm instance when absent. */
  evaluator?: PolicyEvaluator;
}

export interface Clock {
  now(): number;
}

export interface PolicyInput {
  /** The intent, without its credentials (the verified identity below stands for them). */
  intent: Omit<Intent, 'credentials'>;
  context: Omit<ContextSnapshot, 'synced_at'> & { now: { unix_ms: number; hour_utc: number; weekday: number } };
  /** Present when identity is configured: the verified subject and chain (principals, scopes, key ids). */
  identity?: VerifiedIdentity;
}

export function policyInputOf(intent: Intent, snapshot: ContextSnapshot, nowMs: number, identity: VerifiedIdentity | null = null): PolicyInput {
  const now = new Date(nowMs);
  const { synced_at: _synced, ...context } = snapshot;
  const { credentials: _credentials, ...plain } = intent;
  return {
    intent: plain,
    context: { ...context, now: { unix_ms: nowMs, hour_utc: now.getUTCHours(), weekday: now.getUTCDay() } },
    ...(identity ? { identity } : {}),
  };
}

/**
 * RFC 8785 text of a policy input, given its intent's canonical text (so the intent, already
 * canonicalized for intent_digest, is not serialized twice). JCS orders members by UTF-16 code
 * units: "context" < "identity" < "intent". Equal to canonicalJson(input) (tested).
 */
export function canonicalInputJson(input: PolicyInput, intentJson: string): string {
  const identity = input.identity ? `,"identity":${canonicalJson(input.identity)}` : '';
  return `{"context":${canonicalJson(input.context)}${identity},"intent":${intentJson}}`;
}

export interface Decided {
  decision: Decision;
  records: OutgoingRecord[];
  /** Rows this decision authorizes to leave (allowed data exports), for the session's history. */
  exportedRows: number;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function denyWithout(intent: Intent, reason: Reason, nowMs: number): Decision {
  return {
    decision_id: randomUUID(), intent_id: intent.intent_id, intent_digest: digestOf(intent), verdict: 'deny', final: true,
    reasons: [reason], obligations: {}, policy: null, input_digest: null, decided_at: iso(nowMs),
  };
}

function receipt(kind: 'decision', intentId: string, body: Record<string, unknown>, settings: DecideSettings, nowMs: number): OutgoingRecord {
  return {
    topic: 'receipts',
    key: intentId,
    value: withSignature(settings.signer.key, 'Receipt', { receipt_id: randomUUID(), kind, intent_id: intentId, body, producer: settings.producer, produced_at: iso(nowMs) }),
  };
}

/** The decision as published: signed by the worker, so nobody else's decision is taken for its. */
function sealed(decision: Decision, settings: DecideSettings): Decision {
  const { signature: _previous, ...unsigned } = decision;
  // The certificate travels in the signature: agents verify a decision with the roots alone.
  return withSignature(settings.signer.key, 'Decision', unsigned, settings.signer.certificate);
}

type Sensitivity = (typeof SENSITIVITY_LEVELS)[number];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A path into the bundle's data document (undefined where any step is missing). */
function dataAt(data: Readonly<Record<string, unknown>> | undefined, ...path: string[]): unknown {
  let at: unknown = data;
  for (const step of path) at = isObject(at) ? at[step] : undefined;
  return at;
}

/**
 * What the decision was made on, for reviewers: the agent registry's facts and the resource's
 * effective labels, worked out as the policy does (common.rego effective_sensitivity and
 * environment) from the store's labels, the bundle's floors and the intent's claims (which may
 * only make them stricter); and the context keys the action catalog says bind the action.
 */
const AUTONOMY_RANK: Readonly<Record<string, number>> = { assisted: 0, supervised: 1, autonomous: 2 };

/** The more autonomous of the registry's and the claim; null when the registry's is not one the policy knows (it denies then). */
function effectiveAutonomy(registered: string | null, claimed: string): string | null {
  const r = registered === null ? undefined : AUTONOMY_RANK[registered];
  if (r === undefined) return null;
  return (AUTONOMY_RANK[claimed] ?? -1) > r ? claimed : registered;
}

export function basisOf(intent: Intent, input: PolicyInput, bundleData?: Readonly<Record<string, unknown>>): ApprovalBasis {
  const { agent, resource } = input.context;
  const floor = dataAt(bundleData, 'intentgate', 'config', 'unlabelled', 'sensitivity');
  const floorSensitivity: Sensitivity = SENSITIVITY_LEVELS.includes(floor as Sensitivity) ? (floor as Sensitivity) : 'confidential';
  const floorEnvironment = dataAt(bundleData, 'intentgate', 'config', 'unlabelled', 'environment');
  // As the policy reads it: a label it does not know is the strictest, not none.
  const stored: Sensitivity = resource.sensitivity === null ? floorSensitivity : SENSITIVITY_LEVELS.includes(resource.sensitivity) ? resource.sensitivity : 'restricted';
  const claimed = intent.resource.properties.sensitivity;
  const rank = (s: Sensitivity) => SENSITIVITY_LEVELS.indexOf(s);
  const environment = intent.resource.properties.environment === 'production' ? 'production'
    : resource.environment ?? (typeof floorEnvironment === 'string' ? floorEnvironment : 'production');
  const binds = dataAt(bundleData, 'intentgate', 'catalog', 'actions', intent.action.name, 'binds');
  // As the policy reads it (common.catalog_fact): per-tool actions from their tool's entry.
  const perTool = dataAt(bundleData, 'intentgate', 'catalog', 'actions', intent.action.name, 'per_tool') === 'mcp_tools';
  const catalogReversible = perTool
    ? dataAt(bundleData, 'intentgate', 'catalog', 'mcp_tools', intent.resource.id, 'reversible')
    : dataAt(bundleData, 'intentgate', 'catalog', 'actions', intent.action.name, 'reversible');
  return {
    action: { reversible: catalogReversible === true && intent.action.reversible },
    // The autonomy decided on, as the policy reads it (common.effective_autonomy): the registry's, or the agent's if it claims more.
    agent: agent.registered ? { autonomy: effectiveAutonomy(agent.autonomy, intent.subject.properties.autonomy), owner: agent.owner || null } : null,
    resource: { sensitivity: rank(claimed) > rank(stored) ? claimed : stored, environment, labelled: resource.sensitivity !== null },
    binds: Array.isArray(binds) ? binds.filter((k): k is string => typeof k === 'string' && k.length > 0 && k.length <= 256).slice(0, 64) : [],
  };
}

/** The decision's records: the decision itself, the approved intent or approval request, the receipt. */
function recordsOf(intent: Intent, decision: Decision, input: PolicyInput | null, outcome: Outcome | null, settings: DecideSettings, nowMs: number, bundleData?: Readonly<Record<string, unknown>>): OutgoingRecord[] {
  const out: OutgoingRecord[] = [{ topic: 'decisions', key: intent.session.id, value: decision }];
  if (decision.verdict === 'allow') {
    out.push({ topic: approvedTopic(intent.action.domain), key: intent.intent_id, value: { intent, decision, warrant: decision.warrant } });
  }
  if (decision.verdict === 'escalate') {
    const approval = (decision.obligations.approval ?? {}) as { quorum?: unknown; deadline_seconds?: unknown; reviewers?: unknown };
    const asked = typeof approval.deadline_seconds === 'number' && approval.deadline_seconds > 0 ? approval.deadline_seconds : settings.defaultApprovalDeadlineSeconds;
    const seconds = Math.min(asked, settings.approvalDeadlineCapSeconds);
    // Only a policy escalates, so there is an input; the basis is what it decided on.
    const basis = input ? basisOf(intent, input, bundleData) : null;
    out.push({
      topic: 'approvals.requests',
      key: intent.intent_id,
      value: withSignature(settings.signer.key, 'ApprovalRequest', {
        intent_id: intent.intent_id, decision_id: decision.decision_id, intent, intent_digest: decision.intent_digest,
        reasons: decision.reasons, quorum: typeof approval.quorum === 'number' && approval.quorum >= 1 ? approval.quorum : 1,
        reviewers: Array.isArray(approval.reviewers) ? approval.reviewers.filter((r): r is string => typeof r === 'string' && r.length > 0).slice(0, 64) : [],
        deadline: iso(nowMs + seconds * 1000), requested_at: iso(nowMs),
        ...(decision.policy ? { policy: decision.policy } : {}),
        sensitivity: basis?.resource.sensitivity ?? intent.resource.properties.sensitivity,
        ...(basis ? { basis } : {}),
      }),
    });
  }
  out.push(receipt('decision', intent.intent_id, {
    decision,
    input,
    policy: decision.policy,
    evaluation_micros: outcome?.evaluationMicros ?? null,
  }, settings, nowMs));
  return out;
}

/** Rows a decision lets leave: the stated size of an allowed data export. */
export function exportedRowsOf(intent: Pick<Intent, 'action' | 'context'>, verdict: Decision['verdict']): number {
  const rows = intent.context.rows;
  // Whole rows only, never negative (the policy denies any other size; this holds even if it did not).
  return verdict === 'allow' && intent.action.name === 'data.export' && Number.isSafeInteger(rows) && (rows as number) > 0 ? (rows as number) : 0;
}

/** Decides one intent with the engine and context snapshot in hand. Never throws for a policy problem. */
export async function decide(
  intent: Intent,
  snapshot: ContextSnapshot | Error,
  engine: PolicyEngine | PolicyError | null,
  settings: DecideSettings,
  clock: Clock,
  /** The verified identity (null when identity is not configured), or why it failed. */
  identity: VerifiedIdentity | IdentityError | null = null,
): Promise<Decided> {
  const nowMs = clock.now();
  if (snapshot instanceof Error) {
    const decision = sealed(denyWithout(intent, { code: 'CONTEXT_UNAVAILABLE', rule: 'intentgate.context', message: snapshot.message }, nowMs), settings);
    return { decision, records: recordsOf(intent, decision, null, null, settings, nowMs), exportedRows: 0 };
  }
  if (identity instanceof IdentityError) {
    const decision = sealed(denyWithout(intent, { code: identity.code, rule: 'intentgate.identity', message: identity.message }, nowMs), settings);
    return { decision, records: recordsOf(intent, decision, null, null, settings, nowMs), exportedRows: 0 };
  }
  const input = policyInputOf(intent, snapshot, nowMs, identity);
  // The canonical text is hashed for input_digest and is also what the policy reads: one serialization.
  const intentJson = canonicalJson(intent);
  const inputJson = canonicalInputJson(input, intent.credentials === undefined ? intentJson : canonicalJson(input.intent));
  const outcome = await decideWith(settings.evaluator ?? wasmEvaluator, engine, input, inputJson, settings.policyTimeoutMicros);
  const decision: Decision = {
    decision_id: randomUUID(),
    intent_id: intent.intent_id,
    intent_digest: sha256Hex(intentJson),
    verdict: outcome.verdict,
    final: outcome.verdict !== 'escalate',
    reasons: outcome.reasons,
    obligations: outcome.obligations,
    policy: outcome.policy,
    input_digest: sha256Hex(inputJson),
    decided_at: iso(nowMs),
  };
  if (decision.verdict === 'allow') {
    try {
      decision.warrant = await signWarrant(settings.signer.key, {
        issuer: settings.issuer, decisionId: decision.decision_id, intentId: intent.intent_id,
        intentDigest: decision.intent_digest, domain: intent.action.domain, ttlSeconds: settings.warrantTtlSeconds,
        now: Math.floor(nowMs / 1000),
      });
    } catch (err) {
      Object.assign(decision, {
        verdict: 'deny', obligations: {},
        reasons: [{ code: 'WARRANT_SIGNING_FAILED', rule: 'intentgate.warrant', message: (err as Error).message }],
      });
    }
  }
  const signed = sealed(decision, settings);
  const bundleData = engine !== null && !(engine instanceof PolicyError) ? engine.data : undefined;
  return { decision: signed, records: recordsOf(intent, signed, input, outcome, settings, nowMs, bundleData), exportedRows: exportedRowsOf(intent, signed.verdict) };
}

/** Dead-letter reasons that say the message itself broke the contract; any other is a failure on its way through. */
const CONTRACT_REFUSALS: ReadonlySet<string> = new Set(['UNDECODABLE', 'SCHEMA_UNKNOWN', 'SCHEMA_INVALID', ...JSON_REFUSAL_CODES]);

/**
 * A final deny for an intent whose message went to the DLQ: INTENT_INVALID when it broke the
 * contract, INTENT_UNPROCESSABLE when a well-formed intent failed in the decision path (the
 * letter's reason, in the message, says where).
 */
export function denyDeadLetter(letter: DeadLetter, settings: DecideSettings, clock: Clock): OutgoingRecord[] {
  if (letter.intent_id === null) return [];
  const nowMs = clock.now();
  const raw = letter.original.value === null ? Buffer.alloc(0) : Buffer.from(letter.original.value, 'base64');
  // Of an original too large to carry whole, the letter keeps the digest of all its bytes.
  const rawDigest = letter.original.truncated?.value_sha256 ?? sha256Hex(raw);
  const decision: Decision = sealed({
    decision_id: randomUUID(), intent_id: letter.intent_id,
    // The intent could not be read as an Intent, so its digest is that of the bytes received.
    intent_digest: rawDigest, verdict: 'deny', final: true,
    reasons: [CONTRACT_REFUSALS.has(letter.reason.code)
      ? { code: 'INTENT_INVALID', rule: 'intentgate.contract', message: `${letter.reason.code}: ${letter.reason.message}`.slice(0, 2048) }
      : { code: 'INTENT_UNPROCESSABLE', rule: 'intentgate.containment', message: `${letter.reason.code}: ${letter.reason.message}`.slice(0, 2048) }],
    obligations: {}, policy: null, input_digest: null, decided_at: iso(nowMs),
  }, settings);
  const key = letter.original.key === null || letter.original.truncated ? letter.intent_id : Buffer.from(letter.original.key, 'base64').toString('utf8');
  return [
    { topic: 'decisions', key, value: decision },
    receipt('decision', letter.intent_id, { decision, input: null, dead_letter: { topic: letter.original.topic, offset: letter.original.offset, reason: letter.reason } }, settings, nowMs),
  ];
}

/**
 * A final deny for an intent that reuses another intent's id (a different digest): the id is
 * the idempotency key, so the earlier decision is not handed to a different action.
 */
export function denyConflict(intent: Intent, previous: Decision, settings: DecideSettings, clock: Clock): Decided {
  const nowMs = clock.now();
  const decision = sealed(denyWithout(intent, {
    code: 'INTENT_ID_CONFLICT', rule: 'intentgate.idempotency',
    message: `intent_id ${intent.intent_id} was decided before (decision ${previous.decision_id}) for another intent; submit a new action under a new intent_id`,
  }, nowMs), settings);
  return { decision, records: recordsOf(intent, decision, null, null, settings, nowMs), exportedRows: 0 };
}

/** Why an intent was not admitted: the worker or the executors of its domain are behind their bound. */
export interface Overload {
  message: string;
  retryAfterMs: number;
}

/**
 * A fast final deny for an intent not admitted (OVERLOADED): no context read counts, no policy
 * runs; the obligations say when to try again. A retry is a new intent (this one is decided).
 */
export function denyOverloaded(intent: Intent, overload: Overload, settings: DecideSettings, clock: Clock): Decided {
  const nowMs = clock.now();
  const decision = sealed({
    ...denyWithout(intent, { code: 'OVERLOADED', rule: 'intentgate.admission', message: overload.message }, nowMs),
    obligations: { retry_after_ms: overload.retryAfterMs },
  }, settings);
  return { decision, records: recordsOf(intent, decision, null, null, settings, nowMs), exportedRows: 0 };
}

