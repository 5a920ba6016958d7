// The chaos scenarios: a load at a fixed rate through the whole deployment, one fault injected a
// third of the way in (the target SIGKILLed and started again, as its supervisor would), then an
// audit of everything that came out. Each scenario prints intents submitted, final decisions,
// missing, doubled, double executions and receipts lost, and how long the fault cost.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { kafkaSasl } from '@intentgate/bus';
import type { Decision, Intent } from '@intentgate/contracts';
import { exampleIntent } from '@intentgate/contracts/examples';
import { projectRoot, saslOf, type StackInfo } from '@intentgate/infra';
import { Redis } from 'ioredis';
import { poisonCorpus, type Poison } from '../harness/poison.ts';
import { CHAOS_AGENT, CHAOS_TABLES, UNREGISTERED_AGENT, type ChaosEnvironment, type Supervised } from './environment.ts';
import { Observer } from './observer.ts';

export const FAULTS = ['none', 'decision', 'decision-pair', 'ledger', 'approvals', 'executor', 'broker', 'redis', 'overload', 'fuzz'] as const;
export type Fault = (typeof FAULTS)[number];

export const FAULT_TEXT: Record<Fault, string> = {
  none: 'no fault (the floor)',
  decision: 'decision worker SIGKILL, restarted',
  'decision-pair': 'one of two decision workers in a group SIGKILL, restarted (its partitions move to the other and back)',
  ledger: 'ledger SIGKILL, restarted',
  approvals: 'approvals SIGKILL, restarted',
  executor: 'data executor SIGKILL, restarted',
  broker: 'broker SIGKILL, restarted on the same data',
  redis: 'Redis SIGKILL, restarted empty',
  overload: '2x the worker\'s measured rate',
  fuzz: 'the fuzz corpus mixed into the load',
};

export interface ChaosScale {
  /** Intents per second of the steady load. */
  ratePerSecond: number;
  /** Seconds of load per scenario (the fault lands a third of the way in). */
  seconds: number;
  /** Intents in the burst that measures the worker's rate before the overload scenario. */
  calibrationIntents: number;
  /** Seconds of load at twice that rate. */
  overloadSeconds: number;
  /** How long a killed service stays down before its supervisor starts it again. */
  downMs: number;
  /** How long the audit waits for everything submitted to end. */
  drainTimeoutMs: number;
}

export const SMALL_SCALE: ChaosScale = { ratePerSecond: 40, seconds: 6, calibrationIntents: 600, overloadSeconds: 6, downMs: 1_000, drainTimeoutMs: 150_000 };
export const FULL_SCALE: ChaosScale = { ratePerSecond: 100, seconds: 30, calibrationIntents: 3_000, overloadSeconds: 20, downMs: 2_000, drainTimeoutMs: 300_000 };

export interface ScenarioReport {
  fault: Fault;
  /** Distinct intents submitted (well-formed, and malformed ones whose intent_id can be read). */
  submitted: number;
  /** Of those, sent a second time (the same record, as a retrying client does). */
  resubmitted: number;
  /** Malformed records sent (fuzz). */
  malformed: number;
  /** Intents with a final decision. */
  decided: number;
  missing: number;
  /** Intents with a second final decision (another decision id, or a second record beyond their submissions). */
  doubled: number;
  /** Up to three doubled intents: their final decisions (decision id, verdict, decided at). */
  doubledExamples: string[];
  /** Intents whose side effect happened more than once. */
  doubleExecutions: number;
  /** Final decisions without their receipt, plus receipts of this scenario the ledger does not hold. */
  receiptsLost: number;
  /** Malformed records without their dead letter. */
  lettersMissing: number;
  /** Allowed intents neither executed nor reported as not executed. */
  allowedUnaccounted: number;
  /** Allows that must not be: an unregistered agent's, or one decided while the context store had forgotten. */
  wrongAllows: number;
  allowed: number;
  executed: number;
  /** Allowed but not executed, by the reason reported to the agent. */
  notExecuted: Record<string, number>;
  /** Final denies by reason code. */
  denied: Record<string, number>;
  /** Kill to the service answering again (ready), ms. */
  downMs: number | null;
  /** Kill to the first work of the faulted part done again (a decision, an allow, an execution, a settled review), ms. */
  recoveryMs: number | null;
  /** Submission to final decision, for intents the worker decided itself. */
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  /** The rate the load ran at (the overload: twice the measured rate). */
  ratePerSecond: number;
  /** The worker's measured rate (the overload scenario's floor). */
  measuredRatePerSecond: number | null;
  durationMs: number;
}

