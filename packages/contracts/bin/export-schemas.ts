// Writes the JSON Schemas of the wire contract into schemas/, or with --check fails when
// schemas/ differs from what the zod source produces (CI runs the check).
import { readdir, readFile, writeFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { allJsonSchemas } from '../src/index.ts';

const outDir = join(import.meta.dirname, '..', '..', '..', 'schemas');
const check = process.argv.includes('--check');
const wanted = new Map([...allJsonSchemas()].map(([name, text]) => [`${name}.schema.json`, text]));

await mkdir(outDir, { recursive: true });
const present = (await readdir(outDir)).filter((f) => f.endsWith('.schema.json'));
const problems: string[] = [];

for (const [file, text] of wanted) {
  const path = join(outDir, file);
  const current = await readFile(path, 'utf8').catch(() => null);
  if (current === text) continue;
  if (check) problems.push(current === null ? `${file} is missing` : `${file} differs from the zod source`);
  else await writeFile(path, text);
}
for (const file of present) {
  if (wanted.has(file)) continue;
  if (check) problems.push(`${file} has no zod source`);
  else await rm(join(outDir, file));
}

if (problems.length > 0) {
  console.error(`schemas/ has drifted from packages/contracts:\n  ${problems.join('\n  ')}\nRun \`npm run schemas\` and commit the result.`);
  process.exit(1);
}
console.log(check ? `schemas/ matches the zod source (${wanted.size} schemas)` : `wrote ${wanted.size} schemas to schemas/`);
