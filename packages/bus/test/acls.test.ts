// The ACLs the access catalog turns into (what provisionAcls creates).
import { describe, expect, it } from 'vitest';
import { ACCESS, roleSpec } from '@intentgate/contracts';
import { aclBindings } from '../src/acls.ts';

describe('aclBindings', () => {
  it('an agent platform: WRITE intents, READ decisions, READ its group prefix, IDEMPOTENT_WRITE; nothing else', () => {
    expect(aclBindings(roleSpec('agent-platform'))).toEqual([
      { principal: 'User:agent-platform', resource: 'topic', name: 'intents', pattern: 'literal', operation: 'WRITE' },
      { principal: 'User:agent-platform', resource: 'topic', name: 'decisions', pattern: 'literal', operation: 'READ' },
      { principal: 'User:agent-platform', resource: 'group', name: 'intentgate-agent-agent-platform-', pattern: 'prefixed', operation: 'READ' },
      { principal: 'User:agent-platform', resource: 'cluster', name: 'kafka-cluster', pattern: 'literal', operation: 'IDEMPOTENT_WRITE' },
    ]);
  });

  it('the decision worker may use its transactional ids (prefixed)', () => {
    expect(aclBindings(roleSpec('decision'))).toContainEqual({ principal: 'User:decision', resource: 'transactional-id', name: 'intentgate-decision', pattern: 'prefixed', operation: 'WRITE' });
  });

  it('the provisioner, a super user, needs none; no binding is ever for ANONYMOUS or a wildcard principal', () => {
    expect(aclBindings(roleSpec('provisioner'))).toEqual([]);
    const principals = new Set(ACCESS.flatMap(aclBindings).map((b) => b.principal));
    expect([...principals].filter((p) => /ANONYMOUS|\*/.test(p))).toEqual([]);
  });
});
