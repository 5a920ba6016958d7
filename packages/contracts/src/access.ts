import { DOMAINS, type Domain } from './primitives.ts';
import { approvedTopic, DLQ_BUS, DLQ_INTENTS } from './topics.ts';

/**
 * The access catalog: who may do what on the bus and in the context store, one principal per
 * role. Beside the topic catalog because it is the same kind of fact: the broker's ACLs and the
 * Redis users are created from it (packages/bus `provisionAcls`, infra's Redis ACL file), and a
 * unit test checks it against TOPICS. Derived from what the code does (every producer, consumer
 * group, transactional id and Redis key of each service); keep it so when the code changes.
 */
export const ROLES = [
  'agent-platform',
  'authzen-gateway',
  'mcp-gateway',
  'decision',
  'approvals',
  'executor-app',
  'executor-infra',
  'executor-data',
  'executor-ai',
  'ledger',
  'operator',
  'context-feeder',
  'provisioner',
] as const;
export type Role = (typeof ROLES)[number];

export interface KafkaAccess {
  /** Topics the role may write (WRITE; IDEMPOTENT_WRITE on the cluster when there is any). */
  readonly produce: readonly string[];
  /** Topics the role may read (READ, which includes DESCRIBE). */
  readonly consume: readonly string[];
  /** Consumer-group id prefixes the role may join and commit for (READ on PREFIXED groups). */
  readonly groupPrefixes: readonly string[];
  /** Transactional-id prefixes the role may use (WRITE on PREFIXED transactional ids). */
  readonly transactionalIdPrefixes: readonly string[];
  /** Consumer-group id prefixes whose committed offsets the role may read, never join or commit (DESCRIBE on PREFIXED groups). */
  readonly watchedGroupPrefixes?: readonly string[];
}

/** A Redis ACL user's rights: key patterns (Redis 7 selectors) and the commands it may run. */
export interface RedisAccess {
  /** Key patterns readable only (`%R~`). */
  readonly read: readonly string[];
  /** Key patterns readable and writable (`~`). */
  readonly readWrite: readonly string[];
  /** Commands (lower case; `client|setinfo` style for subcommands); `@all` for every command. */
  readonly commands: readonly string[];
}

export interface RoleSpec {
  readonly role: Role;
  /** Who holds these credentials, in one line (the README's table). */
  readonly description: string;
  /** A super user on the broker (super.users) and `+@all ~*` in Redis: creates topics and ACLs. Only the provisioner. */
  readonly superUser: boolean;
  readonly kafka: KafkaAccess;
  /** null: no Redis user for this role. */
  readonly redis: RedisAccess | null;
}

/** What every Redis client needs to connect: ioredis's ready check (INFO). (ioredis's CLIENT SETINFO, Redis 7.2+, may fail: it ignores that.) */
export const REDIS_CONNECTION_COMMANDS: readonly string[] = ['ping', 'info', 'client|setname', 'quit', 'echo'];

/**
 * The consumer-group prefix of each role's agent client and key reader (packages/sdk agent.ts,
 * keyring.ts): one per role, so no role can join another's group and take its partitions.
 */
export function agentGroupPrefix(role: string): string {
  return `intentgate-agent-${role}-`;
}
export function keyringGroupPrefix(role: string): string {
  return `intentgate-keyring-${role}-`;
}

const NONE: KafkaAccess = { produce: [], consume: [], groupPrefixes: [], transactionalIdPrefixes: [] };

/** The AgentClient (packages/sdk): intents out, decisions in, a consumer group of its own per client. */
function agentClient(role: string): KafkaAccess {
  return { produce: ['intents'], consume: ['decisions'], groupPrefixes: [agentGroupPrefix(role)], transactionalIdPrefixes: [] };
}

/**
 * The claim keys of WarrantGuard (packages/sdk guard.ts) for one domain: its warrant ids and
 * intents claimed once, and its claim memory's epoch. An enforcement point reaches only its own
 * domain's, so none can erase another's claims.
 */
const claimKeysOf = (domain: Domain) => [`ig:claim:${domain}:*`];

