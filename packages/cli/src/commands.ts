import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { stateDir } from '@intentgate/infra';
import { Checkpoint, type Decision, type Receipt } from '@intentgate/contracts';
import {
  loadTrustFile, parseVerifierKey, receiptLeafHash, verifyCheckpoint, verifyInclusion, readAuditBundle, readFrames, verifyLogData, verifyReceiptSigners, writeAuditBundle, type AuditBundle, type LogVerification,
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

/** How a verification ended: the exit code says which (see VERIFY_EXIT). */
export type VerifyOutcome = 'verified' | 'tampered' | 'verified-unpinned';

/** intentgate verify's exit codes. */
export const VERIFY_EXIT = { verified: 0, tampered: 1, usage: 2, unverifiable: 3, 'verified-unpinned': 4 } as const;

/** The local stack's ledger key, written by the ledger npm start runs: the default root on this machine. */
export function localVerifierKeyFile(): string {
  return join(stateDir(), 'ledger', 'ledger.vkey');
}

/**
 * intentgate verify <ledger dir | audit bundle | ledger URL> [--key <verifier key>] [--trust-any] [--trust <trust file>] [--token <t>]
 * The checkpoints are checked against a key the verifier was given: `--key`, else the local
 * stack's own (localVerifierKeyFile), else none, and nothing is called verified (NO_TRUST_ROOT,
 * exit 3); `--trust-any` takes the key that came with the data, prints its full hash, and exits
 * 4 even when everything checks out. With a trust file, every receipt's signer is checked too:
 * against keys whose certificates verify under the file's roots (or its operator keys), never a
 * key trusted for coming with the data.
 */
export async function verify(source: string, key: string | undefined, out: Out, token?: string, trustFile?: string, trustAny = false): Promise<VerifyOutcome> {
  let vkey: string | null = null;
  if (key) vkey = key.includes('+') ? key : await readFile(key, 'utf8').then((t) => t.trim(), () => {
    throw new CliError('NOT_FOUND', `--key ${key}: neither a verifier key (name+hash+key) nor a readable file`, 'Pass the ledger\'s verifier key (GET /v1/key on the ledger you trust, or its ledger.vkey) or a file holding it.');
  });
  else if (!trustAny) {
    const local = await readFile(localVerifierKeyFile(), 'utf8').then((t) => t.trim(), () => null);
    if (local) {
      vkey = local;
      out(`trusting the local stack's ledger key (${localVerifierKeyFile()})`);
    }
  }
  if (vkey === null && !trustAny) {
    if (!/^https?:\/\//.test(source) && (await stat(source).catch(() => null)) === null) {
      throw new CliError('NOT_FOUND', `${source} does not exist`, 'Give a ledger data directory, an audit bundle file, or a ledger URL.');
    }
    throw new CliError('NO_TRUST_ROOT', 'no verifier key to check the checkpoints against: nothing can be called verified',
      'Pass --key <verifier key or file> (the key of the ledger you trust, obtained apart from this data), or --trust-any to check the data only against the key it carries (exit 4, never 0).');
  }
  const bundle = await loadAuditSource(source, token);
  const pinned = vkey !== null;
  if (vkey === null) {
    vkey = bundle.verifier_key;
    out(`warning: --trust-any: checking against the key that came with the data, which anyone who altered the data could have replaced: ${vkey.split('+')[0]}, key SHA-256 ${sha256Hex(Buffer.from(vkey.split('+')[2] ?? '', 'base64'))}; compare it with the ledger's own before trusting this result`);
  }
  const verifiers = [parseVerifierKey(vkey)];
  let ok = true;
  for (const log of bundle.logs) {
    const result: LogVerification = verifyLogData(Buffer.from(log.entries_log, 'base64'), log.checkpoints_jsonl, log.origin, verifiers);
    // "ok" only under a key the verifier chose; under the data's own key, "unpinned".
    if (result.ok) out(`${pinned ? 'ok   ' : 'unpinned'} ${log.origin}: ${result.entries} entries, ${result.checkpoints} checkpoints verified${pinned ? '' : ' against the key that came with the data'}`);
    else {
      ok = false;
      const p = result.problem!;
      out(p.kind === 'entry' ? `FAIL  ${log.origin}: first bad entry ${p.index}: ${p.reason}` : `FAIL  ${log.origin}: checkpoint ${p.checkpoint}: ${p.reason}`);
    }
  }
  const outcome = (): VerifyOutcome => (!ok ? 'tampered' : pinned ? 'verified' : 'verified-unpinned');
  if (!trustFile) {
    out('not checked: who signed each receipt (pass --trust <trust file> to check every receipt\'s signer against your roots)');
    return outcome();
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
    return outcome();
  }
  out(`FAIL  signers: ${signers.where}: ${signers.code}: ${signers.message}`);
  return 'tampered';
}

/**
 * intentgate prove <receipt id> --checkpoint <file> [--key <verifier key>] [--ledger <url>]: the
 * receipt is in the log the auditor's own checkpoint commits to. The checkpoint's signature is
 * checked against the pinned key (as verify's), then the ledger's inclusion proof at that
 * checkpoint's size against its root; the receipt's leaf hash is computed here, not taken.
 */
export async function prove(receiptId: string, checkpointFile: string, key: string | undefined, ledgerUrl: string, out: Out, token?: string): Promise<VerifyOutcome> {
  const vkey = key ? (key.includes('+') ? key : (await readFile(key, 'utf8').catch(() => {
    throw new CliError('NOT_FOUND', `--key ${key}: neither a verifier key nor a readable file`, 'Pass the ledger\'s verifier key or a file holding it.');
  })).trim()) : await readFile(localVerifierKeyFile(), 'utf8').then((t) => t.trim(), () => null);
  if (!vkey) throw new CliError('NO_TRUST_ROOT', 'no verifier key to check the checkpoint against', 'Pass --key <verifier key or file> (the key of the ledger you trust).');
  if (!key) out(`trusting the local stack's ledger key (${localVerifierKeyFile()})`);
  const text = await readFile(checkpointFile, 'utf8').catch(() => {
    throw new CliError('NOT_FOUND', `${checkpointFile} cannot be read`, 'Give a checkpoint as the ledger publishes it (a line of checkpoints.jsonl, a ledger.checkpoints record, GET /v1/checkpoints/latest).');
  });
  let checkpoint: Checkpoint;
  try {
    checkpoint = Checkpoint.parse(JSON.parse(text));
  } catch (err) {
    throw new CliError('NOT_A_CHECKPOINT', `${checkpointFile}: ${(err as Error).message.slice(0, 300)}`, 'Give one checkpoint object as the ledger publishes it.');
  }
  let signed: { origin: string; treeSize: number; rootHash: Buffer };
  try {
    signed = verifyCheckpoint(checkpoint, [parseVerifierKey(vkey)]);
  } catch (err) {
    out(`FAIL  checkpoint ${checkpoint.origin} ${checkpoint.tree_size}: ${(err as Error).message}`);
    return 'tampered';
  }
  const res = await ledgerGet(ledgerUrl, `/v1/receipts/${encodeURIComponent(receiptId)}?tree_size=${signed.treeSize}`, await ledgerToken(ledgerUrl, token), 60_000, 'Start it (npm start) or pass --ledger.');
  const body = (await res.json().catch(() => null)) as { code?: string; message?: string; log?: string; index?: number; receipt?: Receipt; inclusion_proof?: string[] } | null;
  if (!res.ok || body === null) throw new CliError(body?.code ?? 'LEDGER_ERROR', body?.message ?? `HTTP ${res.status}`, 'Check the receipt id, and that the checkpoint is of the log that holds it.');
  // The ledger's answer is checked, not taken: the receipt asked for, at a whole-number position.
  if (body.receipt?.receipt_id !== receiptId || !Number.isSafeInteger(body.index) || body.index! < 0) {
    out(`FAIL  the ledger answered for ${body.receipt?.receipt_id ?? 'no receipt'} at position ${String(body.index)}, not for receipt ${receiptId}`);
    return 'tampered';
  }
  if (body.log !== signed.origin) {
    out(`FAIL  receipt ${receiptId} is in ${body.log}, not in ${signed.origin} (the checkpoint's log)`);
    return 'tampered';
  }
  const leaf = receiptLeafHash(body.receipt!);
  const ok = verifyInclusion(body.index!, signed.treeSize, leaf, (body.inclusion_proof ?? []).map((h) => Buffer.from(h, 'hex')), signed.rootHash);
  out(ok ? `ok    receipt ${receiptId} (leaf ${leaf.toString('hex')}) is entry ${body.index} of ${signed.origin} at tree size ${signed.treeSize} (root ${signed.rootHash.toString('hex')})`
    : `FAIL  receipt ${receiptId}: the ledger's proof does not lead to the root of your checkpoint at tree size ${signed.treeSize}`);
  return ok ? 'verified' : 'tampered';
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