type Kind = 'allow' | 'deny' | 'escalate-approve' | 'escalate-expire' | 'poison';

/** One in twenty: 14 allowed queries, 3 intents of an agent never registered, 3 deletes that need review (half approved). */
function kindOf(n: number): Kind {
  const slot = n % 20;
  if (slot < 14) return 'allow';
  if (slot < 17) return 'deny';
  return slot % 2 === 0 ? 'escalate-approve' : 'escalate-expire';
}

function intentOf(kind: Kind, session: string): Intent {
  const agent = kind === 'deny' ? UNREGISTERED_AGENT : CHAOS_AGENT;
  const escalate = kind.startsWith('escalate');
  return {
    ...exampleIntent(), intent_id: randomUUID(), submitted_at: new Date().toISOString(),
    subject: { type: 'agent', id: agent, properties: { autonomy: 'supervised' } },
    delegation: [{ principal: 'alice@example.org', kind: 'human', scope: ['*'] }, { principal: agent, kind: 'agent', scope: ['data:*'] }],
    session: { id: session, workflow_step: 'reconcile', request_source: 'user' },
    action: escalate ? { name: 'data.delete', domain: 'data', reversible: false } : { name: 'data.query', domain: 'data', reversible: true },
    resource: { type: 'table', id: escalate ? CHAOS_TABLES.delete : CHAOS_TABLES.query, properties: { sensitivity: escalate ? 'confidential' : 'internal' } },
    context: escalate ? { rows: 3 } : {},
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The reviewer: approves the escalations meant to be approved, leaves the others to their deadline. */
function reviewer(env: ChaosEnvironment, approve: Set<string>): { stop(): Promise<void> } {
  const answered = new Set<string>();
  let running = true;
  const headers = { authorization: `Bearer ${env.reviewerToken}`, 'content-type': 'application/json' };
  const loop = (async () => {
    while (running) {
      try {
        const res = await fetch(`${env.approvalsUrl()}/api/v1/requests`, { headers, signal: AbortSignal.timeout(5_000) });
        const { pending } = (await res.json()) as { pending: Array<{ id: string; request: { intent_id: string; intent_digest: string } }> };
        for (const p of pending) {
          if (!approve.has(p.request.intent_id) || answered.has(p.id)) continue;
          const answer = await fetch(`${env.approvalsUrl()}/api/v1/requests/${p.id}/answer`, {
            method: 'POST', headers, body: JSON.stringify({ answer: 'approve', intent_digest: p.request.intent_digest, comment: 'chaos reviewer' }), signal: AbortSignal.timeout(5_000),
          });
          if (answer.status < 500) answered.add(p.id);
        }
      } catch {
        // The approvals service is down (a fault) or restarting: try again.
      }
      await sleep(300);
    }
  })();
  return { stop: async () => { running = false; await loop; } };
}

/** The chaos suite's state across scenarios: one deployment, one observer, one raw producer for poison. */
export class ChaosRun {
  readonly env: ChaosEnvironment;
  readonly observer: Observer;
  readonly #producer: ReturnType<ReturnType<ChaosEnvironment['bus']>['producer']>;
  readonly #raw: Producer;
  readonly #runId = randomUUID().slice(0, 8);
  #measuredRate: number | null = null;
  /** Every intent sent, by id (a retry sends the same record again). */
  readonly #sent = new Map<string, Intent>();

  private constructor(env: ChaosEnvironment, observer: Observer, raw: Producer) {
    this.env = env;
    this.observer = observer;
    this.#producer = env.bus('agent-platform').producer();
    this.#raw = raw;
  }

  static async start(env: ChaosEnvironment, info: StackInfo): Promise<ChaosRun> {
    const observer = await Observer.start(env.bus('provisioner'));
    const sasl = saslOf(info, 'agent-platform');
    const raw = new Kafka({ clientId: 'chaos-raw', brokers: env.kafka.brokers, ...(sasl ? { sasl: kafkaSasl(sasl) } : {}), logLevel: logLevel.NOTHING }).producer();
    await raw.connect();
    return new ChaosRun(env, observer, raw);
  }

  async stop(): Promise<void> {
    await this.#raw.disconnect().catch(() => {});
    await this.observer.stop();
  }

  /** Sends until the broker takes it (a client retries while the broker is down); resolves with the time it was taken. */
  async #submit(intents: Intent[]): Promise<number> {
    for (;;) {
      try {
        await this.#producer.sendMany(intents.map((value) => ({ topic: 'intents', key: value.session.id, value })));
        return Date.now();
      } catch {
        await sleep(250);
      }
    }
  }

  /** The intents topic's schema id (the wire framing of a record written raw). */
  async #intentsSchemaId(): Promise<number> {
    const bus = this.env.bus();
    await bus.registerSchemas();
    return bus.catalog.idFor('intents');
  }

  async #submitRaw(records: Poison[]): Promise<void> {
    for (;;) {
      try {
        await this.#raw.send({ topic: 'intents', acks: -1, messages: records.map((r) => ({ key: r.key, value: r.value })) });
        return;
      } catch {
        await sleep(250);
      }
    }
  }

  /** Runs one scenario and audits it. */
  async run(fault: Fault, scale: ChaosScale): Promise<ScenarioReport> {
    const started = Date.now();
    const marker = `chaos-${fault}-${this.#runId}`;
    const kinds = new Map<string, Kind>();
    const submittedAt = new Map<string, number>();
    const submissions = new Map<string, number>();
    const approve = new Set<string>();
    const poison: Poison[] = [];
    const review = reviewer(this.env, approve);
    const record = (intents: Intent[], at: number) => {
      for (const i of intents) {
        if (!submittedAt.has(i.intent_id)) submittedAt.set(i.intent_id, at);
        submissions.set(i.intent_id, (submissions.get(i.intent_id) ?? 0) + 1);
      }
    };
    let serial = 0;
    const nextIntents = (count: number, onlyAllowed = false): Intent[] => Array.from({ length: count }, () => {
      const n = serial++;
      const kind = onlyAllowed ? 'allow' : kindOf(n);
      const intent = intentOf(kind, `${marker}-s${n % 12}`);
      kinds.set(intent.intent_id, kind);
      this.#sent.set(intent.intent_id, intent);
      if (kind === 'escalate-approve') approve.add(intent.intent_id);
      return intent;
    });

    if (fault === 'decision-pair') {
      await this.env.decisionPeer.start();
      // Both members hold partitions before the load starts.
      await sleep(3_000);
    }
    let rate = scale.ratePerSecond;
    let seconds = scale.seconds;
    if (fault === 'overload') {
      // The floor: the worker's rate on a burst of allowed queries, measured now on this machine.
      const burst = nextIntents(scale.calibrationIntents, true);
      for (let i = 0; i < burst.length; i += 200) record(burst.slice(i, i + 200), await this.#submit(burst.slice(i, i + 200)));
      const ids = burst.map((i) => i.intent_id);
      await this.#until(() => ids.every((id) => this.observer.finals(id).length > 0), scale.drainTimeoutMs);
      const times = ids.map((id) => this.observer.finals(id)[0]?.at ?? 0).filter((t) => t > 0).sort((a, b) => a - b);
      const spanS = Math.max(0.001, (times.at(-1)! - Math.min(times[0]!, ...ids.map((id) => submittedAt.get(id)!))) / 1000);
      this.#measuredRate = ids.length / spanS;
      rate = Math.max(scale.ratePerSecond, Math.round(2 * this.#measuredRate));
      seconds = scale.overloadSeconds;
    }

    let schemaId = 0;
    if (fault === 'fuzz') schemaId = await this.#intentsSchemaId();
    const corpus = fault === 'fuzz' ? poisonCorpus({ seed: 0x1e309, run: this.#runId, agent: CHAOS_AGENT, schemaId: () => schemaId }) : null;
    const poisonQueue = corpus ? Object.keys(corpus.classes).flatMap((kind) => Array.from({ length: corpus.perClass(kind) }, (_, n) => corpus.classes[kind]!(`${marker}-poison-${kind.replace(/\W+/g, '-')}-${n}`))) : [];

    // The fault, a third of the way in; the load does not wait for it.
    let killAt: number | null = null;
    let readyAt: number | null = null;
    let restoredAt: number | null = null;
    const faultAtMs = (seconds * 1000) / 3;
    const inject = async () => {
      await sleep(faultAtMs);
      const target = (this.env.services as Record<string, Supervised>)[fault === 'decision-pair' ? 'decision' : fault];
      if (target) {
        killAt = Date.now();
        await target.kill();
        await sleep(scale.downMs);
        await target.start();
        readyAt = Date.now();
      } else if (fault === 'broker') {
        killAt = Date.now();
        await this.env.kafka.kill();
        await sleep(scale.downMs);
        await this.env.kafka.restart();
        readyAt = Date.now();
      } else if (fault === 'redis') {
        killAt = Date.now();
        await this.env.redis.kill();
        await this.env.redis.restart({ empty: true });
        readyAt = Date.now();
        // Restored when the feeder has marked the store synced again (it replays the topics first).
        const probe = new Redis(this.env.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
        try {
          await probe.connect();
          // The mark's own value is when the feeder set it (ms): the end of the window in which nothing may be allowed.
          await this.#until(async () => {
            const mark = await probe.get('ig:context:synced_at').catch(() => null);
            if (mark !== null) restoredAt = Number(mark);
            return mark !== null;
          }, scale.drainTimeoutMs);
        } finally {
          probe.disconnect();
        }
      }
    };
    let faultDone = false;
    const faulted = inject().finally(() => (faultDone = true));

    // The load: `rate` intents a second, sent in tenths of a second; behind schedule (the broker
    // was down), the next sends catch up. It runs its seconds, and on until a second after the
    // faulted part is back (for Redis: restored), so what the fault costs is seen under load.
    const loadStart = Date.now();
    let sent = 0;
    let total = Math.round(rate * seconds);
    let faultSettledAt: number | null = null;
    while (sent < total || (fault !== 'overload' && !faultDone) || (faultSettledAt !== null && Date.now() < faultSettledAt + 1_000)) {
      if (faultDone && faultSettledAt === null) faultSettledAt = Date.now();
      if (sent >= total) total = Math.round(((Date.now() - loadStart) / 1000) * rate);
      const due = Math.min(total, Math.round(((Date.now() - loadStart) / 1000) * rate));
      if (due > sent) {
        const batch = nextIntents(due - sent);
        sent = due;
        record(batch, await this.#submit(batch));
        if (poisonQueue.length > 0) {
          const some = poisonQueue.splice(0, Math.max(1, Math.ceil(poisonQueue.length / 20)));
          await this.#submitRaw(some);
          poison.push(...some);
        }
      }
      await sleep(100);
    }
    if (poisonQueue.length > 0) {
      const rest = poisonQueue.splice(0);
      await this.#submitRaw(rest);
      poison.push(...rest);
    }
    await faulted;
    for (const p of poison) {
      if (p.intentId) {
        kinds.set(p.intentId, 'poison');
        submittedAt.set(p.intentId, Date.now());
        submissions.set(p.intentId, 1);
      }
    }

    // A client retrying: some allowed queries sent again, the same records. Each must get the decision it already has.
    const again = [...kinds].filter(([, k]) => k === 'allow').slice(0, Math.max(3, Math.round(submittedAt.size / 20))).map(([id]) => id);
    await this.#until(() => again.every((id) => this.observer.finals(id).length > 0), scale.drainTimeoutMs);
    const originals = again.map((id) => this.#sent.get(id)!);
    record(originals, await this.#submit(originals));

    // Drained: every intent has its final decision, and every allow its execution report.
    const ids = [...submittedAt.keys()];
    const done = () => ids.every((id) => this.observer.finals(id).length >= 1)
      && ids.every((id) => this.observer.finals(id).every((d) => d.value.verdict !== 'allow' || (this.observer.executions.get(id)?.length ?? 0) > 0))
      && again.every((id) => (this.observer.decisions.get(id)?.length ?? 0) >= 2);
    await this.#until(done, scale.drainTimeoutMs);
    await sleep(2_000); // room for a duplicate to show itself
    await review.stop();
    // Drained (SIGTERM): the next scenario runs with one worker again.
    if (fault === 'decision-pair') await this.env.decisionPeer.stop();

    return this.#audit({ fault, ids, kinds, submittedAt, submissions, poison, again, killAt, readyAt, restoredAt, rate, started });
  }


  async #until(predicate: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await predicate()) return true;
      await sleep(250);
    }
    return false;
  }

  async #audit(s: {
    fault: Fault; ids: string[]; kinds: Map<string, Kind>; submittedAt: Map<string, number>; submissions: Map<string, number>; poison: Poison[]; again: string[];
    killAt: number | null; readyAt: number | null; restoredAt: number | null; rate: number; started: number;
  }): Promise<ScenarioReport> {
    const o = this.observer;
    const finals = (id: string) => o.finals(id).map((d) => d.value);
    const doubledExamples: string[] = [];
    let decided = 0, doubled = 0, allowed = 0, executed = 0, allowedUnaccounted = 0, wrongAllows = 0, receiptsLost = 0;
    const notExecuted: Record<string, number> = {};
    const denied: Record<string, number> = {};
    const latencies: number[] = [];
    const sideEffects = new Map<string, number>();
    for (const line of (await readFile(this.env.sideEffectsFile, 'utf8')).split('\n')) if (line) sideEffects.set(line, (sideEffects.get(line) ?? 0) + 1);
    for (const id of s.ids) {
      const f = finals(id);
      if (f.length === 0) continue;
      decided++;
      if (new Set(f.map((d) => d.decision_id)).size > 1 || f.length > (s.submissions.get(id) ?? 1)) {
        doubled++;
        if (doubledExamples.length < 3) doubledExamples.push(`${id} (sent ${s.submissions.get(id) ?? 1}x): ${f.map((d) => `${d.decision_id} ${d.verdict} ${d.decided_at}`).join(' | ')}`);
      }
      for (const d of f) if (!o.receiptedDecisions.has(d.decision_id)) receiptsLost++;
      const first: Decision = f[0]!;
      const seen = o.finals(id)[0]!;
      if (first.policy !== null && !s.kinds.get(id)?.startsWith('escalate')) latencies.push(seen.at - s.submittedAt.get(id)!);
      if (first.verdict === 'deny') {
        const code = first.reasons[0]?.code ?? 'NONE';
        denied[code] = (denied[code] ?? 0) + 1;
        continue;
      }
      allowed++;
      if (s.kinds.get(id) === 'deny' || s.kinds.get(id) === 'poison') wrongAllows++;
      const decidedAt = Date.parse(first.decided_at);
      // Decided by the worker over a policy input read from the store (a reviewer's approval of an
      // escalation decided before the loss reads no context). Redis answered again, empty, at readyAt (unreachable before it: no read, a deny); until the feeder restored it, no allow.
      if (s.fault === 'redis' && s.readyAt !== null && decidedAt >= s.readyAt && (s.restoredAt === null || decidedAt < s.restoredAt) && first.input_digest !== null) wrongAllows++;
      const results = (o.executions.get(id) ?? []).map((e) => e.value);
      if (results.some((r) => r.status === 'executed')) executed++;
      else if (results.length > 0) {
        const code = results[0]!.reason?.code ?? results[0]!.status;
        notExecuted[code] = (notExecuted[code] ?? 0) + 1;
      } else allowedUnaccounted++;
    }
    const doubleExecutions = s.ids.filter((id) => (sideEffects.get(id) ?? 0) > 1).length;
    receiptsLost += await this.#missingFromLedger(s.ids);
    const lettersMissing = s.poison.filter((p) => !(o.lettersByKey.get(p.key) ?? []).includes(p.reason)).length;

    // Recovery: the kill to the first piece of the faulted part's work done once it was back (for
    // Redis: the first allow, which waits for the context feeder to restore the store).
    let recoveryMs: number | null = null;
    if (s.killAt !== null && s.readyAt !== null) {
      const { killAt, readyAt } = s;
      let firstAt = Infinity;
      const consider = (t: number) => (t > readyAt ? (firstAt = Math.min(firstAt, t)) : firstAt);
      for (const id of s.ids) {
        for (const d of o.decisions.get(id) ?? []) {
          if (s.fault === 'decision' || s.fault === 'broker') consider(d.at);
          if (s.fault === 'redis' && d.value.verdict === 'allow' && d.value.input_digest !== null) consider(d.at);
          if (s.fault === 'approvals' && d.value.final && s.kinds.get(id)?.startsWith('escalate')) consider(d.at);
        }
        if (s.fault === 'executor') for (const e of o.executions.get(id) ?? []) consider(e.at);
      }
      // With two workers the other goes on deciding its own partitions: recovered is when everything
      // sent while one was down (the killed member's partitions too, moved after the session timeout) was decided.
      if (s.fault === 'decision-pair') {
        const during = s.ids.filter((id) => { const t = s.submittedAt.get(id)!; return t >= killAt && t <= readyAt; });
        const decidedAt = during.map((id) => (o.decisions.get(id) ?? [])[0]?.at ?? Infinity);
        firstAt = during.length > 0 ? Math.max(...decidedAt) : Infinity;
      }
      // The ledger's work is checked by the receipts count above; its recovery is its return.
      recoveryMs = s.fault === 'ledger' ? readyAt - killAt : Number.isFinite(firstAt) ? firstAt - killAt : null;
    }
    latencies.sort((a, b) => a - b);
    return {
      fault: s.fault, submitted: s.ids.length, resubmitted: s.again.length, malformed: s.poison.length,
      decided, missing: s.ids.length - decided, doubled, doubledExamples, doubleExecutions, receiptsLost, lettersMissing, allowedUnaccounted, wrongAllows,
      allowed, executed, notExecuted, denied,
      downMs: s.killAt !== null && s.readyAt !== null ? s.readyAt - s.killAt : null, recoveryMs,
      latencyP50Ms: percentile(latencies, 50), latencyP99Ms: percentile(latencies, 99), latencyMaxMs: latencies.at(-1) ?? 0,
      ratePerSecond: s.rate, measuredRatePerSecond: s.fault === 'overload' ? Math.round(this.#measuredRate ?? 0) : null, durationMs: Date.now() - s.started,
    };
  }

  /** Receipts of these intents that the ledger does not hold (asked as an auditor, after it has had time to catch up). */
  async #missingFromLedger(ids: string[]): Promise<number> {
    const wanted = ids.flatMap((id) => (this.observer.receipts.get(id) ?? []).map((r) => r.receiptId));
    const missing = new Set(wanted);
    const headers = { authorization: `Bearer ${this.env.ledgerToken}` };
    await this.#until(async () => {
      const batch = [...missing];
      for (let i = 0; i < batch.length; i += 32) {
        await Promise.all(batch.slice(i, i + 32).map(async (id) => {
          const res = await fetch(`${this.env.ledgerUrl()}/v1/receipts/${id}`, { headers, signal: AbortSignal.timeout(10_000) }).catch(() => null);
          if (res?.status === 200) missing.delete(id);
          await res?.body?.cancel();
        }));
      }
      return missing.size === 0;
    }, 60_000);
    return missing.size;
  }
}