function executor(domain: Domain): RoleSpec {
  return {
    role: `executor-${domain}`,
    description: `the ${domain} executor (ExecutorRuntime for intents.approved.${domain})`,
    superUser: false,
    kafka: {
      // warrant.keys: its receipt key with its root certificate (readers refuse any other key).
      produce: ['executions', 'receipts', 'warrant.keys', DLQ_BUS],
      consume: [approvedTopic(domain), 'warrant.keys'],
      groupPrefixes: [`intentgate-executor-${domain}`, keyringGroupPrefix(`executor-${domain}`)],
      transactionalIdPrefixes: [],
    },
    // Claims (the claim functions run GET, SET and TIME), run records (SET XX KEEPTTL, the replace_run function, GET): nothing of
    // the context. FCALL, never EVAL: it runs only the provisioned functions, with this user's rights.
    redis: { read: [], readWrite: [...claimKeysOf(domain), `ig:run:${domain}:*`], commands: ['fcall', 'get', 'set', 'time'] },
  };
}

export const ACCESS: readonly RoleSpec[] = Object.freeze([
  {
    role: 'agent-platform',
    description: 'an agent platform (AgentClient: submits intents, awaits decisions)',
    superUser: false,
    kafka: agentClient('agent-platform'),
    redis: null,
  },
  {
    role: 'authzen-gateway',
    description: 'the AuthZEN HTTP gateway (an AgentClient for its callers)',
    superUser: false,
    kafka: agentClient('authzen-gateway'),
    redis: null,
  },
  {
    role: 'mcp-gateway',
    description: 'the MCP gateway (an AgentClient; verifies and claims the warrants of the tool calls it executes)',
    superUser: false,
    // An enforcement point too: it reads the certified warrant keys, as executors do.
    kafka: (() => {
      const client = agentClient('mcp-gateway');
      return { ...client, consume: [...client.consume, 'warrant.keys'], groupPrefixes: [...client.groupPrefixes, keyringGroupPrefix('mcp-gateway')] };
    })(),
    // The claim function runs GET, SET and TIME: Redis checks a function's commands against the caller's user too.
    redis: { read: [], readWrite: claimKeysOf('ai'), commands: ['fcall', 'get', 'set', 'time'] },
  },
  {
    role: 'decision',
    description: 'the decision worker',
    superUser: false,
    kafka: {
      produce: ['decisions', ...DOMAINS.map(approvedTopic), 'approvals.requests', 'receipts', 'warrant.keys', DLQ_INTENTS, DLQ_BUS],
      consume: ['intents', 'identity.revocations', 'policy.bundles', 'policy.activations'],
      // intentgate-decision is its group on intents and the prefix of its transactional ids (<group>-<instance>).
      groupPrefixes: ['intentgate-decision', 'intentgate-revocations-', 'intentgate-policy-watch-'],
      transactionalIdPrefixes: ['intentgate-decision'],
      // Admission: how far the executors are behind on the approved intents it writes.
      watchedGroupPrefixes: ['intentgate-executor-'],
    },
    // Reads the context (read_batch under FCALL_RO); writes its decision memory, session history and the revocations it applies.
    redis: {
      read: ['ig:context:*', 'ig:resource:*', 'ig:agent:*'],
      readWrite: ['ig:revoked', 'ig:session:*', 'ig:usage:*', 'ig:decision:*'],
      commands: ['fcall', 'fcall_ro', 'get', 'set', 'hget', 'hmget', 'hset', 'hdel', 'smismember', 'sadd', 'hincrby', 'expire'],
    },
  },
  {
    role: 'approvals',
    description: 'the approvals service (escalations in, reviewed final decisions out)',
    superUser: false,
    kafka: {
      produce: ['approvals.responses', 'decisions', ...DOMAINS.map(approvedTopic), 'receipts', 'warrant.keys', DLQ_BUS],
      consume: ['approvals.requests', 'warrant.keys'],
      groupPrefixes: ['intentgate-approvals', keyringGroupPrefix('approvals')],
      // Bus.sendAtomically(records, `approvals-<kid>-<decision id>`).
      transactionalIdPrefixes: ['approvals-'],
    },
    // ContextStore.replaceDecision: the final decision replaces the remembered escalation.
    redis: { read: [], readWrite: ['ig:decision:*'], commands: ['set'] },
  },
  ...DOMAINS.map(executor),
  {
    role: 'ledger',
    description: 'the ledger (receipts in, signed checkpoints out)',
    superUser: false,
    kafka: {
      produce: ['ledger.checkpoints', DLQ_BUS],
      consume: ['receipts', 'policy.bundles', 'warrant.keys'],
      groupPrefixes: ['intentgate-ledger', keyringGroupPrefix('ledger')],
      transactionalIdPrefixes: [],
    },
    redis: null,
  },
  {
    role: 'operator',
    description: 'an operator: the CLI (revoke, policy publish, agents, resources) and npm start\'s policy activation and demo',
    superUser: false,
    kafka: {
      produce: ['policy.bundles', 'policy.activations', 'agents.registry', 'resources.labels', 'receipts', 'identity.revocations', DLQ_BUS],
      // npm start's demo watches the executions of its intents; `intentgate agents|resources show|list` read the registry and the labels.
      consume: ['executions', 'agents.registry', 'resources.labels'],
      groupPrefixes: ['intentgate-operator-', 'intentgate-demo-'],
      // publishAndActivate → Bus.sendAtomically with the default id `<clientId>-atomic-<uuid>`: clientId intentgate-operator….
      transactionalIdPrefixes: ['intentgate-operator'],
    },
    redis: null,
  },
  {
    role: 'context-feeder',
    description: 'the context feeder (agent registry from agents.registry, resource labels from resources.labels, revocations replayed, decisions and budgets restored from receipts after a lost store, the sync mark)',
    superUser: false,
    kafka: {
      produce: [DLQ_BUS],
      // identity.revocations: replayed into the store after it lost its data; receipts: the decisions recorded in them, likewise.
      consume: ['agents.registry', 'resources.labels', 'identity.revocations', 'receipts'],
      groupPrefixes: ['intentgate-context-feeder-'],
      transactionalIdPrefixes: [],
    },
    // apply_registration and apply_label run HGET, HSET and HDEL: a newer revision only. restore_decisions
    // (GET, SET) and record_outcomes (SADD, HINCRBY, EXPIRE): what a lost store held of the decisions.
    redis: {
      read: [],
      readWrite: ['ig:context:*', 'ig:resource:*', 'ig:agent:*', 'ig:revoked', 'ig:decision:*', 'ig:session:*', 'ig:usage:*'],
      commands: ['get', 'set', 'hset', 'hdel', 'hget', 'hmget', 'sadd', 'srem', 'sismember', 'hincrby', 'expire', 'fcall'],
    },
  },
  {
    role: 'provisioner',
    description: 'the provisioner (admin): creates topics, schemas and these ACLs; a broker super user',
    superUser: true,
    kafka: NONE,
    redis: { read: [], readWrite: ['*'], commands: ['@all'] },
  },
] satisfies RoleSpec[]);

