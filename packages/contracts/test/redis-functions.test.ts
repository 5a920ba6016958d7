import { describe, expect, it } from 'vitest';
import { isRedisFunctionMissing, redisErrorMessage, redisFunctionLibrary } from '../src/index.ts';

describe('a Redis function library', () => {
  const lib = redisFunctionLibrary('intentgate_test', { read: { body: "return redis.call('GET', KEYS[1])", readOnly: true }, write: { body: "return redis.call('SET', KEYS[1], ARGV[1])" } });

  it('names each function with a digest of the sources, so another release calls names this store does not hold', () => {
    expect(lib.name('read')).toBe(`intentgate_test_read_${lib.version}`);
    const changed = redisFunctionLibrary('intentgate_test', { read: { body: "return redis.call('GET', KEYS[1]) ", readOnly: true }, write: { body: "return redis.call('SET', KEYS[1], ARGV[1])" } });
    expect(changed.version).toBe(lib.version); // whitespace at the ends is not the logic
    const other = redisFunctionLibrary('intentgate_test', { read: { body: "return redis.call('GET', KEYS[2])", readOnly: true }, write: { body: "return redis.call('SET', KEYS[1], ARGV[1])" } });
    expect(other.name('read')).not.toBe(lib.name('read'));
  });

  it('is one FUNCTION LOAD text: the library header, and the read-only ones flagged no-writes', () => {
    expect(lib.code.startsWith('#!lua name=intentgate_test\n')).toBe(true);
    expect(lib.code).toMatch(new RegExp(`function_name='${lib.name('read')}', callback=function\\(KEYS, ARGV\\)\\nif #KEYS > 8192 or #ARGV > 32768 then return redis.error_reply\\([^\\n]+\\) end\\nreturn redis.call\\('GET', KEYS\\[1\\]\\)\\nend, flags=\\{'no-writes'\\}\\}`));
    expect(lib.code).toContain(`return redis.call('SET', KEYS[1], ARGV[1])\nend}`);
  });

  it('refuses a library name Redis or the names could not carry', () => {
    expect(() => redisFunctionLibrary('intentgate-test', {})).toThrow(/a-z and _ only/);
  });

  it('tells a missing function from other errors', () => {
    expect(isRedisFunctionMissing(new Error('ERR Function not found'))).toBe(true);
    expect(isRedisFunctionMissing(new Error('NOPERM this user has no permissions'))).toBe(false);
    expect(isRedisFunctionMissing(undefined)).toBe(false);
    expect(redisErrorMessage(new Error('ERR Function not found'))).toMatch(/^ERR Function not found: .*run provisioning/);
    expect(redisErrorMessage(new Error('NOPERM no'))).toBe('NOPERM no');
  });
});
