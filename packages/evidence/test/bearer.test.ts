import { describe, expect, it } from 'vitest';
import { bearerToken, listenUrl, newBearerToken, tokenDigest, TokenDigests } from '../src/index.ts';

describe('bearer tokens', () => {
  it('a new token is 256 random bits with its prefix, and its digest is the hex SHA-256', () => {
    const { token, sha256 } = newBearerToken('igx');
    expect(token).toMatch(/^igx_[A-Za-z0-9_-]{43}$/);
    expect(sha256).toBe(tokenDigest(token));
    expect(tokenDigest('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(newBearerToken('igx').token).not.toBe(token);
  });

  it('reads the credential of an Authorization: Bearer header, and nothing else', () => {
    expect(bearerToken('Bearer igx_abc-DEF.1~+/=')).toBe('igx_abc-DEF.1~+/=');
    expect(bearerToken('bearer tok')).toBe('tok');
    expect(bearerToken(undefined)).toBeNull();
    expect(bearerToken('')).toBeNull();
    expect(bearerToken('Basic dXNlcjpwYXNz')).toBeNull();
    expect(bearerToken('Bearer ')).toBeNull();
    expect(bearerToken('Bearer a b')).toBeNull();
  });

  it('finds what a stored digest grants; an unknown token finds nothing; a malformed digest is refused up front', () => {
    const a = newBearerToken('igx');
    const b = newBearerToken('igx');
    const table = new TokenDigests([{ sha256: a.sha256, value: 'A' }, { sha256: b.sha256, value: 'B' }]);
    expect(table.find(a.token)).toBe('A');
    expect(table.find(b.token)).toBe('B');
    expect(table.find(`${a.token}x`)).toBeNull();
    expect(table.find(a.sha256)).toBeNull(); // the digest itself is not a credential
    expect(new TokenDigests<string>([]).find(a.token)).toBeNull();
    expect(() => new TokenDigests([{ sha256: 'ABC', value: 'x' }])).toThrow(/64 lowercase hex/);
  });

  it('a wildcard listener is reached through loopback; IPv6 literals go in brackets', () => {
    expect(listenUrl('127.0.0.1', 80)).toBe('http://127.0.0.1:80');
    expect(listenUrl('0.0.0.0', 81)).toBe('http://127.0.0.1:81');
    expect(listenUrl('::', 82)).toBe('http://[::1]:82');
    expect(listenUrl('::1', 83)).toBe('http://[::1]:83');
    expect(listenUrl('ledger.internal', 84)).toBe('http://ledger.internal:84');
  });
});
