// An audit bundle: everything needed to verify a ledger with no service running — each log's
// exact bytes and checkpoints, the ledger's verifier key, the warrant keys, the policy bundles.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CHECKPOINTS_FILE, ENTRIES_FILE } from './merkle-log.ts';

export const AUDIT_BUNDLE_FORMAT = 'intentgate-audit-bundle/1';

export interface AuditBundle {
  format: typeof AUDIT_BUNDLE_FORMAT;
  exported_at: string;
  verifier_key: string;
  logs: Array<{ origin: string; entries_log: string; checkpoints_jsonl: string }>;
  /** Policy bundles by digest (base64 tar.gz), so every recorded decision can be replayed. */
  policy_bundles: Record<string, string>;
  /** Every warrant key the decision service published (public parts), to check recorded warrants. */
  warrant_keys: unknown[];
}

/** Builds an audit bundle from a ledger data directory (receipts-N/, bundles/, ledger.vkey). */
export async function writeAuditBundle(ledgerDir: string, out: string | null): Promise<AuditBundle> {
  const names = await readdir(ledgerDir);
  const logs = [];
  for (const name of names.filter((n) => /^receipts-\d+$/.test(n)).sort()) {
    const partition = name.split('-')[1];
    logs.push({
      origin: `intentgate/receipts/${partition}`,
      entries_log: (await readFile(join(ledgerDir, name, ENTRIES_FILE)).catch(() => Buffer.alloc(0))).toString('base64'),
      checkpoints_jsonl: await readFile(join(ledgerDir, name, CHECKPOINTS_FILE), 'utf8').catch(() => ''),
    });
  }
  const policy_bundles: Record<string, string> = {};
  for (const file of await readdir(join(ledgerDir, 'bundles')).catch(() => [] as string[])) {
    policy_bundles[file.replace(/\.tar\.gz$/, '')] = (await readFile(join(ledgerDir, 'bundles', file))).toString('base64');
  }
  const warrant_keys = JSON.parse(await readFile(join(ledgerDir, 'warrant-keys.json'), 'utf8').catch(() => '[]')) as unknown[];
  const bundle: AuditBundle = {
    format: AUDIT_BUNDLE_FORMAT, exported_at: new Date().toISOString(),
    verifier_key: (await readFile(join(ledgerDir, 'ledger.vkey'), 'utf8')).trim(), logs, policy_bundles, warrant_keys,
  };
  if (out) await writeFile(out, JSON.stringify(bundle));
  return bundle;
}

export async function readAuditBundle(path: string): Promise<AuditBundle> {
  const bundle = JSON.parse(await readFile(path, 'utf8')) as AuditBundle;
  if (bundle.format !== AUDIT_BUNDLE_FORMAT) throw new TypeError(`${path} is not an IntentGate audit bundle (format ${String(bundle.format)})`);
  return bundle;
}
