import { randomUUID } from 'node:crypto';
import type { Bus } from '@intentgate/bus';
import { withSignature, type SigningKey } from '@intentgate/evidence';
import type { BuiltBundle } from '@intentgate/policy';

export interface PublishOptions {
  version: string;
  tenant?: string;
  by: string;
  /** The operator key that signs the activation and its receipt (workers refuse an unsigned one). */
  operator: SigningKey;
  revision?: string;
  entrypoints?: string[];
}

/**
 * Publishes a bundle and activates it for a tenant, together with the activation's receipt,
 * all in one Kafka transaction: there is no activation without its receipt. The bundle must
 * carry its publisher's signature (buildBundle with `signing`); the activation and the receipt
 * are signed here with the operator key.
 */
export async function publishAndActivate(bus: Bus, bundle: BuiltBundle, options: PublishOptions): Promise<void> {
  const now = new Date().toISOString();
  const tenant = options.tenant ?? 'default';
  const activation = withSignature(options.operator, 'PolicyActivation', {
    tenant, bundle_digest: bundle.digest, version: options.version, activated_at: now, activated_by: options.by,
  });
  const receipt = withSignature(options.operator, 'Receipt', {
    receipt_id: randomUUID(), kind: 'policy-activation' as const, intent_id: null, body: { activation },
    producer: `operator:${options.operator.kid}`, produced_at: now,
  });
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
      value: receipt,
    },
  ]);
}
