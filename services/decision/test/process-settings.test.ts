// `npm run decision` starts the worker with the settings the benchmark measured, and the worker
// says so when it was started without them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DECISION_ENV, DECISION_NODE_FLAGS, missingProcessSettings } from '@intentgate/decision';

const root = join(import.meta.dirname, '..', '..', '..');

describe('decision worker process settings', () => {
  it('npm run decision passes every flag and environment setting', () => {
    const script = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.decision!;
    const launch = script.split('&&').at(-1)!.trim().split(/\s+/);
    const node = launch.indexOf('node');
    const env = Object.fromEntries(launch.slice(0, node).map((a) => a.split('=') as [string, string]));
    expect(env).toEqual(DECISION_ENV);
    for (const flag of DECISION_NODE_FLAGS) expect(launch.slice(node + 1)).toContain(flag);
    expect(missingProcessSettings(launch.slice(node + 1), env)).toEqual([]);
  });

  it('names what is missing when started another way', () => {
    expect(missingProcessSettings([], {})).toEqual([...DECISION_NODE_FLAGS, ...Object.entries(DECISION_ENV).map(([k, v]) => `${k}=${v}`)]);
  });
});
