// What the chaos suite sees of the deployment, as an auditor would: every decision, execution
// result, receipt and dead letter on the chaos broker, read committed from the beginning, with
// the time each arrived. The suite's counts come from here, the executor's side-effect file and
// the ledger, never from what a service says about itself.
import { randomUUID } from 'node:crypto';
import type { Bus } from '@intentgate/bus';
import type { DeadLetter, Decision, ExecutionResult, Receipt } from '@intentgate/contracts';

export interface Seen<T> {
  value: T;
  /** When the observer read it (ms since the epoch). */
  at: number;
}

export class Observer {
  readonly decisions = new Map<string, Array<Seen<Decision>>>();
  readonly executions = new Map<string, Array<Seen<ExecutionResult>>>();
  /** Receipt ids and kinds by intent id (decision, approval and execution receipts name their intent); bodies are not kept. */
  readonly receipts = new Map<string, Array<{ receiptId: string; kind: Receipt['kind'] }>>();
  /** Decision ids that have a decision or approval receipt. */
  readonly receiptedDecisions = new Set<string>();
  /** Dead letters' reason codes, by the intent id read from them and by the record's key. */
  readonly letters = new Map<string, string[]>();
  readonly lettersByKey = new Map<string, string[]>();
  #stop: (() => Promise<void>) | null = null;
  /** Where each record read sits in its log (topic/partition/offset): a second read of one is not a second record. */
  readonly #places = new Set<string>();

  static async start(bus: Bus): Promise<Observer> {
    const observer = new Observer();
    const consumer = bus.consumer<'Decision' | 'ExecutionResult' | 'Receipt' | 'DeadLetter'>({
      groupId: `test-chaos-observer-${randomUUID()}`, topics: ['decisions', 'executions', 'receipts', 'intents.dlq'], fromBeginning: true,
      handle: async (records) => {
        const at = Date.now();
        for (const r of records) {
          // The observer reads at least once: after a broker restart its group may re-read records
          // it saw before its offsets were committed. A record is counted once, by its place in the log.
          const place = `${r.topic}/${r.partition}/${r.offset}`;
          if (observer.#places.has(place)) continue;
          observer.#places.add(place);
          observer.#take(r.topic, r.value, at);
        }
      },
    });
    await consumer.start();
    observer.#stop = () => consumer.stop();
    return observer;
  }

  #take(topic: string, value: unknown, at: number): void {
    const push = <T>(map: Map<string, T[]>, key: string, v: T) => map.set(key, [...(map.get(key) ?? []), v]);
    if (topic === 'decisions') {
      const d = value as Decision;
      push(this.decisions, d.intent_id, { value: d, at });
    } else if (topic === 'executions') {
      const e = value as ExecutionResult;
      push(this.executions, e.intent_id, { value: e, at });
    } else if (topic === 'receipts') {
      const receipt = value as Receipt;
      if (receipt.intent_id) push(this.receipts, receipt.intent_id, { receiptId: receipt.receipt_id, kind: receipt.kind });
      const decisionId = (receipt.body as { decision?: { decision_id?: unknown } }).decision?.decision_id;
      if ((receipt.kind === 'decision' || receipt.kind === 'approval') && typeof decisionId === 'string') this.receiptedDecisions.add(decisionId);
    } else if (topic === 'intents.dlq') {
      const letter = value as DeadLetter;
      if (letter.intent_id) push(this.letters, letter.intent_id, letter.reason.code);
      if (letter.original.key !== null) push(this.lettersByKey, Buffer.from(letter.original.key, 'base64').toString('utf8'), letter.reason.code);
    }
  }

  /** An intent's final decision records (allow or deny, from the worker or the approvals service). */
  finals(intentId: string): Array<Seen<Decision>> {
    return (this.decisions.get(intentId) ?? []).filter((d) => d.value.final);
  }

  stop(): Promise<void> {
    return this.#stop?.() ?? Promise.resolve();
  }
}
