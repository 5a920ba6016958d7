// Decision equivalence of two versions of the policy: the Rego of a git ref (default main)
// against the working tree's policies/, both built to Wasm with `opa build -t wasm`, evaluated
// on one corpus of inputs. For each input the two must give the same outcome: the same raw
// result (opa-wasm's evaluate, re-serialized: verdict, every reason, their order,
// obligations) and the same PolicyEngine outcome (the checked result, or the PolicyError
// code it throws). Exits 1 on the first few differences, printing them.
//
// The corpus: the benchmark's seeded intent mix (bench/pipeline/intents.ts, many seeds, with
// varied context), the inputs of policies/intentgate/decision_test.rego, a product of the
// common dimensions (reversible × claimed × stored sensitivity × source × revocations ×
// delegation chain shapes, one combination in eight) over per-domain bases, the same bases
// with every common guard passing (for the escalation and allow paths), every field of the
// bases removed or replaced by values of the wrong type, random multi-field mutations, and
// junk inputs.
//
// Usage: node bench/policy-equivalence.ts [--ref main] [--scale 1]
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { ensureOpa, projectRoot } from '@intentgate/infra';
import { buildBundle, PolicyEngine, PolicyError, readBundle } from '@intentgate/policy';
import { prng, RESOURCE_LABELS, stepIntents } from './pipeline/intents.ts';

const { values: args } = parseArgs({ options: { ref: { type: 'string', default: 'main' }, scale: { type: 'string', default: '1' } } });
const SCALE = Number(args.scale);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };
const clone = <T>(x: T): T => structuredClone(x);

// --- the corpus ---------------------------------------------------------------------------

const AGENT = 'spiffe://example.org/agents/helper';
const HUMAN = 'alice@example.org';

function intentOf(domain: Json, name: Json, reversible: Json, resource: Json, extra: Partial<Obj> = {}): Obj {
  return {
    intent_id: '3b241101-e2bb-4255-8caf-4136c566a962',
    submitted_at: '2026-11-23T12:00:00Z',
    subject: { type: 'agent', id: AGENT, properties: { autonomy: 'supervised' } },
    delegation: [
      { principal: HUMAN, kind: 'human', scope: ['*'] },
      { principal: AGENT, kind: 'agent', scope: [`${typeof domain === 'string' ? domain : 'x'}:*`] },
    ],
    session: { id: 's1', workflow_step: 'reconcile', request_source: 'user' },
    action: { name, domain, reversible },
    resource,
    context: {},
    ...extra,
  } as Obj;
}

const REGISTERED: Obj = { revoked: false, registered: true, status: 'active', owner: 'alice@example.org', autonomy: 'assisted', domains: ['app', 'data', 'infra', 'ai'], actions: ['*'], revision: 1 };

function contextOf(over: Partial<Obj> = {}): Obj {
  return {
    now: { unix_ms: 1_795_000_000_000, hour_utc: 12, weekday: 2 },
    session: { exported_rows: 0, actions: 0, denied: 0 },
    resource: { sensitivity: null, environment: null },
    agent: REGISTERED,
    revoked: [],
    ...over,
  } as Obj;
}

const table = (s: Json, id = 'billing.invoices'): Obj => ({ type: 'table', id, properties: { sensitivity: s } });
const service = (env: Json, s: Json = 'internal'): Obj => ({ type: 'service', id: 'payments-api', properties: env === undefined ? { sensitivity: s } : { sensitivity: s, environment: env } });
const endpoint = (url: Json, s: Json = 'internal'): Obj => ({ type: 'http_endpoint', id: url, properties: { sensitivity: s } });
const tool = (id: Json, s: Json = 'internal'): Obj => ({ type: 'mcp_tool', id, properties: { sensitivity: s } });

