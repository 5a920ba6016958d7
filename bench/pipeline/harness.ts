// The pipeline benchmark's moving parts, shared by `npm run bench` and its integration test:
// worker and executor processes, the OPA server peer, and the open-loop load generator.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import hdr from 'hdr-histogram-js';
import { Bus, type BatchingProducer, type BusSasl, type Logger } from '@intentgate/bus';
import type { Decision, Intent } from '@intentgate/contracts';
import { seedOf, stepIntents } from './intents.ts';
import type { WorkerConfig } from './worker.ts';
import type { ExecutorsConfig } from './executors.ts';

type Consumer = ReturnType<Bus['kafka']['consumer']>;
export type Histogram = ReturnType<typeof hdr.build>;
export const histogram = (): Histogram => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });

// ---------------------------------------------------------------------------------------------
// Child processes: decision workers, executors

export interface Child {
  pid: number;
  rss(): Promise<number>;
  stop(): Promise<void>;
}

async function forkChild(script: string, config: unknown, execArgv: string[] = [], env: Record<string, string> = {}): Promise<Child> {
  const child: ChildProcess = fork(join(import.meta.dirname, script), [JSON.stringify(config)], {
    execArgv: ['--disable-warning=TimeoutNegativeWarning', ...execArgv],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const onMessage = (m: unknown) => {
      if ((m as { ready?: boolean }).ready) {
        child.off('message', onMessage);
        resolve();
      }
    };
    child.on('message', onMessage);
    exited.then((code) => reject(new Error(`${script} exited (code ${code}) before it was ready`)));
  });
  let stopping: Promise<void> | null = null;
  return {
    pid: child.pid!,
    rss: () => new Promise<number>((resolve) => {
      if (!child.connected) return resolve(0);
      const onMessage = (m: unknown) => {
        const rss = (m as { rss?: number }).rss;
        if (process.env.BENCH_DEBUG_MEMORY && typeof rss === 'number') console.error(script, JSON.stringify((m as { memory?: unknown }).memory));
        if (typeof rss === 'number') {
          child.off('message', onMessage);
          resolve(rss);
        }
      };
      child.on('message', onMessage);
      child.send('rss');
    }),
    stop: () => (stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) child.send('stop');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    })()),
  };
}

export interface WorkerSet {
  pids: number[];
  /** Resident memory of the largest worker process, bytes. */
  maxRss(): Promise<number>;
  stop(): Promise<void>;
}

/** `instances` decision worker processes in one consumer group. */
export async function startWorkers(config: Omit<WorkerConfig, 'instanceId'>, instances = 1, execArgv: string[] = [], env: Record<string, string> = {}): Promise<WorkerSet> {
  const children: Child[] = [];
  try {
    for (let i = 0; i < instances; i++) children.push(await forkChild('worker.ts', { ...config, instanceId: `${config.mode}-${i}-${randomUUID().slice(0, 6)}` }, execArgv, env));
  } catch (err) {
    await Promise.all(children.map((c) => c.stop()));
    throw err;
  }
  return {
    pids: children.map((c) => c.pid),
    maxRss: async () => Math.max(0, ...(await Promise.all(children.map((c) => c.rss())))),
    stop: async () => {
      await Promise.all(children.map((c) => c.stop()));
    },
  };
}

export function startExecutors(config: ExecutorsConfig): Promise<Child> {
  return forkChild('executors.ts', config);
}

