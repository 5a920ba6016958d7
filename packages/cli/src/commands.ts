import { readFile, stat } from 'node:fs/promises';
import type { Decision, Receipt } from '@intentgate/contracts';
import {
  loadTrustFile, parseVerifierKey, readAuditBundle, readFrames, verifyLogData, verifyReceiptSigners, writeAuditBundle, type AuditBundle, type LogVerification,
} from '@intentgate/evidence';
import { buildBundle, decideSafely, PolicyEngine } from '@intentgate/policy';
import { sha256Hex } from '@intentgate/evidence';
import { CliError } from './errors.ts';
import { ledgerGet, ledgerToken } from './ledger-client.ts';

export type Out = (line: string) => void;

async function loadAuditSource(source: string, token: string | undefined): Promise<AuditBundle> {
  if (/^https?:\/\//.test(source)) {
    const res = await ledgerGet(source, '/v1/export', await ledgerToken(source, token), 600_000, 'Check the URL (npm start writes it to .intentgate/stack.json as ledgerUrl).');
    if (!res.ok) throw new CliError('LEDGER_ERROR', `the ledger answered HTTP ${res.status}`, 'Check the ledger logs.');
    return (await res.json().catch((err: unknown) => {
      throw new CliError('LEDGER_ERROR', `reading the ledger's export failed: ${(err as Error).message}`, 'Try again; for a very large ledger, export it on its host: intentgate export <ledger dir>.');
    })) as AuditBundle;
  }
  const info = await stat(source).catch(() => null);
  if (info === null) throw new CliError('NOT_FOUND', `${source} does not exist`, 'Give a ledger data directory, an audit bundle file, or a ledger URL.');
  if (info.isDirectory()) return writeAuditBundle(source, null);
  return readAuditBundle(source).catch((err: unknown) => {
    throw new CliError('NOT_AN_AUDIT_BUNDLE', (err as Error).message, 'Export one with `intentgate export`.');
  });
}

/**
 * intentgate verify <ledger dir | audit bundle | ledger URL> [--key <verifier key>] [--trust <trust file>] [--token <t>]
 * With a trust file, every receipt's signer is checked too: against keys whose certificates
 * verify under the file's roots (or its operator keys), never a key trusted for coming with the data.
 */
export async function verify(source: string, key: string | undefined, out: Out, token?: string, trustFile?: string): Promise<boolean> {
  const bundle = await loadAuditSource(source, token);
  const vkey = key ? (key.includes('+') ? key : (await readFile(key, 'utf8')).trim()) : bundle.verifier_key;
  if (!key) out(`warning: trusting the verifier key that came with the data (${vkey.split('+')[0]}); pass --key to pin the one you expect`);
  const verifiers = [parseVerifierKey(vkey)];
  let ok = true;
  for (const log of bundle.logs) {
    const result: LogVerification = verifyLogData(Buffer.from(log.entries_log, 'base64'), log.checkpoints_jsonl, log.origin, verifiers);
    if (result.ok) out(`ok    ${log.origin}: ${result.entries} entries, ${result.checkpoints} checkpoints verified`);
    else {
      ok = false;
      const p = result.problem!;
      out(p.kind === 'entry' ? `FAIL  ${log.origin}: first bad entry ${p.index}: ${p.reason}` : `FAIL  ${log.origin}: checkpoint ${p.checkpoint}: ${p.reason}`);
    }
  }
  if (!trustFile) {
    out('not checked: who signed each receipt (pass --trust <trust file> to check every receipt\'s signer against your roots)');
    return ok;
  }
  const roots = await loadTrustFile(trustFile);
  const receipts = function* () {
    for (const log of bundle.logs) {
      for (const f of readFrames(Buffer.from(log.entries_log, 'base64'))) {
        if (f.entry) yield { where: `${log.origin} entry ${f.entry.index}`, receipt: f.entry.receipt as Receipt & Record<string, unknown> };
      }
    }
  };
  const signers = verifyReceiptSigners(roots, bundle.warrant_keys, receipts());
  if (signers.ok) {
    out(`ok    signers: ${signers.receipts} receipts, each signed by a key your roots vouch for (${[...signers.signers].map(([p, n]) => `${p} ${n}`).join(', ') || 'none'})`);
    return ok;
  }
  out(`FAIL  signers: ${signers.where}: ${signers.code}: ${signers.message}`);
  return false;
}

