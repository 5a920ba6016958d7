import { parseArgs } from 'node:util';
import { backtest, exportBundle, prove, replay, verify, VERIFY_EXIT, type Out } from './commands.ts';
import { readStackFile } from '@intentgate/infra';
import { CliError } from './errors.ts';

const USAGE = `usage: intentgate <command>
  verify [<ledger dir | audit bundle | ledger URL>] [--key <verifier key or file> | --trust-any] [--trust <trust file>] [--token <t>]
      exit 0 verified, 1 tampered, 2 usage or unreachable, 3 no trust root (no --key, no local stack key), 4 consistent only with the data's own key (--trust-any)
  export [<ledger dir | ledger URL>] --out <file> [--token <t>]
  prove <receipt id> --checkpoint <file> [--key <verifier key or file>] [--ledger <url>] [--token <t>]   (the receipt is in the log your checkpoint commits to)
  replay <decision_id> [--ledger <url>] [--token <t>]
  policy backtest <bundle.tar.gz | policy dir> [--last N] [--ledger <dir | bundle | url>] [--max-changed K] [--token <t>]
  ledger token [--name <name>] [--roles auditor,operator]   (a new ledger API token and its tokens-file entry)
  mcp token                                                 (a new MCP gateway token and its SHA-256, for MCP_TOKEN_SHA256 / MCP_TOKENS_FILE)
  identity init <trust-domain> --out <dir>
  identity svid <spiffe-id> --key <key file> [--ttl seconds]
  identity delegate --key <key file> --from <principal> --from-kind human|agent|service --to <principal> --to-kind … --scope a,b [--ttl seconds]
  identity revoke <token jti | principal> --kind delegation|principal [--reason text]
  approvals list | show <id> | approve <id> | deny <id> [--comment text] [--approvals <url>] [--token <t>]
  approvals hash-password   (password on stdin)   |   approvals token
  trust init [--dir <dir>]
  trust certify decision|approvals|executor|mcp-gateway [--kid <id>] [--dir <dir>]
  trust revoke <key id> [--dir <dir>]
  agents register <spiffe-id> --owner <who> --autonomy assisted|supervised|autonomous --domains app,data,… --actions <names or *> [--reason text] [--dir <trust dir>]
  agents show <spiffe-id> | list | suspend <spiffe-id> | resume <spiffe-id>   [--reason text] [--dir <trust dir>]
  resources label <type> <id> --sensitivity public|internal|confidential|restricted [--environment <name>] [--reason text] [--dir <trust dir>]
  resources show <type> <id> | list   [--dir <trust dir>]
Without --ledger (--approvals), or without a source for verify and export, the ledger (approvals service) of the running stack (.intentgate/stack.json) is used;
verify trusts --key, else the local stack's ledger key (.intentgate/ledger/ledger.vkey), never the key inside the data unless --trust-any;
the reviewer token comes from --token, INTENTGATE_REVIEWER_TOKEN, or the local reviewer's token npm start writes;
a ledger URL's API token from --token, INTENTGATE_LEDGER_TOKEN, or (for the stack's own ledger) the token npm start writes.`;

async function stackLedger(): Promise<string> {
  const url = (await readStackFile())?.ledgerUrl;
  if (!url) throw new CliError('NO_LEDGER', 'no ledger given and none running', 'Start the stack with `npm start`, or pass --ledger <url | dir | bundle>.');
  return url;
}