/** Per-domain starting points: actions, resources and intent context that reach each rule. */
function bases(): Array<{ label: string; intent: Obj; context: Obj }> {
  const out: Array<{ label: string; intent: Obj; context: Obj }> = [];
  const add = (label: string, intent: Obj, context: Obj = contextOf()) => out.push({ label, intent, context });
  for (const name of ['data.query', 'data.export', 'data.delete', 'data.drop']) {
    for (const rows of [undefined, 10, 5000, '10']) {
      if (rows !== undefined && name !== 'data.export' && rows !== 10) continue;
      add(`data ${name} rows=${rows}`, intentOf('data', name, true, table('confidential'), rows === undefined ? {} : { context: { rows } }));
    }
  }
  add('data export near budget', intentOf('data', 'data.export', true, table('confidential'), { context: { rows: 100 } }), contextOf({ session: { exported_rows: 900, actions: 3, denied: 0 } }));
  add('data export at budget', intentOf('data', 'data.export', true, table('confidential'), { context: { rows: 100 } }), contextOf({ session: { exported_rows: 901, actions: 3, denied: 0 } }));
  for (const name of ['http.get', 'http.head', 'http.post', 'http.delete', 'http.options', 'HTTP.GET']) {
    for (const url of ['http://127.0.0.1:8080/orders', 'https://API.example.internal/x?y=1', 'https://evil.example.com/x', 'ftp://localhost/x']) {
      add(`app ${name} ${url}`, intentOf('app', name, true, endpoint(url)));
    }
  }
  add('app post from checkout', intentOf('app', 'http.put', true, endpoint('http://localhost/orders'), { session: { id: 's1', workflow_step: 'checkout', request_source: 'user' } }));
  add('app post from research', intentOf('app', 'http.patch', true, endpoint('http://localhost/orders'), { session: { id: 's1', workflow_step: 'research', request_source: 'user' } }));
  for (const name of ['infra.restart', 'infra.config.change', 'infra.scale', 'infra.delete', 'infra.reboot']) {
    for (const env of ['production', 'staging', undefined]) add(`infra ${name} ${env}`, intentOf('infra', name, true, service(env as Json)));
  }
  add('infra production at 8', intentOf('infra', 'infra.scale', true, service('production')), contextOf({ now: { unix_ms: 1, hour_utc: 8, weekday: 1 } }));
  add('infra production at 18', intentOf('infra', 'infra.scale', true, service('production')), contextOf({ now: { unix_ms: 1, hour_utc: 18, weekday: 5 } }));
  add('infra production on sunday', intentOf('infra', 'infra.scale', true, service('production')), contextOf({ now: { unix_ms: 1, hour_utc: 12, weekday: 0 } }));
  for (const id of ['demo/search', 'demo/write_note', 'demo/rm_rf']) add(`ai mcp ${id}`, intentOf('ai', 'mcp.tool.call', true, tool(id)));
  add('ai a2a', intentOf('ai', 'a2a.call', true, tool('agent/planner')));
  add('ai unknown', intentOf('ai', 'ai.train', true, tool('demo/search')));
  for (const d of ['crypto', '', 'DATA', 'intentgate']) add(`unknown domain ${d}`, intentOf(d, 'data.query', true, table('public')));
  return out;
}

const SENSITIVITIES: Json[] = ['public', 'internal', 'confidential', 'restricted', null, 'secret'];
const SOURCES: Json[] = ['user', 'workflow', 'schedule', 'tool_output', 'web_content', 'agent_message', 'email'];