const byRole = new Map<string, RoleSpec>(ACCESS.map((r) => [r.role, r]));

export function roleSpec(role: string): RoleSpec {
  const spec = byRole.get(role);
  if (spec === undefined) throw new RangeError(`unknown role "${role}": not in the IntentGate access catalog`);
  return spec;
}

export function isRole(value: string): value is Role {
  return byRole.has(value);
}

/** The executor role of a domain. */
export function executorRole(domain: Domain): Role {
  return `executor-${domain}`;
}

/** The README's role table, generated from the catalog (a unit test keeps the README's copy equal to it). */
export function accessTable(catalog: readonly RoleSpec[] = ACCESS): string {
  const list = (items: readonly string[]) => (items.length === 0 ? '–' : items.map((i) => `\`${i}\``).join(', '));
  const rows = catalog.map((r) => {
    if (r.superUser) return `| \`${r.role}\` | ${r.description} | all (super user) | all | all | all | all keys, all commands |`;
    const redis = r.redis === null ? '–' : [...r.redis.readWrite.map((k) => `\`${k}\``), ...r.redis.read.map((k) => `\`${k}\` (read)`)].join(', ');
    const groups = [...r.kafka.groupPrefixes.map((g) => `\`${g}*\``), ...(r.kafka.watchedGroupPrefixes ?? []).map((g) => `\`${g}*\` (offsets only)`)];
    return `| \`${r.role}\` | ${r.description} | ${list(r.kafka.produce)} | ${list(r.kafka.consume)} | ${groups.length === 0 ? '–' : groups.join(', ')} | ${list(r.kafka.transactionalIdPrefixes.map((t) => `${t}*`))} | ${redis} |`;
  });
  return ['| role | who | writes | reads | consumer groups | transactional ids | Redis keys |', '|---|---|---|---|---|---|---|', ...rows].join('\n');
}
