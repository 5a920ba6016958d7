// The resource catalog: how sensitive each resource is and where it runs, published by operators
// on the compacted resources.labels topic (an operator catalog) and fed into the context store, so
// the store's labels outrank whatever an intent says of its resource, and come back after a loss.
import type { Bus } from '@intentgate/bus';
import { ResourceLabel, resourceLabelKey, type LabelChange } from '@intentgate/contracts';
import type { SigningKey, TrustRoots } from '@intentgate/evidence';
import { catalogRefusal, publishEntry, readCatalog, type OperatorCatalog } from './operator-catalog.ts';

export const RESOURCE_LABELS: OperatorCatalog<ResourceLabel> = {
  topic: 'resources.labels', type: 'ResourceLabel', schema: ResourceLabel, keyOf: resourceLabelKey,
  refusalPrefix: 'LABEL', receiptKind: 'resource-label',
  receiptBody: (entry, previous) => ({
    label: entry, ...(previous ? { previous: { revision: previous.revision, sensitivity: previous.sensitivity, ...(previous.environment ? { environment: previous.environment } : {}) } } : {}),
  }),
};

/** Why an entry on resources.labels was not applied. */
export function labelRefusal(trust: TrustRoots, value: unknown): { code: string; message: string } | null {
  return catalogRefusal(RESOURCE_LABELS, trust, value);
}

/** The labels as the topic holds them now: the newest verified entry of each resource (keyed `<type>/<id>`). */
export function readLabels(bus: Bus, trust: TrustRoots, options: { groupPrefix?: string; timeoutMs?: number } = {}): Promise<Map<string, ResourceLabel>> {
  return readCatalog(RESOURCE_LABELS, bus, trust, options);
}

/** Publishes one signed label, the next revision of its resource, with its receipt in one transaction. */
export function publishLabel(bus: Bus, change: LabelChange, operator: SigningKey, previous: ResourceLabel | undefined): Promise<ResourceLabel> {
  return publishEntry(RESOURCE_LABELS, bus, change, operator, previous);
}
