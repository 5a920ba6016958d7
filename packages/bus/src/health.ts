import type { BusError } from './errors.ts';
import type { ConsumerHealth } from './member.ts';

const label = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/**
 * The consumers' health as Prometheus text (exposition format 0.0.4), one series per consumer
 * group: for a /metrics endpoint whether or not its service uses prom-client.
 */
export function consumerHealthMetrics(healths: readonly ConsumerHealth[], service: string): string {
  const families: Array<[name: string, type: 'gauge' | 'counter', help: string, value: (h: ConsumerHealth) => number | null]> = [
    ['intentgate_consumer_lag_records', 'gauge', 'Records behind the member on the partitions it holds (end offset minus what it read)', (h) => h.lag],
    ['intentgate_consumer_seconds_since_progress', 'gauge', 'Seconds since the member last finished a batch, was caught up, or joined', (h) => h.msSinceProgress / 1000],
    ['intentgate_consumer_stalled', 'gauge', '1 when the member has lag and made no progress for its stallAfterMs', (h) => (h.stalled ? 1 : 0)],
    ['intentgate_consumer_ready', 'gauge', '1 when the member is running and not stalled', (h) => (h.ready ? 1 : 0)],
    ['intentgate_consumer_restarts_total', 'counter', 'Restarts of a member KafkaJS had stopped for good', (h) => h.restarts],
  ];
  const lines: string[] = [];
  for (const [name, type, help, value] of families) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const h of healths) {
      const v = value(h);
      if (v !== null) lines.push(`${name}{service="${label(service)}",group="${label(h.groupId)}"} ${v}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The first consumer problem (stalled, restarting, dead), or null when every member is ready. */
export function consumerProblem(healths: readonly ConsumerHealth[]): BusError | null {
  return healths.find((h) => h.problem !== null)?.problem ?? null;
}

/** Whether any member is dead for good: a supervisor should restart the process (its liveness check fails). */
export function consumerDead(healths: readonly ConsumerHealth[]): BusError | null {
  return healths.find((h) => h.state === 'dead')?.problem ?? null;
}

export interface ProbeAnswer {
  status: 200 | 503;
  body: { status: 'ok' | 'ready' } | { code: string; message: string; hint?: string };
}

/**
 * What a service answers on /healthz (`live`: fails only when a consumer is dead for good, so a
 * supervisor restarts the process) and /readyz (`ready`: fails while the service starts or
 * stops, and while any consumer is stalled, restarting or dead), given its consumers' health.
 */
export function probeAnswer(probe: 'live' | 'ready', healths: readonly ConsumerHealth[], serviceReady = true): ProbeAnswer {
  const problem = probe === 'live' ? consumerDead(healths) : consumerProblem(healths);
  if (probe === 'ready' && !serviceReady) return { status: 503, body: { code: 'NOT_READY', message: 'starting or stopping', hint: 'Retry shortly.' } };
  if (problem) return { status: 503, body: { code: problem.code, message: problem.message, hint: problem.hint } };
  return { status: 200, body: { status: probe === 'live' ? 'ok' : 'ready' } };
}
