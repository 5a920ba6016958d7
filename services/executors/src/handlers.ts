// One handler per domain. Each does a real thing in a sandbox the project owns; parameters
// come from the intent (context.* carries the action's arguments).
import { mkdir, rm, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { ApprovedIntent } from '@intentgate/contracts';
import type { ExecutionHandler } from '@intentgate/sdk';
import type { DemoMcp } from './mcp-server.ts';

const SAFE_NAME = /^[A-Za-z0-9._-]{1,128}$/;

function safeName(id: string): string {
  if (!SAFE_NAME.test(id)) throw new Error(`resource id ${JSON.stringify(id)} is not a safe sandbox name`);
  return id;
}

/** app: an HTTP call to the local demo service (http.get / http.post ...). */
export function appHandler(allowedOrigin: string): ExecutionHandler {
  return async ({ intent }: ApprovedIntent) => {
    const url = new URL(intent.resource.id);
    if (url.origin !== allowedOrigin) throw new Error(`this executor only calls ${allowedOrigin}`);
    const method = intent.action.name.replace(/^http\./, '').toUpperCase();
    const res = await fetch(url, {
      method,
      headers: { 'content-type': 'application/json', 'x-intentgate-intent': intent.intent_id },
      ...(method === 'GET' || method === 'HEAD' ? {} : { body: JSON.stringify(intent.context.body ?? {}) }),
      signal: AbortSignal.timeout(5_000),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return { detail: { status: res.status } };
  };
}

/** The one table the data executor manages, named exactly as the intent (and so the decision) names it. */
const INVOICES = { type: 'table', id: 'billing.invoices' } as const;

/**
 * The rows an export or delete acts on, exactly as the intent states them: never a default,
 * since the decision was made on the stated number (the policy denies any other).
 */
function statedRows(intent: ApprovedIntent['intent']): number {
  const rows = intent.context.rows;
  if (typeof rows !== 'number' || !Number.isSafeInteger(rows) || rows < 0) {
    throw new Error(`ARGUMENT_INVALID: context.rows must be a whole number of rows, 0 or more (got ${JSON.stringify(rows)})`);
  }
  return Math.min(rows, 10_000);
}

/** data: queries, exports (a CSV file) and deletes against an embedded SQLite database. */
export function dataHandler(dir: string): { handler: ExecutionHandler; db: DatabaseSync } {
  const db = new DatabaseSync(join(dir, 'data.db'));
  db.exec('CREATE TABLE IF NOT EXISTS invoices (id INTEGER PRIMARY KEY, customer TEXT, amount REAL)');
  if ((db.prepare('SELECT count(*) AS n FROM invoices').get() as { n: number }).n === 0) {
    const insert = db.prepare('INSERT INTO invoices (customer, amount) VALUES (?, ?)');
    for (let i = 1; i <= 2_000; i++) insert.run(`customer-${i % 97}`, (i * 37) % 1000);
  }
  const handler: ExecutionHandler = async ({ intent }) => {
    // The decision was made for this resource's labels: act on it, exactly, or not at all
    // (SQLite's table names are case-insensitive; the intent's are not).
    if (intent.resource.type !== INVOICES.type || intent.resource.id !== INVOICES.id) {
      throw new Error(`UNKNOWN_RESOURCE: the data executor manages ${INVOICES.type} ${INVOICES.id} only, not ${intent.resource.type} ${JSON.stringify(intent.resource.id)}`);
    }
    switch (intent.action.name) {
      case 'data.query': {
        const { n } = db.prepare('SELECT count(*) AS n FROM invoices').get() as { n: number };
        return { detail: { rows: n } };
      }
      case 'data.export': {
        const rows = statedRows(intent);
        const selected = db.prepare('SELECT id, customer, amount FROM invoices ORDER BY id LIMIT ?').all(rows) as Array<Record<string, unknown>>;
        await mkdir(join(dir, 'exports'), { recursive: true });
        const csv = ['id,customer,amount', ...selected.map((r) => `${r.id},${r.customer},${r.amount}`)].join('\n');
        await writeFile(join(dir, 'exports', `${intent.intent_id}.csv`), `${csv}\n`);
        return { detail: { rows: selected.length, file: `exports/${intent.intent_id}.csv` } };
      }
      case 'data.delete': {
        const rows = statedRows(intent);
        const result = db.prepare('DELETE FROM invoices WHERE id IN (SELECT id FROM invoices ORDER BY id LIMIT ?)').run(rows);
        return { detail: { deleted: Number(result.changes) } };
      }
      default:
        throw new Error(`unsupported data action ${intent.action.name}`);
    }
  };
  return { handler, db };
}

/** infra: changes to a sandbox configuration directory (one JSON file per service). */
export function infraHandler(dir: string): ExecutionHandler {
  return async ({ intent }) => {
    // The decision was made for this type's labels: a file is a service's config, nothing else's.
    if (intent.resource.type !== 'service') throw new Error(`UNKNOWN_RESOURCE: the infra executor manages services only, not ${JSON.stringify(intent.resource.type)}`);
    const name = safeName(intent.resource.id);
    const file = join(dir, `${name}.json`);
    await mkdir(dir, { recursive: true });
    switch (intent.action.name) {
      case 'infra.config.change':
      case 'infra.scale':
        await writeFile(file, `${JSON.stringify({ ...(intent.context.config as object | undefined), changed_by: intent.intent_id }, null, 2)}\n`);
        return { detail: { file: `${name}.json` } };
      case 'infra.restart':
        await appendFile(join(dir, 'restarts.log'), `${new Date().toISOString()} ${name} ${intent.intent_id}\n`);
        return { detail: { restarted: name } };
      case 'infra.delete':
        await rm(file, { force: true });
        return { detail: { deleted: `${name}.json` } };
      default:
        throw new Error(`unsupported infra action ${intent.action.name}`);
    }
  };
}

/** ai: an MCP tool call (resource id "demo/<tool>") through a real MCP client session. */
export function aiHandler(mcp: DemoMcp): ExecutionHandler {
  return async ({ intent }) => {
    if (intent.action.name !== 'mcp.tool.call') throw new Error(`unsupported ai action ${intent.action.name}`);
    const [server, tool] = intent.resource.id.split('/');
    if (server !== 'demo' || !tool) throw new Error(`unknown MCP server in ${intent.resource.id}`);
    const result = await mcp.client.callTool({ name: tool, arguments: (intent.context.arguments as Record<string, unknown> | undefined) ?? {} });
    if (result.isError) throw new Error(`tool error: ${JSON.stringify(result.content)}`);
    return { detail: { content: result.content } };
  };
}
