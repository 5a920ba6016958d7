import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ContractViolation, MESSAGE_NAMES, TOPICS, allJsonSchemas, parseMessage, topicSpec, valueSubject, MESSAGES,
} from '../src/index.ts';
import { exampleIntent, exampleOf } from '../src/examples.ts';

describe('contract examples', () => {
  it.each(MESSAGE_NAMES)('%s example satisfies its schema', (name) => {
    const example = exampleOf(name);
    expect(parseMessage(name, example)).toEqual(example);
  });
});

describe('Intent', () => {
  it('rejects unknown top-level fields', () => {
    expect(() => parseMessage('Intent', { ...exampleIntent(), sneaky: true })).toThrow(ContractViolation);
  });
  it('rejects a subject that is not a SPIFFE ID', () => {
    const bad = exampleIntent({ subject: { type: 'agent', id: 'https://evil', properties: { autonomy: 'supervised' } } });
    expect(() => parseMessage('Intent', bad)).toThrow(/subject\.id/);
  });
  it('rejects an unknown domain', () => {
    const bad = { ...exampleIntent(), action: { name: 'x', domain: 'crypto', reversible: true } };
    expect(() => parseMessage('Intent', bad)).toThrow(/action\.domain/);
  });
  it('requires a delegation chain', () => {
    expect(() => parseMessage('Intent', exampleIntent({ delegation: [] }))).toThrow(/delegation/);
  });
  it('reports the violation as a typed error with code and paths', () => {
    try {
      parseMessage('Intent', { intent_id: 'nope' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ContractViolation);
      const v = err as ContractViolation;
      expect(v.code).toBe('SCHEMA_INVALID');
      expect(v.issues.map((i) => i.path)).toContain('intent_id');
    }
  });
});

describe('Decision', () => {
  it('an allow without a warrant is invalid', () => {
    const { warrant: _w, ...noWarrant } = exampleOf('Decision');
    expect(() => parseMessage('Decision', noWarrant)).toThrow(/warrant/);
  });
  it('a deny carrying a warrant is invalid', () => {
    expect(() => parseMessage('Decision', { ...exampleOf('Decision'), verdict: 'deny' })).toThrow(/warrant/);
  });
  it('an escalation is never final', () => {
    const { warrant: _w, ...d } = exampleOf('Decision');
    expect(() => parseMessage('Decision', { ...d, verdict: 'escalate', final: true })).toThrow(/final/);
  });
  it('a deny needs at least one reason', () => {
    const { warrant: _w, ...d } = exampleOf('Decision');
    expect(() => parseMessage('Decision', { ...d, verdict: 'deny', reasons: [] })).toThrow(/reasons/);
  });
});

describe('ApprovedIntent', () => {
  it('refuses a decision for another intent', () => {
    const a = exampleOf('ApprovedIntent');
    expect(() => parseMessage('ApprovedIntent', { ...a, intent: exampleIntent() })).toThrow(/another intent/);
  });
});

describe('ExecutionResult', () => {
  it('a refusal must say why', () => {
    expect(() => parseMessage('ExecutionResult', { ...exampleOf('ExecutionResult'), status: 'refused' })).toThrow(/reason/);
  });
});

describe('topic catalog', () => {
  it('names a known message for every topic, and unique topic names', () => {
    expect(new Set(TOPICS.map((t) => t.name)).size).toBe(TOPICS.length);
    for (const t of TOPICS) expect(Object.keys(MESSAGES)).toContain(t.value);
  });
  it('has every topic of DESIGN.md', () => {
    const names = TOPICS.map((t) => t.name);
    for (const n of ['intents', 'decisions', 'intents.approved.app', 'intents.approved.infra', 'intents.approved.data',
      'intents.approved.ai', 'approvals.requests', 'approvals.responses', 'executions', 'receipts',
      'ledger.checkpoints', 'policy.bundles', 'policy.activations', 'intents.dlq']) {
      expect(names).toContain(n);
    }
  });
  it('keeps evidence forever and compacts bundles', () => {
    expect(topicSpec('receipts').retentionMs).toBe(-1);
    expect(topicSpec('policy.bundles').cleanupPolicy).toBe('compact');
    expect(topicSpec('intents').deadLetterTopic).toBe('intents.dlq');
  });
  it('refuses an unknown topic by name', () => {
    expect(() => topicSpec('nope')).toThrow(/unknown topic/);
    expect(valueSubject('intents')).toBe('intents-value');
  });
});

describe('JSON Schema export', () => {
  it('schemas/ matches the zod source (run `npm run schemas` after changing a contract)', async () => {
    const dir = join(import.meta.dirname, '..', '..', '..', 'schemas');
    for (const [name, text] of allJsonSchemas()) {
      const onDisk = await readFile(join(dir, `${name}.schema.json`), 'utf8');
      expect(onDisk, `${name}.schema.json drifted`).toBe(text);
    }
  });
  it('every schema names json-schema.org, which the registry needs to recognise JSON Schema', () => {
    for (const text of allJsonSchemas().values()) {
      expect(JSON.parse(text).$schema).toMatch(/^http:\/\/json-schema\.org\//);
    }
  });
});

describe('WarrantKey', () => {
  it('refuses private key material', () => {
    const key = exampleOf('WarrantKey');
    expect(() => parseMessage('WarrantKey', { ...key, jwk: { ...key.jwk, d: 'secret' } })).toThrow(/d/);
  });
});
