import { z } from 'zod';
import { CompactJws, Domain, JsonObject, Reason, Sha256Hex, Timestamp, Uuid } from './primitives.ts';
import { Intent } from './intent.ts';

export const VERDICTS = ['allow', 'deny', 'escalate'] as const;
export const Verdict = z.enum(VERDICTS);
export type Verdict = z.infer<typeof Verdict>;

export const PolicyRef = z.strictObject({
  bundle_digest: Sha256Hex,
  version: z.string().min(1).max(128),
  entrypoint: z.string().min(1).max(256),
});

export const Decision = z
  .strictObject({
    decision_id: Uuid,
    intent_id: Uuid,
    /** sha256 of the RFC 8785 canonical intent (of the raw payload when it could not be parsed). */
    intent_digest: Sha256Hex,
    verdict: Verdict,
    final: z.boolean(),
    reasons: z.array(Reason).min(1).max(64),
    obligations: JsonObject,
    /** null when no policy was evaluated (no active bundle, invalid intent). */
    policy: PolicyRef.nullable(),
    /** sha256 of the canonical policy input; null when no input could be formed. */
    input_digest: Sha256Hex.nullable(),
    decided_at: Timestamp,
    warrant: CompactJws.optional(),
    /**
     * By the service that decided (a key a root certified to issue warrants): an agent or a
     * gateway takes no decision from the bus that no decider signed. Optional in the contract
     * so the reader refuses an unsigned one itself.
     */
    signature: CompactJws.optional(),
  })
  .superRefine((d, ctx) => {
    if (d.verdict === 'allow' && d.warrant === undefined) {
      ctx.addIssue({ code: 'custom', path: ['warrant'], message: 'an allow decision carries a warrant' });
    }
    if (d.verdict !== 'allow' && d.warrant !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['warrant'], message: 'only an allow decision carries a warrant' });
    }
    if (d.verdict === 'escalate' && d.final) {
      ctx.addIssue({ code: 'custom', path: ['final'], message: 'an escalation is never final' });
    }
    if (d.verdict === 'allow' && d.policy === null) {
      ctx.addIssue({ code: 'custom', path: ['policy'], message: 'an allow names the policy that produced it' });
    }
  });
export type Decision = z.infer<typeof Decision>;

/** Protected header of a warrant JWS. */
export const WarrantHeader = z.strictObject({
  alg: z.literal('EdDSA'),
  kid: z.string().min(1).max(256),
  typ: z.literal('intentgate-warrant+jwt'),
});

/** Claims of a warrant: the per-task, just-in-time credential an executor verifies and claims once. */
export const WarrantClaims = z.strictObject({
  iss: z.string().min(1).max(256),
  /** The intent this warrant authorizes. */
  sub: Uuid,
  aud: Domain,
  /** = decision_id; claimed once by the executor (SET NX, TTL >= exp). */
  jti: Uuid,
  intent_digest: Sha256Hex,
  iat: z.int().nonnegative(),
  exp: z.int().positive(),
}).refine((c) => c.exp > c.iat, { message: 'exp must be after iat', path: ['exp'] });
export type WarrantClaims = z.infer<typeof WarrantClaims>;

export const ApprovedIntent = z
  .strictObject({
    intent: Intent,
    decision: Decision,
    warrant: CompactJws,
  })
  .superRefine((a, ctx) => {
    if (a.decision.verdict !== 'allow' || !a.decision.final) {
      ctx.addIssue({ code: 'custom', path: ['decision', 'verdict'], message: 'only a final allow is approved' });
    }
    if (a.decision.intent_id !== a.intent.intent_id) {
      ctx.addIssue({ code: 'custom', path: ['decision', 'intent_id'], message: 'decision is for another intent' });
    }
    if (a.decision.warrant !== a.warrant) {
      ctx.addIssue({ code: 'custom', path: ['warrant'], message: 'warrant differs from the decision' });
    }
  });
export type ApprovedIntent = z.infer<typeof ApprovedIntent>;

/** A public warrant-signing key, as the decision service publishes it on `warrant.keys`. */
export const WarrantKey = z.strictObject({
  issuer: z.string().min(1).max(256),
  kid: z.string().min(1).max(256),
  /** Public parts only: a record carrying private key material is refused by the contract. */
  jwk: z.strictObject({
    kty: z.literal('OKP'),
    crv: z.literal('Ed25519'),
    x: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'expected a base64url Ed25519 public key'),
    kid: z.string().min(1).max(256),
    alg: z.literal('EdDSA').optional(),
    use: z.literal('sig').optional(),
  }),
  published_at: Timestamp,
  /**
   * A JWS by a deployment root (typ intentgate-key-cert+jwt) binding this key to its principal
   * and to what it may sign. Readers accept the key only when the certificate verifies against
   * a root they are configured with: anyone may write this topic's bytes, nobody can forge this.
   * Optional in the contract only so that readers refuse an uncertified key with its own code.
   */
  certificate: CompactJws.optional(),
}).refine((k) => k.jwk.kid === k.kid, { message: 'jwk.kid must equal kid', path: ['jwk', 'kid'] });
export type WarrantKey = z.infer<typeof WarrantKey>;
