// Bundle signatures as OPA writes them (`opa build --bundle --signing-key`), checked by our
// verifier and, for the same bytes, by OPA's own (`opa build --verification-key`).
import { execFile } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureOpa, projectRoot } from '@intentgate/infra';
import { generateSigningKey, privateKeyPem, publicJwkOf, type SigningKey } from '@intentgate/evidence';
import { BundleTrustError, buildBundle, PolicyEngine, verifyBundleSignature, type PublisherKey } from '../src/index.ts';
import { tarGz, untarGz } from '../src/tar.ts';

let opa: string;
let work: string;
let publisher: SigningKey;
let keyFile: string;
let publishers: PublisherKey[];
let signed: Buffer;

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof BundleTrustError) return `${err.code}: ${err.message}`;
    throw err;
  }
  return 'accepted';
}

/** OPA's own verdict on a bundle file: does `opa build --verification-key` accept it? */
async function opaAccepts(bytes: Buffer): Promise<boolean> {
  const file = join(work, `check-${Math.random().toString(36).slice(2)}.tar.gz`);
  await writeFile(file, bytes);
  await writeFile(join(work, 'pub.pem'), publisherPublicPem());
  try {
    await promisify(execFile)(opa, [
      'build', '--bundle', file, '--verification-key', join(work, 'pub.pem'), '--verification-key-id', publisher.kid, '--signing-alg', 'EdDSA', '-o', join(work, 'out.tar.gz'),
    ], { timeout: 120_000 });
    return true;
  } catch {
    return false;
  }
}

function publisherPublicPem(): string {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicJwkOf(publisher).x }, format: 'jwk' }).export({ format: 'pem', type: 'spki' }).toString();
}

beforeAll(async () => {
  opa = await ensureOpa();
  work = await mkdtemp(join(tmpdir(), 'ig-bundle-sig-'));
  publisher = await generateSigningKey('publisher-1');
  keyFile = join(work, 'publisher.pem');
  await writeFile(keyFile, privateKeyPem(publisher), { mode: 0o600 });
  publishers = [publicJwkOf(publisher)];
  signed = (await buildBundle({ opaPath: opa, policyDir: join(projectRoot, 'policies'), revision: 'sig', signing: { keyFile, kid: publisher.kid } })).bytes;
}, 600_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('OPA bundle signatures', () => {
  it('accepts the starter policy as opa signed it, and the signed bundle still loads and is reproducible', async () => {
    expect(verifyBundleSignature(signed, publishers)).toMatchObject({ kid: 'publisher-1' });
    expect(await opaAccepts(signed)).toBe(true);
    await expect(PolicyEngine.load(signed, { version: 'sig' })).resolves.toBeDefined();
    const again = await buildBundle({ opaPath: opa, policyDir: join(projectRoot, 'policies'), revision: 'sig', signing: { keyFile, kid: publisher.kid } });
    expect(again.bytes.equals(signed)).toBe(true);
  });

  it('hashes structured data exactly as OPA does (escapes, number literals, byte-order keys)', async () => {
    const dir = await mkdtemp(join(work, 'tricky-'));
    await cp(join(projectRoot, 'policies'), dir, { recursive: true });
    const dataFile = join(dir, 'intentgate', 'config', 'data.json');
    const data = JSON.parse(await readFile(dataFile, 'utf8')) as Record<string, unknown>;
    // Raw text, so the number literals and escapes reach opa exactly as written here.
    const tricky = '{"html":"<a href=\\"x\\">&amp;</a>","ls":"\\u2028\\u2029","ctl":"\\u0001\\b\\f\\t","uni":"é😀","nums":[1.0,1e3,-0,12345678901234567890,0.1],"keys":{"é":1,"z":2,"😀":3,"\\uffff":4,"A":5}}';
    await writeFile(dataFile, `${JSON.stringify(data).slice(0, -1)},"tricky":${tricky}}`);
    const bundle = (await buildBundle({ opaPath: opa, policyDir: dir, signing: { keyFile, kid: publisher.kid } })).bytes;
    expect(codeOf(() => verifyBundleSignature(bundle, publishers))).toBe('accepted');
  });

  it('refuses an unsigned bundle, one signed by another key, and one signed under the publisher\'s name by someone else', async () => {
    const unsigned = (await buildBundle({ opaPath: opa, policyDir: join(projectRoot, 'policies') })).bytes;
    expect(codeOf(() => verifyBundleSignature(unsigned, publishers))).toMatch(/^BUNDLE_UNSIGNED/);
    const stranger = await generateSigningKey('stranger');
    const strangerFile = join(work, 'stranger.pem');
    await writeFile(strangerFile, privateKeyPem(stranger));
    const byStranger = (await buildBundle({ opaPath: opa, policyDir: join(projectRoot, 'policies'), signing: { keyFile: strangerFile, kid: 'stranger' } })).bytes;
    expect(codeOf(() => verifyBundleSignature(byStranger, publishers))).toMatch(/^BUNDLE_SIGNATURE_INVALID: .*not a configured policy publisher/);
    const byImpostor = (await buildBundle({ opaPath: opa, policyDir: join(projectRoot, 'policies'), signing: { keyFile: strangerFile, kid: publisher.kid } })).bytes;
    expect(codeOf(() => verifyBundleSignature(byImpostor, publishers))).toMatch(/^BUNDLE_SIGNATURE_INVALID: .*does not verify/);
    expect(await opaAccepts(byImpostor)).toBe(false);
  });

  it('refuses a signed bundle whose files were changed, added or removed after signing (and so does OPA)', async () => {
    const files = untarGz(signed);
    const data = JSON.parse(files.get('data.json')!.toString('utf8')) as { intentgate: { catalog: { mcp_tools: Record<string, unknown> } } };
    data.intentgate.catalog.mcp_tools['demo/delete_everything'] = { reversible: true, impact: 'low' };
    const changed = tarGz(new Map([...files, ['data.json', Buffer.from(JSON.stringify(data))]]));
    expect(codeOf(() => verifyBundleSignature(changed, publishers))).toMatch(/^BUNDLE_SIGNATURE_INVALID: data\.json: digest mismatch/);
    expect(await opaAccepts(changed)).toBe(false);
    const wasm = files.get('policy.wasm')!;
    const patched = Buffer.from(wasm);
    patched.writeUInt8(patched.readUInt8(patched.length - 1) ^ 1, patched.length - 1);
    expect(codeOf(() => verifyBundleSignature(tarGz(new Map([...files, ['policy.wasm', patched]])), publishers))).toMatch(/policy\.wasm: digest mismatch/);
    expect(codeOf(() => verifyBundleSignature(tarGz(new Map([...files, ['extra/data.json', Buffer.from('{"x":1}')]])), publishers))).toMatch(/extra\/data\.json is in the bundle but not in its signature/);
    const without = new Map(files);
    without.delete('intentgate/ai.rego');
    expect(codeOf(() => verifyBundleSignature(tarGz(without), publishers))).toMatch(/signed files missing from the bundle: intentgate\/ai\.rego/);
    // Repacked unchanged by our tar writer: still accepted, so the refusals above are about content.
    expect(codeOf(() => verifyBundleSignature(tarGz(files), publishers))).toBe('accepted');
  });
});
