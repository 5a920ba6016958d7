/**
 * The trust inventory: every field of the policy input the starter policy reads, and why policy
 * may rely on it. Nothing an agent writes may loosen a decision, so each caller-written field is
 * verified (a signature), looked up (a store the agent cannot write), bound (it is the request
 * itself: the warrant's digest covers it and the executor acts on it and nothing else),
 * tighten-only (a claim that can only make the decision stricter), or asserted by the agent
 * platform through its own credential (never by the model; an unknown value tightens).
 *
 * A unit test reads the policy's Rego and fails for a field it reads without a row here; the
 * enumerating tests lie in the loosening direction for every caller-written row.
 */
export const TRUST_CLASSES = ['verified', 'looked-up', 'bound', 'tighten-only', 'platform-asserted', 'service'] as const;
export type TrustClass = (typeof TRUST_CLASSES)[number];

export interface TrustRow {
  /** The field as the policy reads it, from the policy input's root (`intent.…`, `context.…`). */
  readonly field: string;
  readonly trust: TrustClass;
  /** Who writes it: the agent (or its platform), or a store / service the agent cannot write. */
  readonly writtenBy: 'caller' | 'store' | 'service';
  /** Where the fact policy decides on comes from, and what happens to the caller's word. */
  readonly basis: string;
  /** The lie in the loosening direction, and how it ends (what the enumerating tests do). */
  readonly lie: string | null;
}

export const TRUST_INVENTORY: readonly TrustRow[] = Object.freeze([
  { field: 'intent.subject.id', trust: 'verified', writtenBy: 'caller', basis: 'the JWT-SVID\'s subject (identity on); also the key of the registry lookup', lie: 'an agent names another agent: SUBJECT_MISMATCH (its SVID is its own); an id nobody registered: AGENT_UNKNOWN' },
  { field: 'intent.delegation', trust: 'verified', writtenBy: 'caller', basis: 'the delegation tokens, origin first (identity on); the stated chain must equal the verified one', lie: 'a wider scope than the tokens grant: DELEGATION_MISMATCH' },
  { field: 'intent.subject.properties.autonomy', trust: 'tighten-only', writtenBy: 'caller', basis: 'the agent registry\'s autonomy; the intent may only claim more autonomy', lie: 'an autonomous agent calls itself supervised to read restricted data: RESTRICTED_DATA, AUTONOMY_CLAIM_OVERRULED' },
  { field: 'intent.action.name', trust: 'looked-up', writtenBy: 'caller', basis: 'the action catalog (in the bundle): an action not in it is denied; the name is also what the executor runs', lie: 'an action the catalog does not list: UNKNOWN_ACTION' },
  { field: 'intent.action.domain', trust: 'tighten-only', writtenBy: 'caller', basis: 'the catalog\'s domain for the action; any other value denies', lie: 'a data.delete named as an app action: ACTION_DOMAIN_MISMATCH' },
  { field: 'intent.action.reversible', trust: 'tighten-only', writtenBy: 'caller', basis: 'the catalog\'s reversibility; the intent may only call an action irreversible', lie: 'a delete called reversible, asked by a tool output: TAINTED_SOURCE, REVERSIBLE_CLAIM_OVERRULED' },
  { field: 'intent.resource.id', trust: 'bound', writtenBy: 'caller', basis: 'the target itself: covered by the warrant\'s intent digest, the only thing the executor acts on; the key of the label lookup', lie: 'a tool the catalog does not list: TOOL_NOT_ALLOWED' },
  { field: 'intent.resource.type', trust: 'bound', writtenBy: 'caller', basis: 'with the id, the resource\'s identity: the key of the label lookup (exactly as written) and the only resource the executor acts on (exactly: any other is refused)', lie: 'a labelled table named by another type, to miss its label: at least confidential, IRREVERSIBLE_HIGH_IMPACT' },
  { field: 'intent.resource.properties.sensitivity', trust: 'tighten-only', writtenBy: 'caller', basis: 'the context store\'s label, else a floor (confidential); the intent may only raise it', lie: 'a restricted table called public: RESTRICTED_DATA' },
  { field: 'intent.resource.properties.environment', trust: 'tighten-only', writtenBy: 'caller', basis: 'the context store\'s label, else production; the intent may only say production', lie: 'a production service called staging by an autonomous agent: AUTONOMOUS_PRODUCTION_CHANGE (escalated)' },
  { field: 'intent.context', trust: 'bound', writtenBy: 'caller', basis: 'the action\'s arguments (rows, config, body, arguments): covered by the warrant\'s digest; those the catalog says bind the action must be stated', lie: 'a delete without rows (the executor would pick a number): ACTION_ARGUMENT_MISSING' },
  { field: 'intent.session.id', trust: 'platform-asserted', writtenBy: 'caller', basis: 'chosen by the agent platform; keys the session\'s history, and the agent\'s own history across sessions bounds it', lie: 'a new session per export: AGENT_EXPORT_BUDGET_EXCEEDED once the agent\'s budget is spent' },
  { field: 'intent.session.request_source', trust: 'platform-asserted', writtenBy: 'caller', basis: 'set by the agent platform from where the request came (never by the model); an unknown or missing value tightens', lie: 'a source the policy does not know: UNKNOWN_SOURCE' },
  { field: 'intent.session.workflow_step', trust: 'platform-asserted', writtenBy: 'caller', basis: 'set by the agent platform\'s workflow (never by the model); writes only from listed steps, so an unknown step tightens', lie: 'a write from a step not listed: METHOD_NOT_PERMITTED' },
  { field: 'context.agent', trust: 'looked-up', writtenBy: 'store', basis: 'the agent registry (agents.registry, operator-signed) and revocations, in the context store', lie: null },
  { field: 'context.resource.sensitivity', trust: 'looked-up', writtenBy: 'store', basis: 'the resource catalog (resources.labels, operator-signed), in the context store', lie: null },
  { field: 'context.resource.environment', trust: 'looked-up', writtenBy: 'store', basis: 'the resource catalog (resources.labels, operator-signed), in the context store', lie: null },
  { field: 'context.session.exported_rows', trust: 'looked-up', writtenBy: 'store', basis: 'the session\'s history, counted by the decision workers from their own decisions', lie: null },
  { field: 'context.usage', trust: 'looked-up', writtenBy: 'store', basis: 'the agent\'s history across all its sessions, counted the same way', lie: null },
  { field: 'context.revoked', trust: 'looked-up', writtenBy: 'store', basis: 'identity.revocations, applied to the context store', lie: null },
  { field: 'context.now', trust: 'service', writtenBy: 'service', basis: 'the decision worker\'s clock, recorded in the input for replay', lie: null },
] satisfies TrustRow[]);

/** The README's trust table, generated from the inventory (a unit test keeps the copies equal). */
export function trustTable(inventory: readonly TrustRow[] = TRUST_INVENTORY): string {
  const rows = inventory.map((r) => `| \`${r.field}\` | ${r.trust} | ${r.basis} | ${r.lie ?? '–'} |`);
  return ['| field policy reads | trust | what policy decides on | the lie, and how it ends |', '|---|---|---|---|', ...rows].join('\n');
}
