import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './exec.ts';

export interface JavaRuntime {
  path: string;
  major: number;
}

async function versionOf(path: string): Promise<number | null> {
  const { code, stderr, stdout } = await run(path, ['-version'], { timeoutMs: 20_000 });
  if (code !== 0) return null;
  const match = /version "(\d+)(?:\.(\d+))?/.exec(stderr + stdout);
  if (!match) return null;
  const first = Number(match[1]);
  return first === 1 ? Number(match[2]) : first; // "1.8" style
}

/** Every Java runtime we can find: JAVA_HOME, `java` on PATH, and the JDKs under /usr/lib/jvm. */
export async function findJavas(): Promise<JavaRuntime[]> {
  const candidates = new Set<string>();
  if (process.env.JAVA_HOME) candidates.add(join(process.env.JAVA_HOME, 'bin', 'java'));
  candidates.add('java');
  for (const entry of await readdir('/usr/lib/jvm').catch(() => [] as string[])) {
    candidates.add(join('/usr/lib/jvm', entry, 'bin', 'java'));
  }
  const found: JavaRuntime[] = [];
  const seen = new Set<number>();
  for (const path of candidates) {
    const major = await versionOf(path);
    if (major !== null && !seen.has(major)) {
      seen.add(major);
      found.push({ path, major });
    }
  }
  return found.sort((a, b) => b.major - a.major);
}

/** The newest Java at least `minMajor`, or null. */
export async function findJava(minMajor: number): Promise<JavaRuntime | null> {
  return (await findJavas()).find((j) => j.major >= minMajor) ?? null;
}
