// The policy engine on real OPA-built Wasm: the starter policy, and hand-made broken ones.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureOpa, projectRoot } from '@intentgate/infra';
import { sha256Hex } from '@intentgate/evidence';
import { ActivePolicy, PolicyEngine, PolicyError, buildBundle, decideSafely, readBundle, type BuiltBundle } from '../src/index.ts';
import { policyInput } from './fixtures.ts';

let opa: string;
let starter: BuiltBundle;
const dirs: string[] = [];

async function bundleOf(rego: string): Promise<BuiltBundle> {
  const dir = await mkdtemp(join(tmpdir(), 'intentgate-rego-'));
  dirs.push(dir);
  await mkdir(join(dir, 'intentgate'));
  await writeFile(join(dir, 'intentgate', 'decision.rego'), `package intentgate.decision\n\nimport rego.v1\n\n${rego}\n`);
  return buildBundle({ opaPath: opa, policyDir: dir });
}

beforeAll(async () => {
  opa = await ensureOpa();
  starter = await buildBundle({ opaPath: opa, policyDir: join(projectRoot, 'policies'), revision: 'test' });
}, 600_000);

afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('bundles', () => {
  it('are content addressed: the digest is the sha256 of the bundle bytes', async () => {
    expect(starter.digest).toBe(sha256Hex(starter.bytes));
    const contents = readBundle(starter.bytes);
    expect(contents.wasm.subarray(0, 4).toString('binary')).toBe('\0asm');
    expect(contents.data).toHaveProperty('intentgate.config.export_budget_rows');
    expect(contents.manifest.revision).toBe('test');
  });

  it('a corrupted bundle does not load: BUNDLE_CORRUPT', async () => {
    const flipped = Buffer.from(starter.bytes);
    flipped[Math.floor(flipped.length / 2)]! ^= 0xff;
    for (const bad of [flipped, starter.bytes.subarray(0, 200), Buffer.from('not a bundle'), gzipSync(Buffer.alloc(1024))]) {
      const err = await PolicyEngine.load(bad, { version: 'x' }).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(PolicyError);
      expect((err as PolicyError).code).toBe('BUNDLE_CORRUPT');
    }
  });
});

describe('the starter policy in Wasm', () => {
  it('allows, denies and escalates as its Rego tests say', async () => {
    const engine = await PolicyEngine.load(starter.bytes, { version: '1' });
    expect(engine.evaluate(policyInput()).verdict).toBe('allow');
    const deny = engine.evaluate(policyInput({ action: { name: 'data.export', reversible: false }, intentContext: { rows: 5000 } }));
    expect(deny).toMatchObject({ verdict: 'deny', reasons: [{ code: 'EXPORT_BUDGET_EXCEEDED' }] });
    const escalate = engine.evaluate(policyInput({ action: { name: 'data.delete', reversible: false }, intentContext: { rows: 5 } }));
    expect(escalate.verdict).toBe('escalate');
    expect(escalate.obligations).toMatchObject({ approval: { deadline_seconds: 300, quorum: 1 } });
  });

  it('an erroring check never reads as "no problem": it denies', async () => {
    const engine = await PolicyEngine.load(starter.bytes, { version: '1' });
    // A string where a number belongs makes the budget arithmetic error inside the policy.
    const input = policyInput({ action: { name: 'data.export' }, intentContext: { rows: 10 }, context: { session: { exported_rows: 'lots' } } });
    const out = decideSafely(engine, input);
    expect(out.verdict).toBe('deny');
    expect(out.reasons.map((r) => r.code)).toContain('GUARD_UNDEFINED');
    // Garbage input: still a deny, from the policy's own safety net.
    expect(decideSafely(engine, { nonsense: true }).verdict).toBe('deny');
    expect(decideSafely(engine, null).verdict).toBe('deny');
  });
});

describe('fail closed on a policy that misbehaves', () => {
  it('undefined result: POLICY_UNDEFINED', async () => {
    const b = await bundleOf('decision := {"verdict": "allow", "reasons": [{"code": "OK", "rule": "r", "message": ""}], "obligations": {}} if input.never');
    const out = decideSafely(await PolicyEngine.load(b.bytes, { version: '1' }), {});
    expect(out).toMatchObject({ verdict: 'deny', reasons: [{ code: 'POLICY_UNDEFINED' }] });
  });

  it('a result that is not exactly a decision: POLICY_RESULT_INVALID', async () => {
    for (const result of ['{"verdict": "allow"}', '{"verdict": "yes", "reasons": [{"code": "OK", "rule": "r", "message": ""}], "obligations": {}}', 'true']) {
      const b = await bundleOf(`decision := ${result}`);
      const out = decideSafely(await PolicyEngine.load(b.bytes, { version: '1' }), {});
      expect(out, result).toMatchObject({ verdict: 'deny', reasons: [{ code: 'POLICY_RESULT_INVALID' }] });
    }
  });

  it('a rule that raises at evaluation: POLICY_ERROR', async () => {
    const b = await bundleOf([
      'decision := {"verdict": "allow", "reasons": [{"code": "AA", "rule": "r", "message": ""}], "obligations": {}} if input.a',
      'decision := {"verdict": "deny", "reasons": [{"code": "BB", "rule": "r", "message": ""}], "obligations": {}} if input.b',
    ].join('\n'));
    const engine = await PolicyEngine.load(b.bytes, { version: '1' });
    expect(decideSafely(engine, { a: true }).verdict).toBe('allow');
    expect(decideSafely(engine, { a: true, b: true })).toMatchObject({ verdict: 'deny', reasons: [{ code: 'POLICY_ERROR' }] });
  });

  it('no active bundle: NO_ACTIVE_BUNDLE; a corrupt activation leaves nothing in force', async () => {
    expect(decideSafely(null, {})).toMatchObject({ verdict: 'deny', reasons: [{ code: 'NO_ACTIVE_BUNDLE' }], policy: null });
    const active = new ActivePolicy();
    active.offer(starter.digest, '1', starter.bytes);
    await active.activate(starter.digest);
    expect(decideSafely(active.current, policyInput()).verdict).toBe('allow');
    const corrupt = Buffer.from(starter.bytes.subarray(0, starter.bytes.length - 40));
    const corruptDigest = sha256Hex(corrupt);
    active.offer(corruptDigest, '2', corrupt);
    await expect(active.activate(corruptDigest)).rejects.toMatchObject({ code: 'BUNDLE_CORRUPT' });
    expect(decideSafely(active.current, policyInput())).toMatchObject({ verdict: 'deny', reasons: [{ code: 'BUNDLE_CORRUPT' }] });
  });

  it('hot swap: a batch keeps the engine it started with; the next batch sees the new one', async () => {
    const v2 = await bundleOf('decision := {"verdict": "deny", "reasons": [{"code": "V2", "rule": "r", "message": ""}], "obligations": {}}');
    const active = new ActivePolicy();
    active.offer(starter.digest, '1', starter.bytes);
    active.offer(v2.digest, '2', v2.bytes);
    await active.activate(starter.digest);
    const batchEngine = active.current;
    await active.activate(v2.digest);
    expect(decideSafely(batchEngine, policyInput())).toMatchObject({ verdict: 'allow', policy: { version: '1', bundle_digest: starter.digest } });
    expect(decideSafely(active.current, policyInput())).toMatchObject({ verdict: 'deny', policy: { version: '2', bundle_digest: v2.digest } });
  });
});
