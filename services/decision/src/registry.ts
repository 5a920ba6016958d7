// The agent registry: who each agent is allowed to be, published by operators on the compacted
// agents.registry topic (an operator catalog) and fed into the context store the decision workers read.
import type { Bus } from '@intentgate/bus';
import { AgentRegistration, type AgentChange } from '@intentgate/contracts';
import type { SigningKey, TrustRoots } from '@intentgate/evidence';
import { catalogRefusal, publishEntry, readCatalog, type OperatorCatalog } from './operator-catalog.ts';

export const AGENT_REGISTRY: OperatorCatalog<AgentRegistration> = {
  topic: 'agents.registry', type: 'AgentRegistration', schema: AgentRegistration, keyOf: (e) => e.agent,
  refusalPrefix: 'REGISTRATION', receiptKind: 'agent-registry',
  receiptBody: (entry, previous) => ({ registration: entry, ...(previous ? { previous: { revision: previous.revision, status: previous.status } } : {}) }),
};

/** Why an entry on agents.registry was not applied. */
export function registrationRefusal(trust: TrustRoots, value: unknown): { code: string; message: string } | null {
  return catalogRefusal(AGENT_REGISTRY, trust, value);
}

/** The registry as the topic holds it now: the newest verified entry of each agent. */
export function readRegistry(bus: Bus, trust: TrustRoots, options: { groupPrefix?: string; timeoutMs?: number } = {}): Promise<Map<string, AgentRegistration>> {
  return readCatalog(AGENT_REGISTRY, bus, trust, options);
}

/**
 * Publishes one signed registry entry, the next revision of its agent, with its receipt in one
 * transaction: no registry change without its evidence.
 */
export function publishRegistration(bus: Bus, change: AgentChange, operator: SigningKey, previous: AgentRegistration | undefined): Promise<AgentRegistration> {
  return publishEntry(AGENT_REGISTRY, bus, change, operator, previous);
}