/** intentgate export <ledger dir | ledger URL> --out <file> */
export async function exportBundle(source: string, outFile: string, out: Out, token?: string): Promise<void> {
  const bundle = await loadAuditSource(source, token);
  const { writeFile } = await import('node:fs/promises');
  await writeFile(outFile, JSON.stringify(bundle));
  const entries = bundle.logs.reduce((n, l) => n + readFrames(Buffer.from(l.entries_log, 'base64')).length, 0);
  out(`wrote ${outFile}: ${bundle.logs.length} logs, ${entries} entries, ${Object.keys(bundle.policy_bundles).length} policy bundles`);
}

/** intentgate replay <decision_id> --ledger <url> */
export async function replay(decisionId: string, ledgerUrl: string, out: Out, token?: string): Promise<boolean> {
  const res = await ledgerGet(ledgerUrl, `/v1/replay/${encodeURIComponent(decisionId)}`, await ledgerToken(ledgerUrl, token), 60_000, 'Start it (npm start) or pass --ledger.');
  const parsed = (await res.json().catch(() => null)) as { code?: string; message?: string; identical?: boolean; differences?: string[]; decided_by?: string; outcome?: string; escalation?: { decision_id: string } } | null;
  if (parsed === null && res.ok) throw new CliError('LEDGER_ERROR', 'the ledger\'s replay answer could not be read', 'Try again; check the ledger logs if it persists.');
  const body = parsed ?? {};
  if (!res.ok) throw new CliError(body.code ?? 'REPLAY_FAILED', body.message ?? `HTTP ${res.status}`, 'Check the decision id (from a decision or its receipt).');
  if (body.decided_by === 'review') out(`decision ${decisionId} was settled by review (${body.outcome}); the escalation ${body.escalation?.decision_id} it settled:`);
  if (body.identical) out(`identical: decision ${body.escalation?.decision_id ?? decisionId} replays bit for bit under its recorded bundle`);
  else {
    out(`DIFFERENT: decision ${decisionId}`);
    for (const d of body.differences ?? []) out(`  ${d}`);
  }
  return body.identical === true;
}

/** The last `n` decision receipts with a policy input, newest last, from an audit source. */
function recordedDecisions(bundle: AuditBundle, n: number): Array<{ decision: Decision; input: unknown }> {
  const all: Array<{ decision: Decision; input: unknown; at: string }> = [];
  for (const log of bundle.logs) {
    for (const f of readFrames(Buffer.from(log.entries_log, 'base64'))) {
      const receipt = f.entry?.receipt as Receipt | undefined;
      const body = receipt?.body as { decision?: Decision; input?: unknown } | undefined;
      if (receipt?.kind === 'decision' && body?.decision?.policy && body.input) all.push({ decision: body.decision, input: body.input, at: body.decision.decided_at });
    }
  }
  return all.sort((a, b) => a.at.localeCompare(b.at)).slice(-n);
}

/**
 * intentgate policy backtest <bundle.tar.gz | policy dir> --last N [--ledger src] [--max-changed K]
 * Re-evaluates recorded inputs under a candidate bundle; lists the decisions that would change.
 */
export async function backtest(candidate: string, options: { last: number; source: string; maxChanged: number; opaPath?: string; token?: string }, out: Out): Promise<boolean> {
  const info = await stat(candidate).catch(() => null);
  if (info === null) throw new CliError('NOT_FOUND', `${candidate} does not exist`, 'Give a bundle (.tar.gz from opa build) or a policy directory.');
  let bytes: Buffer;
  if (info.isDirectory()) {
    if (!options.opaPath) throw new CliError('OPA_MISSING', 'building a policy directory needs opa', 'Run `npm run stack:fetch`, or set OPA_PATH, or pass a built bundle.');
    bytes = (await buildBundle({ opaPath: options.opaPath, policyDir: candidate, revision: 'backtest' })).bytes;
  } else bytes = await readFile(candidate);
  const engine = await PolicyEngine.load(bytes, { version: 'candidate' });
  const recorded = recordedDecisions(await loadAuditSource(options.source, options.token), options.last);
  let changed = 0;
  for (const { decision, input } of recorded) {
    const now = decideSafely(engine, input, Number.MAX_SAFE_INTEGER);
    if (now.verdict !== decision.verdict) {
      changed++;
      out(`change  ${decision.decision_id}  ${decision.verdict} -> ${now.verdict}  (${now.reasons[0]?.code ?? ''})`);
    }
  }
  const fraction = recorded.length === 0 ? 0 : changed / recorded.length;
  out(`${changed} of ${recorded.length} recorded decisions would change under ${sha256Hex(bytes).slice(0, 12)} (${(fraction * 100).toFixed(1)}%); threshold ${options.maxChanged}`);
  return changed <= options.maxChanged;
}

