// The KafkaJS refusal patch is applied only to the release it was written against.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { REFUSAL_PATCH_KAFKAJS_VERSION, refusalPatchApplied } from '../src/refusal-patch.ts';

describe('the KafkaJS refusal patch', () => {
  it('is applied exactly when the installed KafkaJS is the version it was written for', () => {
    const installed = (createRequire(import.meta.url)('kafkajs/package.json') as { version: string }).version;
    expect(refusalPatchApplied).toBe(installed === REFUSAL_PATCH_KAFKAJS_VERSION);
    // The lockfile pins this version; a different one means re-reading BrokerPool.withBroker before moving the guard.
    expect(installed).toBe(REFUSAL_PATCH_KAFKAJS_VERSION);
  });
});
