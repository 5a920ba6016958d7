// Until the approvals service exists, an escalation nobody answers must still end: at its
// deadline it becomes a final deny with APPROVAL_TIMEOUT and its receipt. Never an allow.
import { createHash, randomUUID } from 'node:crypto';
import type { ContextStore } from '@intentgate/context';
import type { BatchingProducer, Logger } from '@intentgate/bus';
import type { ApprovalRequest, Decision } from '@intentgate/contracts';

const PENDING = 'ig:escalations';

interface Pending {
  intent_id: string;
  decision_id: string;
  intent_digest: string;
  session_id: string;
  deadline: string;
}

/** A UUID derived from the escalation, so every instance that times it out writes the same decision. */
export function timeoutDecisionId(escalationDecisionId: string): string {
  const h = createHash('sha256').update(`${escalationDecisionId}:approval-timeout`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function timeoutDecision(p: Pending, nowMs: number): Decision {
  return {
    decision_id: timeoutDecisionId(p.decision_id), intent_id: p.intent_id, intent_digest: p.intent_digest,
    verdict: 'deny', final: true,
    reasons: [{ code: 'APPROVAL_TIMEOUT', rule: 'intentgate.approvals', message: `no sufficient answer before the deadline ${p.deadline}` }],
    obligations: { escalation_decision_id: p.decision_id }, policy: null, input_digest: null, decided_at: new Date(nowMs).toISOString(),
  };
}

export class EscalationDeadlines {
  readonly #store: ContextStore;
  readonly #producer: BatchingProducer;
  readonly #producerName: string;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | null = null;
  #ticking: Promise<void> | null = null;

  constructor(store: ContextStore, producer: BatchingProducer, producerName: string, logger: Logger) {
    this.#store = store;
    this.#producer = producer;
    this.#producerName = producerName;
    this.#logger = logger;
  }

  /** Remembers escalations (after their batch committed) with their deadlines. */
  async track(requests: readonly ApprovalRequest[], sessionOf: (intentId: string) => string): Promise<void> {
    if (requests.length === 0) return;
    const args: Array<string | number> = [];
    for (const r of requests) {
      const pending: Pending = { intent_id: r.intent_id, decision_id: r.decision_id, intent_digest: r.intent_digest, session_id: sessionOf(r.intent_id), deadline: r.deadline };
      args.push(Date.parse(r.deadline), JSON.stringify(pending));
    }
    await this.#store.redis.zadd(PENDING, ...args);
  }

  start(intervalMs = 250): void {
    this.#timer ??= setInterval(() => {
      this.#ticking ??= this.tick().then(() => undefined, (err: unknown) => {
        this.#logger.error({ err: (err as Error).message }, 'escalation deadline check failed; retrying');
      }).finally(() => (this.#ticking = null));
    }, intervalMs);
  }

  /** Denies every escalation whose deadline has passed. Publish first, then forget: a crash repeats the same decision. */
  async tick(nowMs = Date.now()): Promise<number> {
    const due = await this.#store.redis.zrangebyscore(PENDING, 0, nowMs, 'LIMIT', 0, 100);
    for (const member of due) {
      const pending = JSON.parse(member) as Pending;
      const decision = timeoutDecision(pending, nowMs);
      await this.#producer.sendMany([
        { topic: 'decisions', key: pending.session_id, value: decision },
        {
          topic: 'receipts', key: pending.intent_id,
          value: { receipt_id: randomUUID(), kind: 'decision', intent_id: pending.intent_id, body: { decision, input: null, escalation: pending }, producer: this.#producerName, produced_at: decision.decided_at },
        },
      ]);
      // A resubmitted intent now gets the final deny, not the old escalation.
      await this.#store.replaceDecision(decision);
      await this.#store.redis.zrem(PENDING, member);
      this.#logger.info({ intent: pending.intent_id }, 'escalation timed out: denied');
    }
    return due.length;
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#ticking;
  }
}