/** Runs the command; returns the exit code. Errors are printed as code, message and what to do. */
export async function main(argv: string[], out: Out, err: Out): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: {
        key: { type: 'string' }, out: { type: 'string' }, ledger: { type: 'string' }, last: { type: 'string' }, 'max-changed': { type: 'string' }, help: { type: 'boolean' },
        ttl: { type: 'string' }, from: { type: 'string' }, 'from-kind': { type: 'string' }, to: { type: 'string' }, 'to-kind': { type: 'string' },
        scope: { type: 'string' }, kind: { type: 'string' }, reason: { type: 'string' }, name: { type: 'string' }, roles: { type: 'string' },
        approvals: { type: 'string' }, token: { type: 'string' }, comment: { type: 'string' }, dir: { type: 'string' }, kid: { type: 'string' }, trust: { type: 'string' },
        owner: { type: 'string' }, autonomy: { type: 'string' }, domains: { type: 'string' }, actions: { type: 'string' },
        sensitivity: { type: 'string' }, environment: { type: 'string' }, 'trust-any': { type: 'boolean' }, checkpoint: { type: 'string' },
      },
    });
    const [command, ...rest] = positionals;
    if (values.help || !command) {
      out(USAGE);
      return command || values.help ? 0 : 2;
    }
    switch (command) {
      case 'verify': {
        if (values.key && values['trust-any']) throw new CliError('USAGE', '--key and --trust-any exclude each other', USAGE);
        const outcome = await verify(rest[0] ?? (await stackLedger()), values.key, out, values.token, values.trust, values['trust-any'] ?? false);
        return VERIFY_EXIT[outcome];
      }
      case 'export':
        if (!values.out) throw new CliError('USAGE', 'export needs --out <file>', USAGE);
        await exportBundle(rest[0] ?? (await stackLedger()), values.out, out, values.token);
        return 0;
      case 'prove': {
        if (!rest[0] || !values.checkpoint) throw new CliError('USAGE', 'prove needs a receipt id and --checkpoint <file>', USAGE);
        return VERIFY_EXIT[await prove(rest[0], values.checkpoint, values.key, values.ledger ?? (await stackLedger()), out, values.token)];
      }
      case 'replay':
        if (!rest[0]) throw new CliError('USAGE', 'replay needs a decision id', USAGE);
        return (await replay(rest[0], values.ledger ?? (await stackLedger()), out, values.token)) ? 0 : 1;
      case 'policy': {
        if (rest[0] !== 'backtest' || !rest[1]) throw new CliError('USAGE', 'policy backtest needs a candidate bundle or policy directory', USAGE);
        const last = Number(values.last ?? 100);
        const maxChanged = Number(values['max-changed'] ?? 0);
        if (!Number.isInteger(last) || last < 1 || !Number.isInteger(maxChanged) || maxChanged < 0) {
          throw new CliError('USAGE', '--last must be a positive integer and --max-changed a non-negative one', USAGE);
        }
        // opa is needed only to build a candidate given as a policy directory.
        const opaPath = await import('@intentgate/infra').then(({ ensureOpa }) => ensureOpa(), () => undefined);
        const ok = await backtest(rest[1], { last, maxChanged, source: values.ledger ?? (await stackLedger()), ...(opaPath ? { opaPath } : {}), ...(values.token ? { token: values.token } : {}) }, out);
        return ok ? 0 : 1;
      }
      case 'identity': {
        const ttl = Number(values.ttl ?? 300);
        if (!Number.isInteger(ttl) || ttl < 1) throw new CliError('USAGE', '--ttl must be a positive number of seconds', USAGE);
        const { identityInit, identitySvid, identityDelegate } = await import('./identity.ts');
        switch (rest[0]) {
          case 'init':
            if (!rest[1] || !values.out) throw new CliError('USAGE', 'identity init needs a trust domain and --out <dir>', USAGE);
            await identityInit(rest[1], values.out, out);
            return 0;
          case 'svid':
            if (!rest[1] || !values.key) throw new CliError('USAGE', 'identity svid needs a SPIFFE ID and --key <file>', USAGE);
            await identitySvid(rest[1], values.key, ttl, out);
            return 0;
          case 'delegate':
            if (!values.key || !values.from || !values.to) throw new CliError('USAGE', 'identity delegate needs --key, --from and --to', USAGE);
            await identityDelegate(values.key, {
              from: values.from, fromKind: values['from-kind'] ?? 'human', to: values.to, toKind: values['to-kind'] ?? 'agent',
              scope: (values.scope ?? '').split(',').map((x) => x.trim()).filter(Boolean), ttlSeconds: values.ttl ? ttl : 3600,
            }, out);
            return 0;
          case 'revoke': {
            if (!rest[1] || (values.kind !== 'delegation' && values.kind !== 'principal')) throw new CliError('USAGE', 'identity revoke needs a link and --kind delegation|principal', USAGE);
            const { revoke } = await import('./revoke.ts');
            await revoke(rest[1], values.kind, values.reason ?? '', out);
            return 0;
          }
          default:
            throw new CliError('USAGE', `unknown identity command ${rest[0] ?? ''}`, USAGE);
        }
      }
      case 'ledger': {
        if (rest[0] !== 'token') throw new CliError('USAGE', `unknown ledger command ${rest[0] ?? ''}`, USAGE);
        const { LEDGER_ROLES } = await import('@intentgate/ledger');
        const { newBearerToken } = await import('@intentgate/evidence');
        const roles = (values.roles ?? 'auditor').split(',').map((r) => r.trim()).filter(Boolean);
        const unknown = roles.filter((r) => !(LEDGER_ROLES as readonly string[]).includes(r));
        if (roles.length === 0 || unknown.length > 0) throw new CliError('USAGE', `unknown ledger role ${unknown.join(', ') || '(none)'}`, `Roles: ${LEDGER_ROLES.join(', ')}.`);
        const name = values.name ?? 'auditor';
        if (!/^[A-Za-z0-9._@-]{1,128}$/.test(name)) throw new CliError('USAGE', '--name is 1-128 of A-Z a-z 0-9 . _ @ -', USAGE);
        const { token, sha256 } = newBearerToken('igl');
        out(`token   ${token}`);
        out(`entry   ${JSON.stringify({ name, roles, token_sha256: sha256 })}`);
        out('Add the entry to the ledger\'s tokens file ({"tokens":[…]}, LEDGER_TOKENS_FILE); give the token to its holder only.');
        return 0;
      }
      case 'mcp': {
        if (rest[0] !== 'token') throw new CliError('USAGE', `unknown mcp command ${rest[0] ?? ''}`, USAGE);
        const { newBearerToken } = await import('@intentgate/evidence');
        const { token, sha256 } = newBearerToken('igm');
        out(`token   ${token}`);
        out(`sha256  ${sha256}`);
        out('Configure the gateway with the SHA-256 (MCP_TOKEN_SHA256, or token_sha256 in MCP_TOKENS_FILE); give the token to the agent only.');
        return 0;
      }
      case 'approvals': {
        const { approvals } = await import('./approvals.ts');
        return await approvals(rest[0], rest[1], { ...(values.approvals ? { approvals: values.approvals } : {}), ...(values.token ? { token: values.token } : {}), ...(values.comment ? { comment: values.comment } : {}) }, out);
      }
      case 'agents': {
        const { agents } = await import('./agents.ts');
        return await agents(rest[0], rest[1], { owner: values.owner, autonomy: values.autonomy, domains: values.domains, actions: values.actions, reason: values.reason, dir: values.dir }, out);
      }
      case 'resources': {
        const { resources } = await import('./resources.ts');
        return await resources(rest[0], rest[1], rest[2], { sensitivity: values.sensitivity, environment: values.environment, reason: values.reason, dir: values.dir }, out);
      }
      case 'trust': {
        const { defaultTrustDir, trustCertify, trustInit, trustRevoke } = await import('./trust.ts');
        const dir = values.dir ?? defaultTrustDir();
        if (rest[0] === 'init') await trustInit(dir, out);
        else if (rest[0] === 'certify') await trustCertify(rest[1], dir, values.kid, out);
        else if (rest[0] === 'revoke') await trustRevoke(rest[1], dir, out);
        else throw new CliError('USAGE', `unknown trust command ${rest[0] ?? ''}`, USAGE);
        return 0;
      }
      default:
        throw new CliError('USAGE', `unknown command ${command}`, USAGE);
    }
  } catch (e) {
    if (e instanceof CliError && e.code === 'NO_TRUST_ROOT') {
      err(`error ${e.code}: ${e.message}\n  what to do: ${e.hint}`);
      return VERIFY_EXIT.unverifiable;
    }
    if (e instanceof CliError) err(`error ${e.code}: ${e.message}\n  what to do: ${e.hint}`);
    else if (e instanceof Error && 'hint' in e && typeof e.hint === 'string' && 'code' in e) err(`error ${String(e.code)}: ${e.message}\n  what to do: ${e.hint}`);
    else err(`error: ${(e as Error).message}`);
    return 2;
  }
}
