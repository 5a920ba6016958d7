import { describe, expect, it } from 'vitest';
import { newBearerToken } from '@intentgate/evidence';
import { LedgerAccess, LedgerService, parseLedgerTokens, ROUTE_ROLES, type LedgerRoute } from '../src/index.ts';

describe('ledger access', () => {
  const auditor = newBearerToken('igl');
  const operator = newBearerToken('igl');
  const access = new LedgerAccess(parseLedgerTokens({
    tokens: [
      { name: 'audit', roles: ['auditor'], token_sha256: auditor.sha256 },
      { name: 'ops', roles: ['operator'], token_sha256: operator.sha256 },
    ],
  }));

  it('maps every path to its route before any check', () => {
    const cases: Array<[string, LedgerRoute | null]> = [
      ['/healthz', 'health'], ['/readyz', 'health'], ['/v1/key', 'key'], ['/v1/checkpoints/latest', 'checkpoints'],
      ['/v1/logs/0/consistency', 'consistency'], ['/v1/receipts/abc', 'receipt'], ['/v1/replay/abc', 'replay'], ['/v1/export', 'export'],
      ['/v1/receipts', null], ['/v1/receipts/a/b', null], ['/v1/exports', null], ['/', null],
    ];
    for (const [path, route] of cases) expect(LedgerService.routeOf(path), path).toBe(route);
  });

  it('public routes need no token; the others refuse a missing or unknown token with 401', () => {
    for (const route of ['health', 'key', 'checkpoints', 'consistency'] as const) expect(access.check(route, null), route).toBeNull();
    for (const route of ['receipt', 'replay', 'export'] as const) {
      expect(access.check(route, null), route).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
      expect(access.check(route, newBearerToken('igl').token), route).toMatchObject({ status: 401, code: 'UNAUTHENTICATED', message: 'unknown ledger API token' });
    }
  });

  it('a known token is served on its role\'s routes and refused with 403 elsewhere', () => {
    for (const route of ['receipt', 'replay', 'export'] as const) expect(access.check(route, auditor.token), route).toBeNull();
    expect(access.check('receipt', operator.token)).toBeNull();
    expect(access.check('replay', operator.token)).toBeNull();
    expect(access.check('export', operator.token)).toMatchObject({ status: 403, code: 'ROLE_NOT_ALLOWED', message: 'ops (operator) may not use export' });
    expect(Object.entries(ROUTE_ROLES).filter(([, roles]) => roles === null).map(([r]) => r).sort()).toEqual(['checkpoints', 'consistency', 'health', 'key']);
  });

  it('with no tokens configured, every protected route is refused and says how to configure one', () => {
    const none = new LedgerAccess([]);
    expect(none.check('export', null)).toMatchObject({ status: 401, code: 'UNAUTHENTICATED', hint: expect.stringMatching(/LEDGER_TOKENS_FILE/) });
    expect(none.check('key', null)).toBeNull();
  });

  it('a tokens file with an unknown role, a plain token or a repeated name is refused', () => {
    expect(() => parseLedgerTokens({ tokens: [{ name: 'x', roles: ['admin'], token_sha256: auditor.sha256 }] })).toThrow(/roles/);
    expect(() => parseLedgerTokens({ tokens: [{ name: 'x', roles: ['auditor'], token_sha256: auditor.token }] })).toThrow(/SHA-256/);
    expect(() => parseLedgerTokens({ tokens: [{ name: 'x', roles: [], token_sha256: auditor.sha256 }] })).toThrow(/roles/);
    const twice = { name: 'x', roles: ['auditor'], token_sha256: auditor.sha256 };
    expect(() => parseLedgerTokens({ tokens: [twice, twice] })).toThrow(/configured twice/);
  });
});
