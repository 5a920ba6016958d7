// `intentgate agents register | show | list | suspend | resume`: the agent registry. Each change
// is an operator-signed entry on agents.registry with its receipt (one transaction); the context
// feeder applies it to the store every decision worker reads, from the next batch on.
import { AGENT_STATUSES, AgentRegistration, AUTONOMY_LEVELS, DOMAINS, SpiffeId, type Domain } from '@intentgate/contracts';
import { publishRegistration, readRegistry } from '@intentgate/decision';
import { loadPrivateKey, loadTrustFile, trustPaths } from '@intentgate/evidence';
import { CliError } from './errors.ts';
import { operatorBus } from './operator-bus.ts';
import type { Out } from './commands.ts';
import { defaultTrustDir } from './trust.ts';

export interface AgentsOptions {
  owner?: string | undefined;
  autonomy?: string | undefined;
  domains?: string | undefined;
  actions?: string | undefined;
  reason?: string | undefined;
  /** The trust directory: its trust file verifies what is read, its operator key signs what is written. */
  dir?: string | undefined;
}

const HINT = 'e.g. intentgate agents register spiffe://demo.intentgate.local/agents/ops --owner alice@example.org --autonomy supervised --domains data,app --actions "*"';

function agentId(value: string | undefined): string {
  const parsed = SpiffeId.safeParse(value);
  if (!parsed.success) throw new CliError('USAGE', `an agent is named by its SPIFFE ID (spiffe://<trust-domain>/<path>), not ${JSON.stringify(value ?? '')}`, HINT);
  return parsed.data;
}

function list(value: string | undefined, what: string): string[] {
  const items = (value ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length === 0) throw new CliError('USAGE', `agents register needs --${what}`, HINT);
  return items;
}

function describe(entry: AgentRegistration): string[] {
  return [
    `${entry.agent}  ${entry.status.toUpperCase()}  (revision ${entry.revision}, ${entry.changed_at} by ${entry.changed_by})`,
    `  owner ${entry.owner}; autonomy ${entry.autonomy}; domains ${entry.domains.join(', ') || 'none'}; actions ${entry.actions.join(', ') || 'none'}`,
    ...(entry.reason ? [`  reason: ${entry.reason}`] : []),
  ];
}

/** Runs one `agents` subcommand; returns the exit code. */
export async function agents(sub: string | undefined, id: string | undefined, options: AgentsOptions, out: Out): Promise<number> {
  if (!sub || !['register', 'show', 'list', 'suspend', 'resume'].includes(sub)) {
    throw new CliError('USAGE', `unknown agents command ${sub ?? ''}`, 'intentgate agents register | show | list | suspend | resume');
  }
  const paths = trustPaths(options.dir ?? defaultTrustDir());
  const trust = await loadTrustFile(paths.trustFile);
  const agent = sub === 'list' ? null : agentId(id);
  const bus = await operatorBus('the agent registry');
  try {
    const registry = await readRegistry(bus, trust);
    if (sub === 'list') {
      if (registry.size === 0) out('no agents registered');
      for (const entry of [...registry.values()].sort((a, b) => a.agent.localeCompare(b.agent))) for (const line of describe(entry)) out(line);
      return 0;
    }
    const previous = registry.get(agent!);
    if (sub === 'show') {
      if (!previous) throw new CliError('AGENT_UNKNOWN', `${agent} is not in the agent registry`, 'Register it: intentgate agents register <spiffe-id> --owner … --autonomy … --domains … --actions …');
      for (const line of describe(previous)) out(line);
      return 0;
    }
    let change;
    if (sub === 'register') {
      const autonomy = options.autonomy ?? '';
      if (!(AUTONOMY_LEVELS as readonly string[]).includes(autonomy)) throw new CliError('USAGE', `--autonomy must be one of ${AUTONOMY_LEVELS.join(', ')}`, HINT);
      const domains = list(options.domains, 'domains');
      const unknown = domains.filter((d) => !(DOMAINS as readonly string[]).includes(d));
      if (unknown.length > 0) throw new CliError('USAGE', `unknown domain ${unknown.join(', ')}: the domains are ${DOMAINS.join(', ')}`, HINT);
      if (!options.owner) throw new CliError('USAGE', 'agents register needs --owner (who answers for the agent)', HINT);
      change = {
        agent: agent!, owner: options.owner, autonomy: autonomy as AgentRegistration['autonomy'], domains: domains as Domain[],
        actions: list(options.actions, 'actions'), status: previous?.status ?? 'active', reason: options.reason ?? '',
      };
    } else {
      if (!previous) throw new CliError('AGENT_UNKNOWN', `${agent} is not in the agent registry`, 'Register it first: intentgate agents register …');
      const status: (typeof AGENT_STATUSES)[number] = sub === 'suspend' ? 'suspended' : 'active';
      const { agent: _a, owner, autonomy, domains, actions } = previous;
      change = { agent: agent!, owner, autonomy, domains, actions, status, reason: options.reason ?? '' };
    }
    const entry = await publishRegistration(bus, change, await loadPrivateKey(paths.operatorKey), previous);
    out(`${sub === 'register' ? (previous ? 'updated' : 'registered') : sub === 'suspend' ? 'suspended' : 'resumed'} ${entry.agent} (revision ${entry.revision}); decisions follow it from the context feeder's next update`);
    return 0;
  } finally {
    await bus.close();
  }
}