/** Delegation chain shapes, for an action in `domain` named `name`, acted by `agent`. */
function chains(domain: string, name: string, agent: string): Array<[string, Json]> {
  const h = (scope: Json, principal: Json = HUMAN) => ({ principal, kind: 'human', scope });
  const a = (scope: Json, principal: Json = agent, kind: Json = 'agent') => ({ principal, kind, scope });
  const svc = { principal: 'svc', kind: 'service', scope: ['*'] };
  return [
    ['normal', [h(['*']), a([`${domain}:*`])]],
    ['empty', []],
    ['agent only', [a(['*'])]],
    ['wrong last principal', [h(['*']), a([`${domain}:*`], 'spiffe://example.org/agents/other')]],
    ['last is human', [h(['*']), a([`${domain}:*`], agent, 'human')]],
    ['agent first', [a([`${domain}:*`]), h(['*'])]],
    ['exact scope', [h([`${domain}:${name}`]), a([`${domain}:${name}`])]],
    ['other action scope', [h(['*']), a([`${domain}:other`])]],
    ['other domain wildcard', [h(['*']), a(['zzz:*'])]],
    ['out of scope first hop', [h(['zzz:*']), a(['*'])]],
    ['both hops out of scope', [h(['zzz:*'], 'bob@example.org'), a(['yyy:*'])]],
    ['empty scopes', [h([]), a([])]],
    ['deep 4', [svc, svc, svc, h(['*']), a(['*'])]],
    ['deep 5', [svc, { ...svc, principal: 'svc2' }, svc, svc, h(['*']), a(['*'])]],
    ['scope is a string', [h('*'), a(`${domain}:*`)]],
    ['scope is an object', [h({ x: '*' }), a({ y: `${domain}:*` })]],
    ['no scope', [{ principal: HUMAN, kind: 'human' }, { principal: agent, kind: 'agent' }]],
    ['hop is a string', ['alice', a(['*'])]],
    ['chain is an object', { a: h(['*']), b: a(['*']) }],
    ['chain is a string', 'alice'],
  ];
}

const REVOCATIONS: Array<[string, Partial<Obj>]> = [
  ['none', {}],
  ['agent revoked', { agent: { ...REGISTERED, revoked: true } }],
  ['principal revoked', { revoked: [HUMAN] }],
  ['two revoked', { revoked: [HUMAN, AGENT], agent: { ...REGISTERED, revoked: true } }],
  ['agent revoked missing', { agent: {} }],
  ['revoked is a string', { revoked: 'alice' }],
  ['revoked is an object', { revoked: { a: HUMAN } }],
];

/** A value of every JSON type, and a few that sit on a rule's boundaries. */
const WEIRD: Array<Json | undefined> = [undefined, null, true, false, 0, 1, -1, 2.5, 1e300, '', 'x', '*', 'production', 'restricted', [], {}, ['*'], [1], { a: 1 }];

/** Every path of a JSON value (objects and arrays), parents before children. */
function paths(v: Json, at: Array<string | number> = []): Array<Array<string | number>> {
  if (v === null || typeof v !== 'object') return [];
  const keys: Array<string | number> = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
  return keys.flatMap((k) => [[...at, k], ...paths((v as Record<string | number, Json>)[k]!, [...at, k])]);
}

function setPath(root: Obj, path: Array<string | number>, value: Json | undefined): Obj {
  const out = clone(root);
  let o = out as Record<string | number, Json>;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, Json>;
  const last = path.at(-1)!;
  if (value === undefined) {
    if (Array.isArray(o)) o.splice(last as number, 1);
    else delete o[last];
  } else o[last] = value;
  return out;
}

