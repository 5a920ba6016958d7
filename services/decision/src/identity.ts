// Who acts, on whose behalf: verified before policy, and the intent's stated chain must be
// exactly the verified one (a caller cannot claim a wider scope than its tokens grant).
import type { Intent } from '@intentgate/contracts';
import { IdentityError, verifyDelegationChain, verifySvid, type TrustBundles, type VerifiedHop } from '@intentgate/evidence';

export interface IdentitySettings {
  /** Replaced wholesale on reload. */
  trust: TrustBundles;
  maxDepth: number;
  /** Reloads the trust bundles (key rotation); called every `refreshMs`. A failed reload keeps the last good set. */
  reload?: () => Promise<TrustBundles>;
  refreshMs?: number;
}

export interface VerifiedIdentity {
  subject: string;
  chain: VerifiedHop[];
}

export async function verifyIntentIdentity(intent: Intent, settings: IdentitySettings, revoked: ReadonlySet<string>): Promise<VerifiedIdentity | IdentityError> {
  if (intent.credentials === undefined) {
    return new IdentityError('IDENTITY_REQUIRED', 'the intent carries no JWT-SVID and delegation tokens, and this deployment verifies who acts: attach the agent\'s credentials (AgentClient.decide(intent, timeout, credentials))');
  }
  try {
    const subject = await verifySvid(intent.credentials?.svid, settings.trust);
    if (subject !== intent.subject.id) {
      throw new IdentityError('SUBJECT_MISMATCH', `the SVID is for ${subject}, the intent names ${intent.subject.id}`);
    }
    if (revoked.has(subject)) throw new IdentityError('DELEGATION_REVOKED', `the acting agent ${subject} is revoked`);
    const chain = await verifyDelegationChain(intent.credentials?.delegation, subject, settings.trust, { maxDepth: settings.maxDepth, revoked });
    const stated = intent.delegation.map((h) => [h.principal, h.kind, h.scope]);
    const verified = chain.map((h) => [h.principal, h.kind, h.scope]);
    if (JSON.stringify(stated) !== JSON.stringify(verified)) {
      throw new IdentityError('DELEGATION_MISMATCH', 'the intent states a delegation chain other than the one its tokens prove');
    }
    return { subject, chain };
  } catch (err) {
    return err instanceof IdentityError ? err : new IdentityError('SVID_MALFORMED', (err as Error).message);
  }
}
