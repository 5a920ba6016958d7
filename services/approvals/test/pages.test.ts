// The reviewer page must not let agent-written text hide or overstate what an action does:
// what binds the action is shown whole and first, the agent's free-form context is never cut
// without saying so, and the registry's and store's facts are shown as facts with the agent's
// claims beside them.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseMessage, type ApprovalRequest, type Intent } from '@intentgate/contracts';
import { exampleIntent } from '@intentgate/contracts/examples';
import { digestOf, generateSigningKey, withSignature } from '@intentgate/evidence';
import type { Reviewer } from '../src/review.ts';
import { boundKeys, CONTEXT_LIMIT, pendingPage } from '../src/pages.ts';
import type { StoredRequest } from '../src/store.ts';

const NOW = Date.parse('2026-11-24T12:00:00Z');
const bob: Reviewer = { id: 'bob', name: 'Bob', principals: ['bob@example.org'] };
const escalator = await generateSigningKey('decision-test');

const BASIS: NonNullable<ApprovalRequest['basis']> = {
  agent: { autonomy: 'autonomous', owner: 'alice@example.org' },
  resource: { sensitivity: 'confidential', environment: 'production', labelled: false },
  binds: ['rows'],
  action: { reversible: false },
};

function intent(over: Partial<Intent> = {}): Intent {
  return {
    ...exampleIntent(),
    subject: { type: 'agent', id: 'spiffe://example.org/agents/a', properties: { autonomy: 'supervised' } },
    delegation: [{ principal: 'alice@example.org', kind: 'human', scope: ['*'] }, { principal: 'spiffe://example.org/agents/a', kind: 'agent', scope: ['data:*'] }],
    action: { name: 'data.delete', domain: 'data', reversible: false },
    resource: { type: 'table', id: 'billing.invoices', properties: { sensitivity: 'internal', environment: 'staging' } },
    ...over,
  };
}

function item(i: Intent, extra: Partial<ApprovalRequest> = {}): StoredRequest {
  const request = parseMessage('ApprovalRequest', withSignature(escalator, 'ApprovalRequest', {
    intent_id: i.intent_id, decision_id: randomUUID(), intent: i, intent_digest: digestOf(i),
    reasons: [{ code: 'IRREVERSIBLE_HIGH_IMPACT', rule: 'r', message: 'm' }], quorum: 1, reviewers: [],
    deadline: new Date(NOW + 60_000).toISOString(), requested_at: new Date(NOW).toISOString(), ...extra,
  })) as ApprovalRequest;
  return { request, responses: [], status: 'pending', receivedAt: new Date(NOW).toISOString(), settlement: null, settledAt: null, verdict: null, reason: null };
}

const page = (s: StoredRequest) => pendingPage(bob, 'csrf', [s], NOW, null).text;
const decode = (t: string) => t.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&#96;/g, '`').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const pre = (text: string, cls: string) => [...text.matchAll(new RegExp(`<pre class="${cls}"[^>]*>([\\s\\S]*?)</pre>`, 'g'))].map((m) => decode(m[1]!));

describe('bound arguments', () => {
  it('rows is shown in full and before a 100 KB note; the note is cut with an explicit marker', () => {
    const note = 'x'.repeat(100_000);
    const out = page(item(intent({ context: { note, rows: 1500 } }), { basis: BASIS, sensitivity: 'confidential' }));
    expect(pre(out, 'bound-arg')).toEqual(['1500']);
    expect(out).toContain('<pre class="bound-arg" data-key="rows">1500</pre>');
    expect(out.indexOf('data-key="rows"')).toBeLessThan(out.indexOf('<pre class="context">'));
    const [free] = pre(out, 'context');
    expect(free!.length).toBe(CONTEXT_LIMIT);
    const whole = JSON.stringify({ note }, null, 2);
    expect(whole.startsWith(free!)).toBe(true);
    expect(out).toContain(`truncated: ${whole.length - CONTEXT_LIMIT} more characters (full text in the audit record)`);
    // The marker is the page's, outside the agent's text.
    expect(free).not.toContain('truncated');
  });

  it('the review finding: a 4100-character note no longer hides rows', () => {
    const out = page(item(intent({ context: { note: 'x'.repeat(4100), rows: 1500 } }), { basis: BASIS }));
    expect(pre(out, 'bound-arg')).toEqual(['1500']);
    expect(pre(out, 'context')[0]).not.toContain('rows');
  });

  it('a bound argument is never cut, however large; a small context is not marked truncated', () => {
    const config = { replicas: 3, env: 'y'.repeat(50_000) };
    const out = page(item(intent({ action: { name: 'infra.scale', domain: 'infra', reversible: true }, context: { config, ticket: 'OPS-1' } }), { basis: { ...BASIS, binds: ['config'] } }));
    expect(pre(out, 'bound-arg').map((t) => JSON.parse(t))).toEqual([config]);
    expect(pre(out, 'context')).toEqual([JSON.stringify({ ticket: 'OPS-1' }, null, 2)]);
    expect(out).not.toContain('truncated:');
  });

  it('binds come from the catalog (via the basis) plus rows, config, body and arguments when present, in that order', () => {
    const context = { arguments: { q: 1 }, extra: 'e', body: 'b', limit: 7, rows: 2 };
    expect(boundKeys(item(intent({ context }), { basis: { ...BASIS, binds: ['limit'] } }).request)).toEqual(['limit', 'rows', 'body', 'arguments']);
    // An older request without a basis still shows the fixed keys first.
    const older = item(intent({ context }));
    expect(boundKeys(older.request)).toEqual(['rows', 'body', 'arguments']);
    const out = page(older);
    expect(pre(out, 'bound-arg')).toEqual(['2', '"b"', JSON.stringify({ q: 1 }, null, 2)]);
    expect(JSON.parse(pre(out, 'context')[0]!)).toEqual({ extra: 'e', limit: 7 });
  });

  it('agent-written text stays text in bound arguments and context', () => {
    const evil = '</pre><script>alert(1)</script>';
    const out = page(item(intent({ context: { rows: evil, note: evil } }), { basis: BASIS }));
    expect(out).not.toContain('<script>alert');
    expect(pre(out, 'bound-arg')).toEqual([JSON.stringify(evil)]);
  });
});

