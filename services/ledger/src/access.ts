// Who may use the ledger's HTTP API. What is public by design needs no credential: health, the
// verifier key, the signed checkpoints and consistency proofs between them (signatures and
// hashes, meant for anyone who checks the log, and on the ledger.checkpoints topic anyway).
// Everything that shows a receipt's content (the full policy input: sessions, delegation
// chains, context) needs a bearer token whose role may use the route. Tokens are configured as
// SHA-256 digests only.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { SHA256_HEX, TokenDigests } from '@intentgate/evidence';

export const LEDGER_ROLES = ['auditor', 'operator'] as const;
export type LedgerRole = (typeof LEDGER_ROLES)[number];

/** The API's routes by what they serve; a request maps to one of these before any access check. */
export type LedgerRoute = 'health' | 'key' | 'checkpoints' | 'consistency' | 'receipt' | 'replay' | 'export';

/**
 * null: public. Otherwise the roles that may use the route. The operator works on single
 * decisions (a receipt and its proof, a replay); the bulk export of every recorded input is the
 * auditor's.
 */
export const ROUTE_ROLES: Record<LedgerRoute, readonly LedgerRole[] | null> = {
  health: null,
  key: null,
  checkpoints: null,
  consistency: null,
  receipt: ['auditor', 'operator'],
  replay: ['auditor', 'operator'],
  export: ['auditor'],
};

export interface LedgerToken {
  /** Who holds it (shown in logs and errors, never the token). */
  name: string;
  roles: LedgerRole[];
  /** Hex SHA-256 of the token. */
  tokenSha256: string;
}

const TokenEntry = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._@-]{1,128}$/, 'token names are 1-128 of A-Z a-z 0-9 . _ @ -'),
  roles: z.array(z.enum(LEDGER_ROLES)).min(1),
  token_sha256: z.string().regex(SHA256_HEX, 'expected the hex SHA-256 of the token (intentgate ledger token)'),
});
export const LedgerTokensFile = z.strictObject({ tokens: z.array(TokenEntry).max(1000) });

export class LedgerConfigError extends Error {
  readonly code = 'LEDGER_TOKENS_INVALID';
}

/** `{"tokens":[{"name","roles":["auditor"|"operator",…],"token_sha256"}]}` */
export function parseLedgerTokens(value: unknown): LedgerToken[] {
  const parsed = LedgerTokensFile.safeParse(value);
  if (!parsed.success) throw new LedgerConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  const names = new Set<string>();
  return parsed.data.tokens.map((t) => {
    if (names.has(t.name)) throw new LedgerConfigError(`token ${t.name} is configured twice`);
    names.add(t.name);
    return { name: t.name, roles: [...new Set(t.roles)], tokenSha256: t.token_sha256 };
  });
}

export async function loadLedgerTokens(path: string): Promise<LedgerToken[]> {
  const text = await readFile(path, 'utf8').catch((err: unknown) => {
    throw new LedgerConfigError(`cannot read the ledger tokens file ${path}: ${(err as Error).message}`);
  });
  try {
    return parseLedgerTokens(JSON.parse(text));
  } catch (err) {
    throw new LedgerConfigError(`ledger tokens file ${path}: ${(err as Error).message}`);
  }
}

export type AccessRefusal = { status: 401 | 403; code: string; message: string; hint: string };

/** Decides one request: null to serve it, or the refusal to answer. */
export class LedgerAccess {
  readonly #tokens: TokenDigests<LedgerToken>;

  constructor(tokens: readonly LedgerToken[]) {
    this.#tokens = new TokenDigests(tokens.map((t) => ({ sha256: t.tokenSha256, value: t })));
  }

  check(route: LedgerRoute, token: string | null): AccessRefusal | null {
    const allowed = ROUTE_ROLES[route];
    if (allowed === null) return null;
    if (token === null) {
      return {
        status: 401, code: 'UNAUTHENTICATED', message: 'this route needs a ledger API token',
        hint: this.#tokens.size === 0
          ? 'This ledger has no API tokens configured: set LEDGER_TOKENS_FILE (npm start creates one) and send Authorization: Bearer <token>.'
          : 'Send Authorization: Bearer <token> (intentgate reads it from --token, INTENTGATE_LEDGER_TOKEN or .intentgate/ledger-token).',
      };
    }
    const holder = this.#tokens.find(token);
    if (holder === null) {
      return { status: 401, code: 'UNAUTHENTICATED', message: 'unknown ledger API token', hint: 'Check the token; the ledger keeps the SHA-256 of each token in its tokens file.' };
    }
    if (!holder.roles.some((r) => allowed.includes(r))) {
      return {
        status: 403, code: 'ROLE_NOT_ALLOWED', message: `${holder.name} (${holder.roles.join(', ')}) may not use ${route}`,
        hint: `This route is for ${allowed.join(' or ')}; ask for a token with that role.`,
      };
    }
    return null;
  }
}
