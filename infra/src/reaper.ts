// A tiny watchdog, one per local stack, in its own process group. When the process that
// started the stack dies without stopping it (SIGKILL, a crashed test runner), the reaper ends
// the servers it left behind, so no orphan outlives its owner. It exits when the stack is
// stopped normally (the pid file disappears).
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PidFile, isSameProcess } from './processes.ts';

const POLL_MS = 500;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts the reaper for `runDir`, watching `ownerPid`. */
export function spawnReaper(ownerPid: number, runDir: string): void {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'reaper-main.ts'), String(ownerPid), runDir], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
}

export async function reap(ownerPid: number, runDir: string): Promise<void> {
  const pidFile = new PidFile(runDir);
  while (existsSync(pidFile.path) && alive(ownerPid)) {
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  if (!existsSync(pidFile.path)) return; // stopped normally
  const left = pidFile.read().filter(isSameProcess);
  for (const p of left) process.kill(p.pid, 'SIGTERM');
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && left.some(isSameProcess)) await new Promise((r) => setTimeout(r, 200));
  for (const p of left.filter(isSameProcess)) process.kill(p.pid, 'SIGKILL');
  rmSync(runDir, { recursive: true, force: true });
}