/**
 * After every fault: the ledger stopped as an operator stops it (it drains and signs a final
 * checkpoint), then `intentgate verify` over its directory with the key it announced and the
 * deployment's trust file: every log's entries and checkpoints, and every receipt's signer.
 */
export async function verifyLedger(env: ChaosEnvironment): Promise<{ ok: boolean; output: string }> {
  const { verifier_key: key } = (await (await fetch(`${env.ledgerUrl()}/v1/key`)).json()) as { verifier_key: string };
  await env.services.ledger.stop();
  const cli = join(projectRoot, 'packages', 'cli', 'bin', 'intentgate.ts');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', cli, 'verify', env.ledgerDir, '--key', key, '--trust', env.trustFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('exit', (code) => resolve({ ok: code === 0, output }));
  });
}

/** One line per scenario, for a console or a report. */
export function reportLine(r: ScenarioReport): string {
  const ms = (v: number | null) => (v === null ? '-' : `${(v / 1000).toFixed(1)} s`);
  return `${r.fault.padEnd(13)} submitted ${r.submitted} (+${r.resubmitted} again${r.malformed ? `, ${r.malformed} malformed` : ''}), final ${r.decided}, missing ${r.missing}, doubled ${r.doubled}, ` +
    `double executions ${r.doubleExecutions}, receipts lost ${r.receiptsLost}, letters missing ${r.lettersMissing}, allowed unaccounted ${r.allowedUnaccounted}, wrong allows ${r.wrongAllows}; ` +
    `down ${ms(r.downMs)}, recovered ${ms(r.recoveryMs)}; p99 ${ms(r.latencyP99Ms)}`;
}
