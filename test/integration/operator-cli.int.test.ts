// The operator's catalogs through the CLI, as an operator runs it against a stack: `intentgate
// resources label | show | list` and `intentgate agents register | show | suspend`, with the
// operator's own principal on the broker and its key from the trust directory.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '@intentgate/infra';
import { roleEnv, testTrust } from '@intentgate/test';

let trustDir: string;

beforeAll(async () => {
  trustDir = (await testTrust()).paths.dir;
});

function cli(...args: string[]): Promise<{ status: number | null; out: string }> {
  const child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', join(projectRoot, 'packages', 'cli', 'bin', 'intentgate.ts'), ...args, '--dir', trustDir], {
    env: { ...process.env, ...roleEnv('operator') }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => child.on('exit', (status) => resolve({ status, out })));
}

describe('intentgate resources', () => {
  it('labels a resource, relabels it as the next revision, and shows and lists what the topic holds', async () => {
    const id = `cli.table-${randomUUID().slice(0, 8)}`;
    const first = await cli('resources', 'label', 'table', id, '--sensitivity', 'internal', '--reason', 'reports');
    expect(first.out).toContain(`labelled table ${id} internal (revision 1)`);
    expect(first.status).toBe(0);
    const second = await cli('resources', 'label', 'table', id, '--sensitivity', 'restricted', '--environment', 'production');
    expect(second.out).toContain(`relabelled table ${id} restricted, production (revision 2)`);
    const shown = await cli('resources', 'show', 'table', id);
    expect(shown.out).toMatch(new RegExp(`table ${id.replace('.', '\\.')}  restricted, production  \\(revision 2, .* by operator:`));
    expect((await cli('resources', 'list')).out).toContain(`table ${id}  restricted, production`);
  });

  it('refuses what is not a label with a usage error, and an unknown resource or command with its code', async () => {
    const bad = await cli('resources', 'label', 'table', 'x', '--sensitivity', 'secret');
    expect(bad.status).toBe(2);
    expect(bad.out).toMatch(/error USAGE: --sensitivity must be one of public, internal, confidential, restricted\n {2}what to do: /);
    const env = await cli('resources', 'label', 'table', 'x', '--sensitivity', 'internal', '--environment', 'Prod uction');
    expect(env.out).toMatch(/error USAGE: not a valid label: environment: a lower-case environment name/);
    const unknown = await cli('resources', 'show', 'table', `never-${randomUUID()}`);
    expect(unknown.status).toBe(2);
    expect(unknown.out).toMatch(/error RESOURCE_UNLABELLED: .* has no label/);
    const command = await cli('resources', 'delete', 'table', 'x');
    expect(command.status).toBe(2);
    expect(command.out).toMatch(/error USAGE: unknown resources command delete/);
  });
});

describe('intentgate agents', () => {
  it('registers an agent, shows it, and suspends it as the next revision', async () => {
    const agent = `spiffe://cli.test/agents/operator-${randomUUID().slice(0, 8)}`;
    const registered = await cli('agents', 'register', agent, '--owner', 'alice@example.org', '--autonomy', 'supervised', '--domains', 'data', '--actions', 'data.query');
    expect(registered.out).toContain(`registered ${agent} (revision 1)`);
    expect((await cli('agents', 'suspend', agent, '--reason', 'incident')).out).toContain(`suspended ${agent} (revision 2)`);
    const shown = await cli('agents', 'show', agent);
    expect(shown.out).toContain(`${agent}  SUSPENDED  (revision 2`);
    expect(shown.out).toContain('reason: incident');
  });
});