describe('facts and claims', () => {
  it('shows an action the catalog calls irreversible as irreversible, whatever the agent said', () => {
    const claimedReversible = intent({ action: { name: 'data.delete', domain: 'data', reversible: true }, context: { rows: 100 } });
    const out = page(item(claimedReversible, { basis: { ...BASIS, action: { reversible: false } } }));
    expect(out).toContain('<strong class="irreversible">irreversible</strong> <span class="claim">(the agent said reversible)</span>');
    expect(out).not.toMatch(/in data · reversible/);
    // An older request without the catalog's word: the claim, marked unchecked.
    const { action: _catalog, ...older } = BASIS;
    expect(page(item(claimedReversible, { basis: older }))).toContain('reversible <span class="claim">as the agent said; not checked against the action catalog</span>');
  });

  it('shows the registry autonomy and owner and the effective labels, with the agent\'s differing claims beside them', () => {
    const out = page(item(intent({ context: { rows: 5 } }), { basis: BASIS, sensitivity: 'confidential' }));
    expect(out).toContain('autonomy <span class="autonomy">autonomous</span> <span class="claim">(the agent said supervised)</span>');
    expect(out).toContain('owner <span class="owner">alice@example.org</span>');
    expect(out).toContain('sensitivity <span class="sensitivity">confidential</span> <span class="claim">(the agent said internal)</span>');
    expect(out).toContain('<strong class="unlabelled">not labelled in the context store</strong>');
    expect(out).toContain('environment <span class="environment">production</span> <span class="claim">(the agent said staging)</span>');
  });

  it('says nothing of claims that match the facts, nor "not labelled" for a labelled resource', () => {
    const i = intent({ subject: { type: 'agent', id: 'spiffe://example.org/agents/a', properties: { autonomy: 'autonomous' } }, resource: { type: 'table', id: 't', properties: { sensitivity: 'confidential' } }, context: { rows: 5 } });
    const out = page(item(i, { basis: { ...BASIS, resource: { sensitivity: 'confidential', environment: 'staging', labelled: true } } }));
    expect(out).not.toContain('the agent said');
    expect(out).not.toContain('not labelled');
    expect(out).toContain('environment <span class="environment">staging</span>');
  });

  it('a long claim is cut, saying so, so it cannot bury the facts', () => {
    const i = intent({ resource: { type: 'table', id: 't', properties: { sensitivity: 'internal', environment: 'z'.repeat(10_000) } }, context: { rows: 5 } });
    const out = page(item(i, { basis: BASIS }));
    expect(out).toContain(`(the agent said ${'z'.repeat(200)}… <span class="truncated">truncated: 9800 more characters</span>)`);
    expect(out).not.toContain('z'.repeat(201));
  });

  it('an agent the registry does not know is shown as such', () => {
    const out = page(item(intent({ context: { rows: 5 } }), { basis: { ...BASIS, agent: null } }));
    expect(out).toContain('not in the agent registry');
    expect(out).toContain('(the agent said autonomy supervised)');
  });

  it('an older request without a basis marks the autonomy and environment as the agent\'s unchecked word', () => {
    const out = page(item(intent({ context: { rows: 5 } }), { sensitivity: 'confidential' }));
    expect(out).toContain('<span class="autonomy">supervised</span> <span class="claim">as the agent said; not checked against the agent registry</span>');
    expect(out).toContain('sensitivity <span class="sensitivity">confidential</span> <span class="claim">(the agent said internal)</span>');
    expect(out).toContain('environment <span class="environment">staging</span> <span class="claim">as the agent said; not checked</span>');
  });
});
