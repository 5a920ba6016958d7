import { z } from 'zod';
import { Base64, CompactJws, JsonObject, Sha256Hex, Timestamp, Uuid } from './primitives.ts';

/**
 * A record's signature (optional in the contract, so a reader can refuse an unsigned record
 * with its own reason code and a receipt rather than as a malformed message; every IntentGate
 * producer signs, and every reader of these records refuses one without): a compact JWS (EdDSA, typ intentgate-record+jws) whose payload names the
 * message type and the sha256 of the record's canonical JSON without this field. Verified against
 * a key the reader was configured with or one certified by its deployment root.
 */
export const RecordSignature = CompactJws;

export const RECEIPT_KINDS = ['decision', 'approval', 'execution', 'policy-activation', 'mode-change', 'agent-registry', 'resource-label'] as const;

/** Evidence, not telemetry: never dropped, hash-chained by the ledger. */
export const Receipt = z
  .strictObject({
    receipt_id: Uuid,
    kind: z.enum(RECEIPT_KINDS),
    /** null only for receipts about no single intent (policy activation, mode change, registry change). */
    intent_id: Uuid.nullable(),
    /** The full record; for decisions, the full policy input. */
    body: JsonObject,
    /** The principal of the key that signed it (the certificate's subject, or the operator key's name). */
    producer: z.string().min(1).max(256),
    produced_at: Timestamp,
    signature: RecordSignature.optional(),
  })
  .refine((r) => r.intent_id !== null || r.kind === 'policy-activation' || r.kind === 'mode-change' || r.kind === 'agent-registry' || r.kind === 'resource-label', {
    message: 'decision, approval and execution receipts name their intent',
    path: ['intent_id'],
  });
export type Receipt = z.infer<typeof Receipt>;

/** A signed checkpoint over one ledger log (C2SP signed-note body: origin, size, root). */
export const Checkpoint = z.strictObject({
  /** Identifies the log: one Merkle log per receipts partition, e.g. "intentgate/receipts/0". */
  origin: z.string().min(1).max(256),
  tree_size: z.int().nonnegative(),
  root_hash: Sha256Hex,
  issued_at: Timestamp,
  /** The signed note exactly as signed and verified (body lines, blank line, signature lines). */
  note: z.string().min(1).max(65536),
  signatures: z
    .array(z.strictObject({ key_id: z.string().min(1).max(256), algorithm: z.literal('Ed25519'), signature: Base64 }))
    .min(1)
    .max(8),
});
export type Checkpoint = z.infer<typeof Checkpoint>;

export const PolicyBundle = z.strictObject({
  digest: Sha256Hex,
  version: z.string().min(1).max(128),
  manifest: z.strictObject({
    entrypoints: z.array(z.string().min(1).max(256)).min(1).max(32),
    revision: z.string().max(256),
    built_at: Timestamp,
    built_by: z.string().max(256),
  }),
  /** The bundle bytes (tar.gz as written by `opa build -t wasm`). */
  bundle: Base64,
});
export type PolicyBundle = z.infer<typeof PolicyBundle>;

export const PolicyActivation = z.strictObject({
  tenant: z.string().min(1).max(128),
  bundle_digest: Sha256Hex,
  version: z.string().min(1).max(128),
  activated_at: Timestamp,
  activated_by: z.string().min(1).max(256),
  /** By an operator key the decision workers are configured with; an unsigned activation is refused. */
  signature: RecordSignature.optional(),
});
export type PolicyActivation = z.infer<typeof PolicyActivation>;

/** What the bus writes to a dead-letter topic instead of dropping a message. */
export const DeadLetter = z.strictObject({
  original: z.strictObject({
    topic: z.string().min(1).max(249),
    partition: z.int().nonnegative(),
    offset: z.string().regex(/^\d+$/),
    key: Base64.nullable(),
    value: Base64.nullable(),
    headers: z.record(z.string(), Base64),
    timestamp: z.string().regex(/^\d+$/),
    /**
     * Set when the original was too large to carry whole (the dead letter must fit the DLQ):
     * the original's size and SHA-256 of each part; key and value then hold only their first bytes,
     * headers are dropped.
     */
    truncated: z.strictObject({
      key_bytes: z.int().nonnegative(), key_sha256: Sha256Hex.nullable(),
      value_bytes: z.int().nonnegative(), value_sha256: Sha256Hex.nullable(),
      header_bytes: z.int().nonnegative(),
    }).optional(),
  }),
  reason: z.strictObject({ code: z.string().regex(/^[A-Z][A-Z0-9_]{1,63}$/), message: z.string().max(4096) }),
  /** The intent the poison message was about, when one could be read from it. */
  intent_id: Uuid.nullable(),
  consumer_group: z.string().min(1).max(256),
  failed_at: Timestamp,
});
export type DeadLetter = z.infer<typeof DeadLetter>;

/** Revokes one link of delegation (a token id) or a principal everywhere; published on identity.revocations. */
export const Revocation = z.strictObject({
  /** A delegation token's jti, a principal, or a SPIFFE ID. */
  link: z.string().min(1).max(2048),
  kind: z.enum(['delegation', 'principal']),
  revoked_by: z.string().min(1).max(256),
  reason: z.string().max(2048),
  revoked_at: Timestamp,
});
export type Revocation = z.infer<typeof Revocation>;
