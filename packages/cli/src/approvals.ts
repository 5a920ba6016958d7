// `intentgate approvals …`: review from a terminal (headless), through the approvals service's
// API with a reviewer token. The answer carries the digest of the request as shown, so what is
// approved is exactly what was printed.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApprovalsApiError, ApprovalsClient, hashPassword, newToken } from '@intentgate/approvals';
import { readStackFile, stateDir } from '@intentgate/infra';
import { CliError } from './errors.ts';
import type { Out } from './commands.ts';

/** Where npm start leaves the local reviewer's API token (mode 0600). */
export function localTokenFile(): string {
  return join(stateDir(), 'approvals-token');
}

async function client(url: string | undefined, token: string | undefined): Promise<ApprovalsClient> {
  const base = url ?? (await readStackFile())?.approvalsUrl ?? null;
  if (!base) throw new CliError('NO_APPROVALS', 'no approvals service given and none running', 'Start the stack with `npm start`, or pass --approvals <url>.');
  const secret = token ?? process.env.INTENTGATE_REVIEWER_TOKEN ?? (await readFile(localTokenFile(), 'utf8').then((t) => t.trim(), () => null));
  if (!secret) throw new CliError('NO_TOKEN', 'no reviewer token', 'Pass --token, or set INTENTGATE_REVIEWER_TOKEN (see `intentgate approvals token`).');
  return new ApprovalsClient(base, secret);
}

function rethrow(e: unknown): never {
  if (e instanceof ApprovalsApiError) throw new CliError(e.code, e.message, e.hint || 'See the approvals service logs.');
  throw e;
}

export async function approvals(sub: string | undefined, id: string | undefined, options: { approvals?: string; token?: string; comment?: string }, out: Out): Promise<number> {
  switch (sub) {
    case 'list': {
      const pending = await (await client(options.approvals, options.token)).pending().catch(rethrow);
      if (pending.length === 0) out('nothing is waiting for review');
      for (const p of pending) {
        const i = p.request.intent;
        out(`${p.id}  ${i.action.name} ${i.resource.type} ${i.resource.id}  by ${i.subject.id} for ${i.delegation[0]!.principal}  ` +
          `${p.request.reasons.map((r) => r.code).join(',')}  deadline ${p.request.deadline}  approvals ${p.responses.filter((r) => r.answer === 'approve').length}/${p.request.quorum}`);
      }
      return 0;
    }
    case 'show': {
      if (!id) throw new CliError('USAGE', 'approvals show needs a request id or intent id', 'intentgate approvals list');
      out(JSON.stringify(await (await client(options.approvals, options.token)).get(id).catch(rethrow), null, 2));
      return 0;
    }
    case 'approve':
    case 'deny': {
      if (!id) throw new CliError('USAGE', `approvals ${sub} needs a request id or intent id`, 'intentgate approvals list');
      const c = await client(options.approvals, options.token);
      const view = await c.get(id).catch(rethrow);
      const i = view.request.intent;
      out(`${sub === 'approve' ? 'approving' : 'denying'} ${i.action.name} on ${i.resource.type} ${i.resource.id} (intent ${i.intent_id}, digest ${view.request.intent_digest.slice(0, 16)}…)`);
      const result = await c.answer(view.id, sub, { intentDigest: view.request.intent_digest, ...(options.comment ? { comment: options.comment } : {}) }).catch(rethrow);
      out(result.status === 'settled' && result.decision
        ? `settled: ${result.decision.verdict} (${result.decision.reasons[0]!.code}), decision ${result.decision.decision_id}`
        : 'recorded; more approvals are needed');
      return 0;
    }
    case 'hash-password': {
      // The password comes from stdin, never from the command line (which other users can see).
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
      if (password.length < 12) throw new CliError('PASSWORD_TOO_SHORT', 'a reviewer password has at least 12 characters', 'echo -n "<password>" | intentgate approvals hash-password');
      out(await hashPassword(password));
      return 0;
    }
    case 'token': {
      const { token, sha256 } = newToken();
      out(`token       ${token}\ntoken_sha256 ${sha256}\nGive the token to the reviewer; put token_sha256 in their entry of the reviewers file.`);
      return 0;
    }
    default:
      throw new CliError('USAGE', `unknown approvals command ${sub ?? ''}`, 'intentgate approvals list|show|approve|deny|hash-password|token');
  }
}
