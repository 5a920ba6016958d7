// Policy bundles for tests: the starter policy, and variants of it with different data.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureOpa, projectRoot } from '@intentgate/infra';
import { buildBundle, type BuiltBundle } from '@intentgate/policy';

export type PolicyData = { approval: { deadline_seconds: number } } & Record<string, unknown>;

/** The starter policy in policies/, built with the project's opa. */
export async function starterBundle(revision = 'test'): Promise<BuiltBundle> {
  return buildBundle({ opaPath: await ensureOpa(), policyDir: join(projectRoot, 'policies'), revision });
}

/** The starter Rego with its data changed by `mutate`: same logic, another digest. */
export async function variantBundle(mutate: (data: PolicyData) => void, revision = 'variant'): Promise<BuiltBundle> {
  const dir = await mkdtemp(join(tmpdir(), 'intentgate-variant-'));
  try {
    await cp(join(projectRoot, 'policies'), dir, { recursive: true });
    const file = join(dir, 'intentgate', 'config', 'data.json');
    const data = JSON.parse(await readFile(file, 'utf8')) as PolicyData;
    mutate(data);
    await writeFile(file, JSON.stringify(data));
    return await buildBundle({ opaPath: await ensureOpa(), policyDir: dir, revision });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
