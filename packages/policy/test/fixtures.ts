// Inputs for the starter policy, shaped as the decision worker builds them.
export const AGENT = 'spiffe://example.org/agents/helper';

export function policyInput(overrides: { action?: object; resource?: object; context?: object; intentContext?: object } = {}) {
  return {
    intent: {
      intent_id: '3b241101-e2bb-4255-8caf-4136c566a962',
      submitted_at: '2026-11-23T12:00:00Z',
      subject: { type: 'agent', id: AGENT, properties: { autonomy: 'supervised' } },
      delegation: [
        { principal: 'alice@example.org', kind: 'human', scope: ['*'] },
        { principal: AGENT, kind: 'agent', scope: ['data:*'] },
      ],
      session: { id: 's1', workflow_step: 'reconcile', request_source: 'user' },
      action: { name: 'data.query', domain: 'data', reversible: true, ...overrides.action },
      resource: { type: 'table', id: 'billing.invoices', properties: { sensitivity: 'confidential' }, ...overrides.resource },
      context: { ...overrides.intentContext },
    },
    context: {
      now: { unix_ms: 1_795_000_000_000, hour_utc: 12, weekday: 2 },
      session: { exported_rows: 0, actions: 0, denied: 0 },
      resource: { sensitivity: null, environment: null },
      agent: { revoked: false, registered: true, status: 'active', owner: 'alice@example.org', autonomy: 'assisted', domains: ['app', 'data', 'infra', 'ai'], actions: ['*'], revision: 1 },
      revoked: [],
      ...overrides.context,
    },
  };
}