function* corpus(): Generator<[string, unknown]> {
  // 1. The benchmark's intent mix, over many seeds, with contexts the store could hold.
  const labels = new Map(RESOURCE_LABELS.map(([, id, label]) => [id, label]));
  for (let seed = 1; seed <= 300 * SCALE; seed++) {
    const r = prng(seed * 7919);
    for (const intent of stepIntents(seed, 100, `s${seed}-`)) {
      const roll = r();
      const context = contextOf({
        now: { unix_ms: 1_795_000_000_000, hour_utc: Math.floor(r() * 24), weekday: Math.floor(r() * 7) },
        session: { exported_rows: [0, 500, 900, 999, 1000, 50_000, 100_000, 1_000_000][Math.floor(r() * 8)]!, actions: 1, denied: 0 },
        resource: { sensitivity: roll < 0.7 ? (labels.get(intent.resource.id) ?? null) : SENSITIVITIES[Math.floor(r() * 5)]! },
        agent: { ...REGISTERED, revoked: r() < 0.05 },
        revoked: r() < 0.05 ? [intent.subject.id] : r() < 0.05 ? ['alice@bench.test', intent.subject.id] : [],
      });
      yield [`bench seed ${seed}`, { intent, context }];
    }
  }

  // 2. The inputs of decision_test.rego.
  for (const [label, input] of regoTestInputs()) yield [`rego test ${label}`, input];

  // 3. The common dimensions over every base (autonomy and the clock cycle along).
  let k = 0;
  for (const base of bases()) {
    const action = base.intent.action as Obj;
    const domain = typeof action.domain === 'string' ? action.domain : 'x';
    for (const reversible of [true, false]) {
      for (const claimed of SENSITIVITIES) {
        for (const stored of SENSITIVITIES) {
          for (const source of SOURCES) {
            for (const [rl, rev] of REVOCATIONS) {
              for (const [cl, chain] of chains(domain, String(action.name), AGENT)) {
                // One combination in eight (times --scale), picked by a hash so every value of every dimension occurs.
                if (((Math.imul(++k, 0x9e3779b1) >>> 0) / 4_294_967_296) >= SCALE / 8) continue;
                const intent = clone(base.intent);
                (intent.action as Obj).reversible = reversible;
                ((intent.resource as Obj).properties as Obj).sensitivity = claimed;
                (intent.session as Obj).request_source = source;
                intent.delegation = clone(chain);
                if (k % 3 === 0) ((intent.subject as Obj).properties as Obj).autonomy = 'autonomous';
                const context = { ...clone(base.context), resource: { sensitivity: stored }, ...clone(rev) } as Obj;
                if (k % 5 === 0) context.now = { unix_ms: 1, hour_utc: [3, 7, 8, 17, 18, 23][k % 6]!, weekday: k % 7 };
                yield [`product ${base.label} / rev=${reversible} claimed=${claimed} stored=${stored} source=${source} ${rl} / ${cl}`, { intent, context }];
              }
            }
          }
        }
      }
    }
  }

  // 3b. The same bases with every common guard passing, so that the escalation and allow paths
  // see every combination of reversibility, labels, autonomy and clock.
  for (const base of bases()) {
    for (const reversible of [true, false]) {
      for (const claimed of SENSITIVITIES) {
        for (const stored of SENSITIVITIES) {
          for (const autonomy of ['supervised', 'autonomous']) {
            for (const [hour, weekday] of [[12, 2], [23, 2], [12, 6]] as const) {
              const intent = clone(base.intent);
              (intent.action as Obj).reversible = reversible;
              ((intent.resource as Obj).properties as Obj).sensitivity = claimed;
              ((intent.subject as Obj).properties as Obj).autonomy = autonomy;
              const context = { ...clone(base.context), resource: { sensitivity: stored }, now: { unix_ms: 1, hour_utc: hour, weekday } } as Obj;
              yield [`guards pass ${base.label} / rev=${reversible} claimed=${claimed} stored=${stored} ${autonomy} ${hour}h day ${weekday}`, { intent, context }];
            }
          }
        }
      }
    }
  }

  // 4. Every field of every base removed or replaced by a value of another type.
  for (const base of bases()) {
    const input = { intent: base.intent, context: base.context } as Obj;
    for (const path of paths(input)) {
      for (const value of WEIRD) yield [`field ${base.label} ${path.join('.')} := ${JSON.stringify(value) ?? 'removed'}`, setPath(input, path, value)];
    }
  }

  // 5. Random mutations of two to five fields at once.
  const all = bases();
  const r = prng(20261123);
  for (let i = 0; i < 100_000 * SCALE; i++) {
    const base = all[Math.floor(r() * all.length)]!;
    let input = { intent: base.intent, context: base.context } as Obj;
    const n = 2 + Math.floor(r() * 4);
    const what: string[] = [];
    for (let j = 0; j < n; j++) {
      const ps = paths(input);
      if (ps.length === 0) break;
      const path = ps[Math.floor(r() * ps.length)]!;
      const pool: Array<Json | undefined> = [...WEIRD, ...SENSITIVITIES, ...SOURCES, 'data', 'app', 'infra', 'ai', 'data.export', 'mcp.tool.call', AGENT, HUMAN, 100, 1000, 100_001, 'autonomous'];
      const value = pool[Math.floor(r() * pool.length)];
      what.push(`${path.join('.')}:=${JSON.stringify(value) ?? 'removed'}`);
      input = setPath(input, path, value);
    }
    yield [`random ${base.label} ${what.join(' ')}`, input];
  }

  // 6. Not an input at all.
  const junk: unknown[] = [null, true, 0, 'x', [], {}, { intent: null }, { intent: {} }, { context: contextOf() }, { intent: 'x', context: 'y' }, { intent: [], context: [] }];
  for (const j of junk) yield [`junk ${JSON.stringify(j)}`, j];
}

