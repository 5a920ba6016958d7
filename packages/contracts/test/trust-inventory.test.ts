// The trust inventory is complete and published: every field of the policy input that the
// starter policy's Rego reads has a row, and both READMEs carry the generated table.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TRUST_INVENTORY, trustTable } from '../src/index.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const regoDir = join(root, 'policies', 'intentgate');

/** The input paths the policy reads, from the Rego source (test files excluded), cut at the first computed index. */
function fieldsReadByPolicy(): Set<string> {
  const fields = new Set<string>();
  for (const file of readdirSync(regoDir).filter((f) => f.endsWith('.rego') && !f.endsWith('_test.rego'))) {
    const source = readFileSync(join(regoDir, file), 'utf8').replace(/#.*$/gm, '');
    for (const m of source.matchAll(/\binput((?:\.[a-z_]+)+)/g)) fields.add(m[1]!.slice(1));
  }
  return fields;
}

/** A row covers a field when it names it or one of its parents (context.agent covers context.agent.revoked). */
function covered(field: string): boolean {
  return TRUST_INVENTORY.some((r) => field === r.field || field.startsWith(`${r.field}.`));
}

describe('the trust inventory', () => {
  it('has a row for every field the policy reads', () => {
    const read = fieldsReadByPolicy();
    expect(read.size).toBeGreaterThan(10);
    const missing = [...read].filter((f) => !covered(f));
    expect(missing, 'fields the policy reads without a row in packages/contracts/src/trust-inventory.ts').toEqual([]);
  });

  it('lists no field twice, and a lie for every field a caller writes (and none for the stores\')', () => {
    const names = TRUST_INVENTORY.map((r) => r.field);
    expect(new Set(names).size).toBe(names.length);
    for (const row of TRUST_INVENTORY) {
      if (row.writtenBy === 'caller') expect(row.lie, row.field).toMatch(/[A-Z_]{6,}/);
      else expect(row.lie, row.field).toBeNull();
      if (row.writtenBy === 'caller') expect(row.trust, row.field).not.toBe('service');
    }
  });

  it('every action catalog entry says what the policy reads of it (domain, binds, and reversible and impact or its tool entries)', () => {
    const catalog = JSON.parse(readFileSync(join(regoDir, 'catalog', 'data.json'), 'utf8')) as {
      actions: Record<string, { domain?: unknown; binds?: unknown; reversible?: unknown; impact?: unknown; per_tool?: unknown }>;
      mcp_tools: Record<string, { reversible?: unknown; impact?: unknown }>;
    };
    expect(Object.keys(catalog.actions).length).toBeGreaterThan(10);
    for (const [name, entry] of Object.entries(catalog.actions)) {
      expect(['app', 'data', 'infra', 'ai'], name).toContain(entry.domain);
      expect(Array.isArray(entry.binds), `${name}.binds`).toBe(true);
      if (entry.per_tool === undefined) {
        expect(typeof entry.reversible, `${name}.reversible`).toBe('boolean');
        expect(['low', 'sensitive'], `${name}.impact`).toContain(entry.impact);
      } else expect(entry.per_tool, name).toBe('mcp_tools');
    }
    for (const [tool, entry] of Object.entries(catalog.mcp_tools)) {
      expect(typeof entry.reversible, `${tool}.reversible`).toBe('boolean');
      expect(['low', 'sensitive'], `${tool}.impact`).toContain(entry.impact);
    }
  });

  it('is the table in the README and in policies/README.md', () => {
    for (const file of [join(root, 'README.md'), join(root, 'policies', 'README.md')]) {
      expect(readFileSync(file, 'utf8'), file).toContain(trustTable());
    }
  });
});
