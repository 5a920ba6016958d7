// Policy bundles for tests: the starter policy, and variants of it with different data.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureOpa, projectRoot } from '@intentgate/infra';
import { KeyObject, sign } from 'node:crypto';
import { sha256Hex, type SigningKey } from '@intentgate/evidence';
import { buildBundle, opaFileHash, SIGNATURES_FILE, tarGz, untarGz, type BuiltBundle } from '@intentgate/policy';
import { testTrust } from './trust.ts';

export type PolicyData = { approval: { deadline_seconds: number } } & Record<string, unknown>;
export type CatalogData = { actions: Record<string, unknown>; mcp_tools: Record<string, { reversible: boolean; impact: string }> };

/** The starter policy in policies/, built with the project's opa and signed by the test policy publisher. */
export async function starterBundle(revision = 'test'): Promise<BuiltBundle> {
  return buildBundle({ opaPath: await ensureOpa(), policyDir: join(projectRoot, 'policies'), revision, signing: (await testTrust()).publisher });
}

/** The starter Rego with its data (and its action catalog) changed by `mutate`: same logic, another digest. */
export async function variantBundle(mutate: (data: PolicyData, catalog: CatalogData) => void, revision = 'variant'): Promise<BuiltBundle> {
  const dir = await mkdtemp(join(tmpdir(), 'intentgate-variant-'));
  try {
    await cp(join(projectRoot, 'policies'), dir, { recursive: true });
    const file = join(dir, 'intentgate', 'config', 'data.json');
    const catalogFile = join(dir, 'intentgate', 'catalog', 'data.json');
    const data = JSON.parse(await readFile(file, 'utf8')) as PolicyData;
    const catalog = JSON.parse(await readFile(catalogFile, 'utf8')) as CatalogData;
    mutate(data, catalog);
    await writeFile(file, JSON.stringify(data));
    await writeFile(catalogFile, JSON.stringify(catalog));
    return await buildBundle({ opaPath: await ensureOpa(), policyDir: dir, revision, signing: (await testTrust()).publisher });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A bundle assembled from files (e.g. a signed bundle's, changed) and signed the way OPA's
 * default signer does (one EdDSA JWT listing every file's hash), by `key` under `kid`: for
 * bundles `opa build` would not make, such as one whose Wasm is broken.
 */
export function signedBundleOf(files: ReadonlyMap<string, Buffer>, key: SigningKey, kid = key.kid): BuiltBundle {
  const content = new Map([...files].filter(([name]) => name !== SIGNATURES_FILE));
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${b64({ alg: 'EdDSA', kid, typ: 'JWT' })}.${b64({ files: [...content].map(([name, bytes]) => ({ name, hash: opaFileHash(name, bytes), algorithm: 'SHA-256' })), keyid: kid })}`;
  const privateKey = key.privateKey instanceof KeyObject ? key.privateKey : KeyObject.from(key.privateKey);
  const jwt = `${input}.${sign(null, Buffer.from(input), privateKey).toString('base64url')}`;
  const bytes = tarGz(new Map([...content, [SIGNATURES_FILE, Buffer.from(JSON.stringify({ signatures: [jwt] }))]]));
  return { bytes, digest: sha256Hex(bytes) };
}

/** The files of a bundle, by name. */
export function bundleFiles(bundle: BuiltBundle): Map<string, Buffer> {
  return untarGz(bundle.bytes);
}