/** decision_test.rego's inputs, built as its helpers build them. */
function regoTestInputs(): Array<[string, Obj]> {
  const base = (domain: string, name: string, reversible: boolean, resource: Obj): Obj => ({
    ...intentOf(domain, name, reversible, resource),
    delegation: [{ principal: HUMAN, kind: 'human', scope: ['*'] }, { principal: AGENT, kind: 'agent', scope: [`${domain}:*`] }],
  });
  const inp = (intent: Obj, context: Partial<Obj> = {}): Obj => ({ intent, context: { ...contextOf(), ...context } as Obj });
  const withCtx = (i: Obj, c: Obj): Obj => ({ ...i, context: c });
  const ctx = contextOf();
  const deep = base('ai', 'a2a.call', true, tool('agent/planner'));
  const hop = { principal: 'svc', kind: 'service', scope: ['*'] };
  const narrowed = base('data', 'data.query', true, table('internal'));
  ((narrowed.delegation as Obj[])[1]!).scope = ['data:data.export'];
  const other = base('data', 'data.query', true, table('internal'));
  ((other.delegation as Obj[])[1]!).principal = 'spiffe://example.org/agents/other';
  const { revoked: _, ...withoutRevoked } = ctx;
  return [
    ['data_query_allowed', inp(base('data', 'data.query', true, table('confidential')))],
    ['confidential_export', inp(withCtx(base('data', 'data.export', true, table('confidential')), { rows: 10 }))],
    ['export_over_budget', inp(withCtx(base('data', 'data.export', true, table('confidential')), { rows: 200 }), { session: { exported_rows: 900, actions: 0, denied: 0 } })],
    ['export_without_size', inp(base('data', 'data.export', true, table('internal')))],
    ['store_label_overrides', inp(withCtx(base('data', 'data.export', true, table('public')), { rows: 5 }), { resource: { sensitivity: 'restricted' } })],
    ['restricted_query_autonomous', inp({ ...base('data', 'data.query', true, table('restricted')), subject: { type: 'agent', id: AGENT, properties: { autonomy: 'autonomous' } } })],
    ['irreversible_delete_confidential', inp(base('data', 'data.delete', false, table('confidential')))],
    ['out_of_scope', inp(narrowed)],
    ['revoked_principal', inp(base('data', 'data.query', true, table('internal')), { revoked: [HUMAN] })],
    ['tool_output_irreversible', inp({ ...base('data', 'data.delete', false, table('public')), session: { id: 's1', workflow_step: 'reconcile', request_source: 'tool_output' } })],
    ['chain_must_end_at_subject', inp(other)],
    ['missing_context_field', { intent: base('data', 'data.query', true, table('internal')), context: withoutRevoked }],
    ['unknown_domain', inp(base('crypto', 'mine', true, table('public')))],
    ['empty_input', {}],
    ['staging_restart', inp(base('infra', 'infra.restart', true, service('staging')))],
    ['production_outside_window', inp(base('infra', 'infra.config.change', true, service('production')), { now: { unix_ms: 1_795_000_000_000, hour_utc: 23, weekday: 2 } })],
    ['production_autonomous', inp({ ...base('infra', 'infra.scale', true, service('production')), subject: { type: 'agent', id: AGENT, properties: { autonomy: 'autonomous' } } })],
    ['irreversible_infra', inp(base('infra', 'infra.delete', false, service('staging')))],
    ['get_allowed_host', inp(base('app', 'http.get', true, endpoint('http://127.0.0.1:8080/orders')))],
    ['unknown_host', inp(base('app', 'http.get', true, endpoint('https://evil.example.com/x')))],
    ['write_from_research', inp({ ...base('app', 'http.post', true, endpoint('http://localhost/orders')), session: { id: 's1', workflow_step: 'research', request_source: 'user' } })],
    ['allowed_tool', inp(base('ai', 'mcp.tool.call', true, tool('demo/search')))],
    ['unlisted_tool', inp(base('ai', 'mcp.tool.call', true, tool('demo/rm_rf')))],
    ['deep_delegation', inp({ ...deep, delegation: [hop, hop, hop, hop, ...(deep.delegation as Obj[])] })],
  ];
}

