// The ledger's HTTP API as the command uses it: every request carries the ledger API token
// (Authorization: Bearer), and the ledger's refusals become typed errors. The token comes from
// --token, else INTENTGATE_LEDGER_TOKEN, else, only for the ledger of the stack npm start runs,
// the local token npm start wrote (.intentgate/ledger-token, mode 0600): a local credential is
// never sent to a ledger the stack file does not name.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readStackFile, stateDir } from '@intentgate/infra';
import { CliError } from './errors.ts';

/** Where npm start leaves the local ledger API token (roles auditor and operator). */
export function localLedgerTokenFile(): string {
  return join(stateDir(), 'ledger-token');
}

const originOf = (url: string) => {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
};

/** The token to send to the ledger at `url`, or null when none is known. */
export async function ledgerToken(url: string, given: string | undefined): Promise<string | null> {
  const explicit = given ?? process.env.INTENTGATE_LEDGER_TOKEN;
  if (explicit?.trim()) return explicit.trim();
  const stackUrl = (await readStackFile())?.ledgerUrl;
  if (!stackUrl || originOf(stackUrl) !== originOf(url)) return null;
  return readFile(localLedgerTokenFile(), 'utf8').then((t) => t.trim() || null, () => null);
}

/** GET a ledger route with the token; refusals (401, 403) are CliErrors with the ledger's code. */
export async function ledgerGet(url: string, path: string, token: string | null, timeoutMs: number, hint: string): Promise<Response> {
  const res = await fetch(`${url.replace(/\/+$/, '')}${path}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    signal: AbortSignal.timeout(timeoutMs),
  }).catch((err: unknown) => {
    throw new CliError('LEDGER_UNREACHABLE', `cannot reach the ledger at ${url}: ${(err as Error).message}`, hint);
  });
  if (res.status === 401 || res.status === 403) {
    const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string; hint?: string };
    const code = body.code ?? (res.status === 401 ? 'UNAUTHENTICATED' : 'ROLE_NOT_ALLOWED');
    const message = `the ledger refused the request: ${body.message ?? `HTTP ${res.status}`}`;
    if (res.status === 403) throw new CliError(code, message, body.hint ?? 'Use a token whose role may use this route.');
    throw new CliError(code, message, token
      ? 'Check the token (--token or INTENTGATE_LEDGER_TOKEN); the ledger knows only the tokens in its tokens file.'
      : 'Pass --token <ledger API token> or set INTENTGATE_LEDGER_TOKEN; for the stack npm start runs, the token is in .intentgate/ledger-token.');
  }
  return res;
}