// ---------------------------------------------------------------------------------------------
// The peer: `opa run --server` on the same Rego

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface OpaServer {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** `opa run --server` on 127.0.0.1 (a free port) with the Rego of `policyDir`, tests ignored. */
export async function startOpaServer(opaPath: string, policyDir: string): Promise<OpaServer> {
  const port = await freePort();
  const child = spawn(opaPath, ['run', '--server', '--addr', `127.0.0.1:${port}`, '--ignore', '*_test.rego', '--log-level', 'error', '--skip-version-check', policyDir], {
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`opa run --server exited with ${child.exitCode}`);
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('opa run --server not healthy after 30 s');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url, pid: child.pid!,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// CPU accounting: where the machine's cores go, per decision

/** CPU seconds (user + system) a process has used so far, from /proc (0 when it is gone). */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}
const CLOCK_TICKS = 100; // USER_HZ on Linux

/** Components to account for: name → process ids (the load generator is this process). */
export type CpuPids = () => Record<string, number[]>;

function cpuSnapshot(pids: CpuPids | undefined): Record<string, number> {
  const out: Record<string, number> = { 'load generator': process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6 };
  for (const [name, list] of Object.entries(pids?.() ?? {})) out[name] = list.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The load generator and the measurements

export interface StepResult {
  path: string;
  /** Offered rate, intents per second. */
  rate: number;
  sent: number;
  decided: number;
  /** Decisions per second from the step's first intended send to its last decision. */
  throughput: number;
  /** Kept up: throughput >= 95% of the offered rate and every intent decided. */
  sustained: boolean;
  decision: Percentiles;
  /** Only when executors run: allowed intents executed. */
  executed: number;
  execution: Percentiles | null;
  /** Largest decision worker RSS seen during the step, bytes. */
  workerRssMax: number;
  /** How far behind its schedule the generator sent, at worst (ms): a late generator shows up in the latencies too. */
  generatorLagMs: number;
  verdicts: Record<string, number>;
  /** CPU time per decision, µs, by component (from the step's start to its last decision). */
  cpuPerDecision: Record<string, number>;
  /** Seconds from the first intended send to the end of the step (its drain included): what the CPU figures span. */
  wallSeconds: number;
  /** Whole machine: CPU seconds used (all processes, /proc/stat) per wall second during the step. */
  machineBusyCores: number;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

function percentiles(h: Histogram): Percentiles {
  // Recorded in microseconds; reported in milliseconds.
  const at = (p: number) => h.getValueAtPercentile(p) / 1000;
  return { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: h.maxValue / 1000 };
}

interface Pending {
  index: number;
  intended: number;
  allowed?: boolean;
}

export interface StepOptions {
  path: string;
  rate: number;
  seconds: number;
  /** Same seed key on two paths: the same workload. */
  seedKey: string;
  /** Waits this long past the schedule's end for the last decisions. */
  drainMs?: number;
  expectExecutions?: boolean;
  /** Sampled during the step. */
  rss?: () => Promise<number>;
  /** Processes whose CPU time is accounted per decision. */
  cpu?: CpuPids;
}

/**
 * Open loop: intents are sent on a fixed schedule (intent k at t0 + k / rate) whatever the
 * answers do, and every latency is measured from the intended send time, so a stall delays
 * every intent scheduled during it (no coordinated omission).
 */
export class LoadGenerator {
  readonly runId: string;
  /** Per path, per `${seedKey}#${index}`: verdict and reason codes. */
  readonly outcomes = new Map<string, Map<string, string>>();
  readonly #bus: Bus;
  #producer!: BatchingProducer;
  #consumers: Consumer[] = [];
  #pending = new Map<string, Pending>();
  #pendingExec = new Map<string, Pending>();
  #onDecision: ((d: Decision, at: number) => void) | null = null;
  #onExecution: ((intentId: string, at: number) => void) | null = null;

  private constructor(bus: Bus, runId: string) {
    this.#bus = bus;
    this.runId = runId;
  }

  static async start(options: { brokers: string[]; sasl?: BusSasl; registryUrl: string; runId?: string; logger?: Logger; lingerMs?: number }): Promise<LoadGenerator> {
    const runId = options.runId ?? `bench-${randomUUID().slice(0, 8)}`;
    const bus = new Bus({ brokers: options.brokers, sasl: options.sasl, registryUrl: options.registryUrl, clientId: `${runId}-load`, ...(options.logger ? { logger: options.logger } : {}) });
    const gen = new LoadGenerator(bus, runId);
    await bus.registerSchemas();
    gen.#producer = bus.producer({ lingerMs: options.lingerMs ?? 2, maxBatchRecords: 1000 });
    await gen.#producer.connect();
    // Plain kafkajs consumers (every partition at once, no offsets committed: each run's group is
    // new and starts at the end): the measuring side should add as little as it can to what it
    // measures. With KafkaJS's auto-commit they sent 2,158 OffsetCommit requests in a 35 s window
    // at 800 intents/s (Kafka's request log), more than the worker's 5 transactional requests per
    // batch together. Values still go through the bus's serde (framing, schema id, zod contract).
    const watch = async (topic: 'decisions' | 'executions', onValue: (value: unknown, at: number) => void) => {
      const consumer = bus.kafka.consumer({ groupId: `${runId}-${topic}-${randomUUID()}`, maxWaitTimeInMs: 100, allowAutoTopicCreation: false });
      gen.#consumers.push(consumer);
      const joined = new Promise<void>((resolve) => {
        const off = consumer.on(consumer.events.GROUP_JOIN, () => {
          off();
          resolve();
        });
      });
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: false });
      await consumer.run({
        autoCommit: false, partitionsConsumedConcurrently: 16,
        eachBatch: async ({ batch }) => {
          const at = performance.now();
          for (const message of batch.messages) {
            const { value } = await bus.serde.decode(topic, message.value);
            onValue(value, at);
          }
        },
      });
      await joined;
    };
    await Promise.all([
      watch('decisions', (value, at) => gen.#onDecision?.(value as Decision, at)),
      watch('executions', (value, at) => gen.#onExecution?.((value as { intent_id: string }).intent_id, at)),
    ]);
    return gen;
  }

  sessionPrefix(path: string, seedKey: string): string {
    return `${this.runId}-${path}-${seedKey}-`;
  }

  async step(options: StepOptions): Promise<StepResult> {
    const { path, rate, seconds } = options;
    const count = Math.max(1, Math.round(rate * seconds));
    const intents: Intent[] = stepIntents(seedOf(`${options.seedKey}`), count, this.sessionPrefix(path, options.seedKey));
    const decisionH = histogram();
    const executionH = histogram();
    const verdicts: Record<string, number> = {};
    const outcomes = this.outcomes.get(path) ?? new Map<string, string>();
    this.outcomes.set(path, outcomes);
    // A saturated step leaves a backlog: let the worker finish it first, so this step measures itself.
    const settle = performance.now() + 120_000;
    while (this.#pending.size > 0 && performance.now() < settle) await new Promise((r) => setTimeout(r, 50));
    this.#pending = new Map();
    this.#pendingExec = new Map();
    let decided = 0;
    let executed = 0;
    let lastAt = 0;
    this.#onDecision = (d, at) => {
      const p = this.#pending.get(d.intent_id);
      if (!p) return;
      this.#pending.delete(d.intent_id);
      decisionH.recordValue(Math.max(1, Math.round((at - p.intended) * 1000)));
      decided++;
      lastAt = at;
      verdicts[d.verdict] = (verdicts[d.verdict] ?? 0) + 1;
      outcomes.set(`${options.seedKey}#${p.index}`, `${d.verdict}|${d.reasons.map((r) => r.code).join(',')}`);
      if (options.expectExecutions && d.verdict === 'allow') this.#pendingExec.set(d.intent_id, p);
    };
    this.#onExecution = (intentId, at) => {
      const p = this.#pendingExec.get(intentId);
      if (!p) return;
      this.#pendingExec.delete(intentId);
      executionH.recordValue(Math.max(1, Math.round((at - p.intended) * 1000)));
      executed++;
    };

    let rssMax = 0;
    const sampler = options.rss ? setInterval(() => {
      options.rss!().then((v) => (rssMax = Math.max(rssMax, v)), () => {});
    }, 500) : null;
    const cpu0 = cpuSnapshot(options.cpu);
    const machine0 = machineCpuSeconds();
    const t0 = performance.now() + 20;
    let sent = 0;
    let lag = 0;
    let sendErrors = 0;
    while (sent < count) {
      const now = performance.now();
      const due = Math.min(count, Math.floor(((now - t0) * rate) / 1000) + 1);
      if (due > sent) lag = Math.max(lag, now - (t0 + (sent * 1000) / rate));
      for (; sent < due; sent++) {
        const intent = intents[sent]!;
        this.#pending.set(intent.intent_id, { index: sent, intended: t0 + (sent * 1000) / rate });
        this.#producer.send({ topic: 'intents', key: intent.session.id, value: intent }).catch(() => sendErrors++);
      }
      if (sent < count) await new Promise((r) => setTimeout(r, 1));
    }
    const end = t0 + (count * 1000) / rate;
    const drainMs = options.drainMs ?? Math.max(15_000, seconds * 3_000);
    while ((this.#pending.size > 0 || this.#pendingExec.size > 0) && performance.now() < end + drainMs) {
      await new Promise((r) => setTimeout(r, 20));
    }
    // Executions of decisions that arrived at the very end.
    if (options.expectExecutions) {
      const until = performance.now() + 3_000;
      while (this.#pendingExec.size > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
    }
    const cpu1 = cpuSnapshot(options.cpu);
    const machine1 = machineCpuSeconds();
    const wall = (performance.now() - t0) / 1000;
    if (sampler) clearInterval(sampler);
    if (options.rss) rssMax = Math.max(rssMax, await options.rss());
    this.#onExecution = null;
    if (sendErrors > 0) throw new Error(`${sendErrors} intents were not acknowledged by Kafka`);
    const throughput = lastAt > t0 ? decided / ((lastAt - t0) / 1000) : 0;
    return {
      path, rate, sent: count, decided, throughput,
      sustained: decided === count && throughput >= 0.95 * rate,
      decision: percentiles(decisionH),
      executed, execution: options.expectExecutions ? percentiles(executionH) : null,
      workerRssMax: rssMax, generatorLagMs: lag, verdicts,
      cpuPerDecision: Object.fromEntries(Object.keys(cpu1).map((k) => [k, decided > 0 ? ((cpu1[k]! - (cpu0[k] ?? 0)) * 1e6) / decided : 0])),
      machineBusyCores: wall > 0 ? (machine1 - machine0) / wall : 0,
      wallSeconds: wall,
    };
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#consumers.map((c) => c.disconnect()));
    await this.#bus.close();
  }
}

/** CPU seconds the whole machine has spent busy (every core, /proc/stat). */
function machineCpuSeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (line[3] ?? 0) + (line[4] ?? 0);
    return (line.reduce((a, b) => a + b, 0) - idle) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** Intent by intent: do two paths' decisions (verdict and reason codes) agree on the same workload? */
export function agreement(a: Map<string, string> | undefined, b: Map<string, string> | undefined): { compared: number; agreed: number; differences: string[] } {
  let compared = 0;
  let agreed = 0;
  const differences: string[] = [];
  for (const [key, va] of a ?? []) {
    const vb = b?.get(key);
    if (vb === undefined) continue;
    compared++;
    if (va === vb) agreed++;
    else if (differences.length < 10) differences.push(`${key}: ${va} vs ${vb}`);
  }
  return { compared, agreed, differences };
}
