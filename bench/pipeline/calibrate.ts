// Two figures that say how fast this machine is for the work the pipeline does, measured at the
// start of a run so reports from different machines can be compared: the CPU (SHA-256 of 1 KiB
// in this process) and waking another process (a round trip over loopback TCP to a child that
// echoes). The pipeline is a chain of processes handing small messages to each other, so the
// second figure bounds it as much as the first.
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { once } from 'node:events';
import { histogram } from './harness.ts';

export interface MachineReference {
  sha256OneKiBMicros: number;
  loopbackRoundTripMicros: { p50: number; p99: number };
}

const ECHO_CHILD = `
const server = require('node:net').createServer((s) => { s.setNoDelay(true); s.on('data', (d) => s.write(d)); });
server.listen(0, '127.0.0.1', () => process.send(server.address().port));
process.on('disconnect', () => process.exit(0));
`;

function cpuReference(): number {
  const block = Buffer.alloc(1024, 7);
  for (let i = 0; i < 20_000; i++) createHash('sha256').update(block).digest(); // warm
  const n = 100_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) createHash('sha256').update(block).digest();
  return Number(process.hrtime.bigint() - t0) / 1e3 / n;
}

async function roundTrips(count = 3_000): Promise<{ p50: number; p99: number }> {
  const child = fork('-e', [ECHO_CHILD], { execArgv: [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  try {
    const [port] = (await once(child, 'message')) as [number];
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    await once(socket, 'connect');
    const micros = histogram();
    const ping = Buffer.alloc(16, 1);
    for (let i = 0; i < count; i++) {
      const t0 = process.hrtime.bigint();
      socket.write(ping);
      await once(socket, 'data');
      if (i >= count / 10) micros.recordValue(Number(process.hrtime.bigint() - t0) / 1e3); // the first tenth warms up
    }
    socket.destroy();
    return { p50: micros.getValueAtPercentile(50), p99: micros.getValueAtPercentile(99) };
  } finally {
    child.disconnect();
  }
}

export async function measureMachine(): Promise<MachineReference> {
  return { sha256OneKiBMicros: cpuReference(), loopbackRoundTripMicros: await roundTrips() };
}
