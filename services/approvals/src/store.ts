// Pending approvals on disk (SQLite, synchronous=FULL): a request is stored before its offset
// is committed, every accepted answer before it is acknowledged, and a settlement's records
// before they are published, so a restart loses none of them and re-publishes the same records.
import { DatabaseSync } from 'node:sqlite';
import type { ApprovalRequest, ApprovalResponse } from '@intentgate/contracts';
import type { OutgoingRecord } from '@intentgate/bus';
import type { Settlement } from './review.ts';

export type Status = 'pending' | 'settling' | 'final';

export interface StoredRequest {
  request: ApprovalRequest;
  responses: ApprovalResponse[];
  status: Status;
  receivedAt: string;
  settlement: Settlement | null;
  settledAt: string | null;
  /** The published final verdict and reason code (once settled). */
  verdict: string | null;
  reason: string | null;
}

interface Row {
  decision_id: string;
  request: string;
  status: Status;
  received_at: string;
  settlement: string | null;
  settled_at: string | null;
  verdict: string | null;
  reason: string | null;
}

export class ApprovalStore {
  readonly #db: DatabaseSync;

  constructor(path: string) {
    this.#db = new DatabaseSync(path);
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = FULL;
      CREATE TABLE IF NOT EXISTS requests (
        decision_id TEXT PRIMARY KEY,
        intent_id TEXT NOT NULL,
        request TEXT NOT NULL,
        deadline_ms INTEGER NOT NULL,
        status TEXT NOT NULL,
        received_at TEXT NOT NULL,
        settlement TEXT,
        records TEXT,
        settled_at TEXT,
        verdict TEXT,
        reason TEXT
      );
      CREATE INDEX IF NOT EXISTS requests_status ON requests (status, deadline_ms);
      CREATE INDEX IF NOT EXISTS requests_intent ON requests (intent_id);
      CREATE TABLE IF NOT EXISTS responses (
        decision_id TEXT NOT NULL,
        reviewer TEXT NOT NULL,
        response TEXT NOT NULL,
        PRIMARY KEY (decision_id, reviewer)
      );
    `);
  }

  /** Stores new requests; a request seen before (redelivery) is left as it is. Returns how many were new. */
  add(requests: readonly ApprovalRequest[], nowIso: string): number {
    const insert = this.#db.prepare('INSERT OR IGNORE INTO requests (decision_id, intent_id, request, deadline_ms, status, received_at) VALUES (?, ?, ?, ?, ?, ?)');
    let added = 0;
    this.#transaction(() => {
      for (const r of requests) added += Number(insert.run(r.decision_id, r.intent_id, JSON.stringify(r), Date.parse(r.deadline), 'pending', nowIso).changes);
    });
    return added;
  }

  get(decisionId: string): StoredRequest | null {
    const row = this.#db.prepare('SELECT * FROM requests WHERE decision_id = ?').get(decisionId) as Row | undefined;
    return row ? this.#load(row) : null;
  }

  /** Requests of an intent (normally one; one per decision group that escalated it). */
  byIntent(intentId: string): StoredRequest[] {
    return (this.#db.prepare('SELECT * FROM requests WHERE intent_id = ? ORDER BY received_at').all(intentId) as unknown as Row[]).map((r) => this.#load(r));
  }

  /** Open requests, soonest deadline first. */
  pending(): StoredRequest[] {
    return (this.#db.prepare("SELECT * FROM requests WHERE status = 'pending' ORDER BY deadline_ms").all() as unknown as Row[]).map((r) => this.#load(r));
  }

  /** Ids of the open requests (what an open page polls: no request bodies, no answers). */
  pendingIds(): string[] {
    return (this.#db.prepare("SELECT decision_id FROM requests WHERE status = 'pending' ORDER BY deadline_ms").all() as Array<{ decision_id: string }>).map((r) => r.decision_id);
  }

  /** Open requests whose deadline has passed. */
  due(nowMs: number, limit = 100): StoredRequest[] {
    return (this.#db.prepare("SELECT * FROM requests WHERE status = 'pending' AND deadline_ms <= ? ORDER BY deadline_ms LIMIT ?").all(nowMs, limit) as unknown as Row[]).map((r) => this.#load(r));
  }

  /** Settled requests, newest first. */
  history(limit = 100): StoredRequest[] {
    return (this.#db.prepare("SELECT * FROM requests WHERE status = 'final' ORDER BY settled_at DESC LIMIT ?").all(limit) as unknown as Row[]).map((r) => this.#load(r));
  }

  addResponse(response: ApprovalResponse): void {
    this.#db.prepare('INSERT INTO responses (decision_id, reviewer, response) VALUES (?, ?, ?)').run(response.decision_id, response.reviewer, JSON.stringify(response));
  }

  /** Records the settlement and the exact records it publishes, before they are published. */
  settling(decisionId: string, settlement: Settlement, records: readonly OutgoingRecord[], verdict: string, reason: string, nowIso: string): void {
    this.#db.prepare("UPDATE requests SET status = 'settling', settlement = ?, records = ?, settled_at = ?, verdict = ?, reason = ? WHERE decision_id = ? AND status = 'pending'")
      .run(JSON.stringify(settlement), JSON.stringify(records), nowIso, verdict, reason, decisionId);
  }

  /** Settlements recorded but maybe not published (a crash in between): published again, unchanged. */
  unpublished(): Array<{ decisionId: string; records: OutgoingRecord[] }> {
    const rows = this.#db.prepare("SELECT decision_id, records FROM requests WHERE status = 'settling'").all() as Array<{ decision_id: string; records: string }>;
    return rows.map((r) => ({ decisionId: r.decision_id, records: JSON.parse(r.records) as OutgoingRecord[] }));
  }

  published(decisionId: string): void {
    this.#db.prepare("UPDATE requests SET status = 'final' WHERE decision_id = ?").run(decisionId);
  }

  counts(): Record<Status, number> {
    const rows = this.#db.prepare('SELECT status, COUNT(*) AS n FROM requests GROUP BY status').all() as Array<{ status: Status; n: number }>;
    const out: Record<Status, number> = { pending: 0, settling: 0, final: 0 };
    for (const r of rows) out[r.status] = Number(r.n);
    return out;
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  #load(row: Row): StoredRequest {
    const responses = (this.#db.prepare('SELECT response FROM responses WHERE decision_id = ? ORDER BY rowid').all(row.decision_id) as Array<{ response: string }>)
      .map((r) => JSON.parse(r.response) as ApprovalResponse);
    return {
      request: JSON.parse(row.request) as ApprovalRequest, responses, status: row.status, receivedAt: row.received_at,
      settlement: row.settlement ? (JSON.parse(row.settlement) as Settlement) : null, settledAt: row.settled_at,
      verdict: row.verdict, reason: row.reason,
    };
  }

  #transaction(fn: () => void): void {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      fn();
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }
}
