// The access catalog against the topic catalog, the README, and least privilege for agent platforms.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ACCESS, ROLES, TOPICS, accessTable, roleSpec, DOMAINS, approvedTopic } from '../src/index.ts';

const topicNames = new Set(TOPICS.map((t) => t.name));
const ordinary = ACCESS.filter((r) => !r.superUser);

describe('the access catalog', () => {
  it('has one entry per role, and only the provisioner is a super user', () => {
    expect(ACCESS.map((r) => r.role)).toEqual([...ROLES]);
    expect(ACCESS.filter((r) => r.superUser).map((r) => r.role)).toEqual(['provisioner']);
  });

  it('names only topics of the topic catalog', () => {
    for (const r of ordinary) {
      for (const t of [...r.kafka.produce, ...r.kafka.consume]) expect(topicNames.has(t), `${r.role}: ${t}`).toBe(true);
    }
  });

  it('gives every topic a producer role (and every consumed topic one too)', () => {
    const produced = new Set(ordinary.flatMap((r) => r.kafka.produce));
    expect(TOPICS.map((t) => t.name).filter((t) => !produced.has(t))).toEqual([]);
    const consumed = ordinary.flatMap((r) => r.kafka.consume);
    expect(consumed.filter((t) => !produced.has(t))).toEqual([]);
  });

  it('lets every consumer write the dead-letter topic of what it reads (the bus dead-letters poison records), agent clients aside', () => {
    const agentClients = new Set(['agent-platform', 'authzen-gateway', 'mcp-gateway']);
    for (const r of ordinary.filter((x) => !agentClients.has(x.role))) {
      for (const t of r.kafka.consume) {
        const dlq = TOPICS.find((s) => s.name === t)!.deadLetterTopic;
        if (dlq !== null) expect(r.kafka.produce, `${r.role} reads ${t}`).toContain(dlq);
      }
    }
  });

  it('gives a role that consumes a consumer-group prefix, and none to a role that does not', () => {
    for (const r of ordinary) expect(r.kafka.groupPrefixes.length > 0, r.role).toBe(r.kafka.consume.length > 0);
  });

  it('an agent platform writes intents and reads decisions, in groups of its own, and nothing else', () => {
    expect(roleSpec('agent-platform').kafka).toEqual({ produce: ['intents'], consume: ['decisions'], groupPrefixes: ['intentgate-agent-agent-platform-'], transactionalIdPrefixes: [] });
    expect(roleSpec('agent-platform').redis).toBeNull();
  });

  it('gives each executor its own domain only, and no executor the context keys', () => {
    for (const d of DOMAINS) {
      const e = roleSpec(`executor-${d}`);
      expect(e.kafka.consume).toEqual([approvedTopic(d), 'warrant.keys']);
      expect([...e.redis!.read, ...e.redis!.readWrite].filter((k) => /context|resource|agent|revoked|session|decision/.test(k))).toEqual([]);
    }
  });

  it('lets only the context feeder (and the provisioner) write the context the policy trusts', () => {
    const context = ['ig:context:*', 'ig:resource:*', 'ig:agent:*'];
    const writers = ACCESS.filter((r) => r.redis?.readWrite.some((k) => context.includes(k) || k === '*')).map((r) => r.role);
    expect(writers).toEqual(['context-feeder', 'provisioner']);
  });

  it('lets no role but the provisioner run a script or manage functions: its logic runs only as the provisioned functions', () => {
    const scripting = /^(eval|evalsha|eval_ro|evalsha_ro|script|function|@scripting|@all)/;
    for (const spec of ACCESS.filter((r) => !r.superUser && r.redis !== null)) {
      expect(spec.redis!.commands.filter((c) => scripting.test(c)), spec.role).toEqual([]);
    }
  });

  it('is what the README\'s role table says', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', '..', 'README.md'), 'utf8');
    expect(readme).toContain(accessTable());
  });

  it('no two roles share a consumer-group prefix, and none is a prefix of another role\'s (no role can join another\'s group)', () => {
    const owned = ACCESS.filter((r) => !r.superUser).flatMap((r) => r.kafka.groupPrefixes.map((p) => ({ role: r.role, p })));
    for (const a of owned) for (const b of owned) {
      if (a.role !== b.role) expect(b.p.startsWith(a.p), `${a.role}'s ${a.p} covers ${b.role}'s ${b.p}`).toBe(false);
    }
  });
});

