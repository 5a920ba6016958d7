import { randomUUID } from 'node:crypto';
import type { Bus } from '@intentgate/bus';
import type { BuiltBundle } from '@intentgate/policy';

export interface PublishOptions {
  version: string;
  tenant?: string;
  by: string;
  revision?: string;
  entrypoints?: string[];
}

/**
 * Publishes a bundle and activates it for a tenant, together with the activation's receipt,
 * all in one Kafka transaction: there is no activation without its receipt.
 */
export async function publishAndActivate(bus: Bus, bundle: BuiltBundle, options: PublishOptions): Promise<void> {
  const now = new Date().toISOString();
  const tenant = options.tenant ?? 'default';
  const activation = { tenant, bundle_digest: bundle.digest, version: options.version, activated_at: now, activated_by: options.by };
  await bus.sendAtomically([
    {
      topic: 'policy.bundles',
      key: bundle.digest,
      value: {
        digest: bundle.digest, version: options.version,
        manifest: { entrypoints: options.entrypoints ?? ['intentgate/decision/decision'], revision: options.revision ?? '', built_at: now, built_by: options.by },
        bundle: bundle.bytes.toString('base64'),
      },
    },
    { topic: 'policy.activations', key: tenant, value: activation },
    {
      topic: 'receipts',
      key: bundle.digest,
      value: { receipt_id: randomUUID(), kind: 'policy-activation', intent_id: null, body: { activation }, producer: options.by, produced_at: now },
    },
  ]);
}
