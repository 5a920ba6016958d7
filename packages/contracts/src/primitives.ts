import { z } from 'zod';

/** Lowercase hex SHA-256, the one digest format on the wire. */
export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'expected a lowercase hex SHA-256 digest');

export const Uuid = z.uuid();

/** RFC 3339 timestamp with an explicit offset (Z or ±hh:mm). */
export const Timestamp = z.iso.datetime({ offset: true });

export const DOMAINS = ['app', 'infra', 'data', 'ai'] as const;
export const Domain = z.enum(DOMAINS);
export type Domain = z.infer<typeof Domain>;

/** Reason codes are stable identifiers clients can branch on: UPPER_SNAKE_CASE. */
export const ReasonCode = z.string().regex(/^[A-Z][A-Z0-9_]{1,63}$/, 'expected an UPPER_SNAKE_CASE reason code');

export const Reason = z.strictObject({
  code: ReasonCode,
  /** The rule that produced this reason (a policy rule path, or the component that decided). */
  rule: z.string().min(1).max(256),
  message: z.string().max(2048),
});
export type Reason = z.infer<typeof Reason>;

/** Base64 (standard alphabet, padded) for raw bytes carried inside JSON. */
export const Base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'expected standard base64');

/** A compact JWS: three base64url segments. */
export const CompactJws = z.string().regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'expected a compact JWS');

/** A SPIFFE ID: spiffe://<trust-domain>/<path>. */
export const SpiffeId = z
  .string()
  .max(2048)
  .regex(/^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+$/, 'expected spiffe://<trust-domain>/<path>');

/** Free-form JSON object (caller hints, obligations, receipt bodies). */
export const JsonObject = z.record(z.string(), z.unknown());
