import kafkajs, { type Admin, type AclEntry } from 'kafkajs';
import { ACCESS, type RoleSpec } from '@intentgate/contracts';
import { BusError, describe } from './errors.ts';

// kafkajs is CommonJS and spreads its enums into module.exports: Node's ESM loader cannot see them as named exports.
const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs;

/** One ACL the access catalog asks for, in words (for reports and tests) and as KafkaJS takes it. */
export interface AclBinding {
  principal: string;
  resource: 'topic' | 'group' | 'transactional-id' | 'cluster';
  name: string;
  pattern: 'literal' | 'prefixed';
  operation: 'READ' | 'WRITE' | 'DESCRIBE' | 'IDEMPOTENT_WRITE';
}

const RESOURCE = { topic: AclResourceTypes.TOPIC, group: AclResourceTypes.GROUP, 'transactional-id': AclResourceTypes.TRANSACTIONAL_ID, cluster: AclResourceTypes.CLUSTER } as const;
const PATTERN = { literal: ResourcePatternTypes.LITERAL, prefixed: ResourcePatternTypes.PREFIXED } as const;
const OPERATION = { READ: AclOperationTypes.READ, WRITE: AclOperationTypes.WRITE, DESCRIBE: AclOperationTypes.DESCRIBE, IDEMPOTENT_WRITE: AclOperationTypes.IDEMPOTENT_WRITE } as const;

/** The principal a role authenticates as: `User:<role>` (the SASL username is the role's name). */
export function principalOf(role: string): string {
  return `User:${role}`;
}

/**
 * The ACLs a role needs, least privilege: WRITE on each topic it produces to (WRITE includes
 * DESCRIBE), READ on each topic it consumes, READ on its consumer-group prefixes, WRITE on its
 * transactional-id prefixes, and IDEMPOTENT_WRITE on the cluster when it produces at all (every
 * IntentGate producer is idempotent; brokers from 2.8 also accept WRITE on a topic for that).
 * A super user (the provisioner) needs none.
 */
export function aclBindings(spec: RoleSpec): AclBinding[] {
  if (spec.superUser) return [];
  const principal = principalOf(spec.role);
  const k = spec.kafka;
  return [
    ...k.produce.map((name) => ({ principal, resource: 'topic', name, pattern: 'literal', operation: 'WRITE' }) as const),
    ...k.consume.map((name) => ({ principal, resource: 'topic', name, pattern: 'literal', operation: 'READ' }) as const),
    ...k.groupPrefixes.map((name) => ({ principal, resource: 'group', name, pattern: 'prefixed', operation: 'READ' }) as const),
    ...(k.watchedGroupPrefixes ?? []).map((name) => ({ principal, resource: 'group', name, pattern: 'prefixed', operation: 'DESCRIBE' }) as const),
    ...k.transactionalIdPrefixes.map((name) => ({ principal, resource: 'transactional-id', name, pattern: 'prefixed', operation: 'WRITE' }) as const),
    ...(k.produce.length > 0 ? [{ principal, resource: 'cluster', name: 'kafka-cluster', pattern: 'literal', operation: 'IDEMPOTENT_WRITE' } as const] : []),
  ];
}

function entry(b: AclBinding): AclEntry {
  return {
    resourceType: RESOURCE[b.resource], resourceName: b.name, resourcePatternType: PATTERN[b.pattern],
    principal: b.principal, host: '*', operation: OPERATION[b.operation], permissionType: AclPermissionTypes.ALLOW,
  };
}

function keyOf(e: { resourceType: number; resourceName: string; resourcePatternType: number; principal: string; host: string; operation: number; permissionType: number }): string {
  return [e.resourceType, e.resourceName, e.resourcePatternType, e.principal, e.host, e.operation, e.permissionType].join('\u0000');
}

export interface AclReport {
  /** Every binding the catalog asks for. */
  bindings: AclBinding[];
  /** How many of them this call created (the rest were there). */
  created: number;
  /** ACLs on the cluster for the catalog's principals that the catalog does not ask for (left alone, reported). */
  extra: number;
}

/**
 * Creates the catalog's ACLs that are missing; idempotent (a second run creates nothing). Needs a
 * principal allowed to alter ACLs (the provisioner, a super user). ACLs for these principals that
 * the catalog does not name are counted, never deleted: an operator may have added them.
 */
export async function provisionAcls(admin: Admin, catalog: readonly RoleSpec[] = ACCESS): Promise<AclReport> {
  const bindings = catalog.flatMap(aclBindings);
  const principals = new Set(catalog.filter((r) => !r.superUser).map((r) => principalOf(r.role)));
  let existing: Set<string>;
  try {
    const described = await admin.describeAcls({
      resourceType: AclResourceTypes.ANY, resourcePatternType: ResourcePatternTypes.ANY,
      operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY,
    });
    existing = new Set(described.resources.flatMap((r) => r.acls
      .filter((a) => principals.has(a.principal))
      .map((a) => keyOf({ ...a, resourceType: r.resourceType, resourceName: r.resourceName, resourcePatternType: r.resourcePatternType }))));
  } catch (err) {
    throw new BusError('NOT_AUTHORIZED', `cannot describe the cluster's ACLs: ${describe(err)}`, {
      retriable: false, cause: err,
      hint: 'Provision with a principal that may describe and create ACLs (the provisioner, a super user), on a broker with an authorizer configured.',
    });
  }
  const wanted = bindings.map(entry);
  const wantedKeys = new Set(wanted.map(keyOf));
  const missing = wanted.filter((e) => !existing.has(keyOf(e)));
  if (missing.length > 0) {
    try {
      await admin.createAcls({ acl: missing });
    } catch (err) {
      throw new BusError('NOT_AUTHORIZED', `cannot create ${missing.length} ACLs: ${describe(err)}`, {
        retriable: false, cause: err,
        hint: 'Provision with a principal that may create ACLs (the provisioner, a super user).',
      });
    }
  }
  return { bindings, created: missing.length, extra: [...existing].filter((k) => !wantedKeys.has(k)).length };
}
