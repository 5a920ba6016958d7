// The local stack's broker and Redis configuration from the access catalog.
import { describe, expect, it } from 'vitest';
import { newCredentials, redisUrlFor } from '../src/credentials.ts';
import { serverProperties } from '../src/servers/kafka.ts';
import { aclFile } from '../src/servers/redis.ts';

const security = { brokerPassword: 'b1', users: [{ username: 'provisioner', password: 'p1' }], superUsers: ['provisioner'] };

describe('the local broker', () => {
  it('authenticates every listener, authorizes with ACLs, and makes only the broker and the provisioner super users', () => {
    const props = serverProperties(9092, 9093, '/tmp/d', security);
    expect(props).toContain('listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT');
    expect(props).toContain('listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512');
    expect(props).toContain('listener.name.controller.sasl.enabled.mechanisms=PLAIN');
    expect(props).toContain('authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer');
    expect(props).toContain('allow.everyone.if.no.acl.found=false');
    expect(props).toMatch(/^super\.users=User:intentgate-broker;User:provisioner$/m);
    expect(props).not.toMatch(/ANONYMOUS/);
    expect(props).not.toMatch(/PLAINTEXT:\/\//);
  });

  it('refuses ANONYMOUS as a super user', () => {
    expect(() => serverProperties(1, 2, '/d', { ...security, superUsers: ['ANONYMOUS'] })).toThrow(/ANONYMOUS/);
  });
});

describe('the local Redis', () => {
  it('turns the default user off and stores no password in its ACL file', () => {
    const creds = newCredentials();
    const users = new Map(Object.values(creds).flatMap((c) => (c.redis ? [[c.role, c.redis] as const] : [])));
    const file = aclFile(users);
    expect(file.split('\n')[0]).toBe('user default off resetkeys resetchannels -@all');
    for (const u of users.values()) expect(file).not.toContain(u.password);
    expect(file).toMatch(/^user executor-data on #[0-9a-f]{64} resetkeys resetchannels ~ig:claim:data:\* ~ig:run:data:\* -@all /m);
    expect(file).toMatch(/^user decision on #[0-9a-f]{64} resetkeys resetchannels %R~ig:context:\* %R~ig:resource:\* %R~ig:agent:\* ~ig:revoked /m);
    expect(file).not.toMatch(/^user agent-platform /m);
  });

  it('puts a role\'s user into the Redis URL', () => {
    const c = newCredentials()['executor-app'];
    expect(redisUrlFor('redis://127.0.0.1:6379', c)).toBe(`redis://executor-app:${c.redis!.password}@127.0.0.1:6379`);
  });
});
