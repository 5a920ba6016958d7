import { z } from 'zod';

/** A public Ed25519 key as a JWK with its id: how trust roots are configured. */
export const PublicKeyJwk = z.strictObject({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'expected a base64url Ed25519 public key'),
  kid: z.string().min(1).max(256),
});

/**
 * The trust file every service is configured with (never read from the bus): the deployment
 * roots that certify the services' keys, the operator keys that sign activations and mode
 * changes, and the policy publishers' keys that sign bundles.
 */
export const TrustFile = z.strictObject({
  roots: z.array(PublicKeyJwk).min(1).max(16),
  operators: z.array(PublicKeyJwk).min(1).max(64),
  policy_publishers: z.array(PublicKeyJwk).min(1).max(64),
  /** Key ids of certified keys withdrawn before their certificates expire (a key lost or leaked). */
  revoked_keys: z.array(z.string().min(1).max(256)).max(10_000).optional(),
});
export type TrustFile = z.infer<typeof TrustFile>;

/** A service's own signing key with the certificate a root gave it (a 0600 file). */
export const SignerFile = z.strictObject({
  principal: z.string().min(1).max(256),
  uses: z.array(z.enum(['warrant', 'approval-request', 'receipt'])).max(3),
  receipt_kinds: z.array(z.string().min(1).max(64)).max(16),
  /** The private Ed25519 JWK. */
  key: z.looseObject({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string(), d: z.string(), kid: z.string().min(1).max(256) }),
  certificate: z.string().regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/),
});
export type SignerFile = z.infer<typeof SignerFile>;
