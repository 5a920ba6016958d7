// npm start — bring the stack up (or use the configured one), create topics, register schemas,
// print what runs where, write .intentgate/stack.json, stay up until Ctrl-C, then stop
// everything this process started.
import { relative } from 'node:path';
import { Bus, BusError } from '@intentgate/bus';
import {
  assertNodeVersion, removeStackFile, startStack, StackError, writeStackFile, projectRoot,
  type RunningStack, type StackInfo,
} from '../src/index.ts';

const t0 = performance.now();
const say = (line: string) => process.stdout.write(`${line}\n`);

function fail(err: unknown): never {
  if (err instanceof StackError) console.error(err.render());
  else if (err instanceof BusError) console.error(`error ${err.code}: ${err.message}\n  what to do: ${err.hint}`);
  else console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => `  ${r.map((c, i) => c.padEnd(widths[i]!)).join('  ')}`.trimEnd()).join('\n');
}

function statusRows(info: StackInfo): string[][] {
  return [
    ['component', 'source', 'address', 'version', 'pid'],
    ['kafka', info.kafka.source, info.kafka.brokers.join(','), info.kafka.version, String(info.kafka.pid ?? '-')],
    ['schema registry', info.schemaRegistry.source, info.schemaRegistry.url, info.schemaRegistry.version, String(info.schemaRegistry.pid ?? '-')],
    ['redis', info.redis.source, info.redis.url, info.redis.version, String(info.redis.pid ?? '-')],
    ['opa', 'cache', info.opa.path, info.opa.version, '-'],
  ];
}

try {
  assertNodeVersion();
} catch (err) {
  fail(err);
}

say('IntentGate: starting the stack (servers from KAFKA_BROKERS / SCHEMA_REGISTRY_URL / REDIS_URL when set)');
let stack: RunningStack | null = null;
let bus: Bus | null = null;
let stopping: Promise<void> | null = null;

async function shutdown(signal: string, code: number): Promise<void> {
  stopping ??= (async () => {
    say(`\n${signal}: stopping…`);
    const started = performance.now();
    await bus?.close().catch(() => {});
    await stack?.stop();
    await removeStackFile();
    say(`stopped in ${((performance.now() - started) / 1000).toFixed(1)}s; nothing left running.`);
    process.exit(code);
  })();
  return stopping;
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (stopping) return; // already on it; the reaper covers a hard kill
    void shutdown(signal, 0);
  });
}

try {
  stack = await startStack({ progress: (m) => say(`  … ${m}`) });
  bus = new Bus({ brokers: stack.info.kafka.brokers, registryUrl: stack.info.schemaRegistry.url, clientId: 'intentgate-start' });
  const provisioned = await bus.provision();
  const file = await writeStackFile(stack.info);
  const created = provisioned.topics.filter((t) => t.created).length;
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  say(`\nIntentGate stack is up (${seconds}s)\n`);
  say(table(statusRows(stack.info)));
  say('');
  say(`  topics    ${provisioned.topics.length} ready (${created} created): ${provisioned.topics.map((t) => `${t.name}[${t.partitions}]`).join(' ')}`);
  say(`  schemas   ${provisioned.subjects.length} subjects registered, compatibility BACKWARD`);
  say(`  timings   ${Object.entries(stack.timings).map(([k, v]) => `${k} ${v}s`).join(', ')}`);
  const shown = relative(projectRoot, file);
  say(`  addresses ${shown.startsWith('..') ? file : shown}`);
  say('\nPress Ctrl-C to stop.');
  // Servers given by the environment leave nothing in this process that keeps it running.
  setInterval(() => {}, 1 << 30);
} catch (err) {
  await bus?.close().catch(() => {});
  await stack?.stop();
  fail(err);
}