// --- the comparison -------------------------------------------------------------------------

interface Loaded { engine: PolicyEngine; raw: LoadedPolicy }

async function load(bytes: Buffer, version: string): Promise<Loaded> {
  const contents = readBundle(bytes);
  const raw = await loadPolicy(contents.wasm, { initial: 5, maximum: 1024 });
  raw.setData(contents.data);
  return { engine: await PolicyEngine.load(bytes, { version }), raw };
}

function outcome(p: Loaded, input: unknown, json: string | undefined): string {
  let raw: string;
  try {
    raw = JSON.stringify(p.raw.evaluate(input, 'intentgate/decision/decision'));
  } catch (err) {
    raw = `raw error: ${err instanceof Error ? err.message : JSON.stringify(err)}`;
  }
  let checked: string;
  try {
    checked = json === undefined ? 'no JSON form' : JSON.stringify(p.engine.evaluateJson(json));
  } catch (err) {
    checked = err instanceof PolicyError ? `PolicyError ${err.code}` : `thrown ${String(err)}`;
  }
  return `${raw}\n${checked}`;
}

const work = await mkdtemp(join(tmpdir(), 'ig-policy-eq-'));
try {
  const opa = await ensureOpa();
  await promisify(execFile)('sh', ['-c', `git -C "$1" archive "$2" policies | tar -x -C "$3"`, 'sh', projectRoot, args.ref!, work]);
  const old = await load((await buildBundle({ opaPath: opa, policyDir: join(work, 'policies') })).bytes, 'old');
  const cur = await load((await buildBundle({ opaPath: opa, policyDir: join(projectRoot, 'policies') })).bytes, 'new');
  let compared = 0;
  let differ = 0;
  const verdicts = new Map<string, number>();
  const codes = new Map<string, number>();
  const started = Date.now();
  for (const [label, input] of corpus()) {
    const json = JSON.stringify(input);
    const a = outcome(old, input, json);
    const b = outcome(cur, input, json);
    compared++;
    if (a !== b) {
      differ++;
      if (differ <= 10) console.log(`DIFFERENT: ${label}\n  input: ${json}\n  ${args.ref}: ${a.replaceAll('\n', '\n  ' + ' '.repeat(args.ref!.length + 2))}\n  new: ${b.replaceAll('\n', '\n       ')}`);
    }
    const verdict = /"verdict":"(\w+)"/.exec(a)?.[1] ?? a.split('\n')[1]!;
    verdicts.set(verdict, (verdicts.get(verdict) ?? 0) + 1);
    for (const m of a.split('\n')[0]!.matchAll(/"code":"(\w+)"/g)) codes.set(m[1]!, (codes.get(m[1]!) ?? 0) + 1);
    if (compared % 100_000 === 0) console.log(`… ${compared} inputs, ${differ} different (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  }
  console.log(`verdicts (${args.ref}): ${[...verdicts].map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(`reason codes seen (${args.ref}): ${[...codes].sort().map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(`${compared} inputs compared, ${differ} different (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  process.exitCode = differ === 0 ? 0 : 1;
} finally {
  await rm(work, { recursive: true, force: true });
}
