import { reap } from './reaper.ts';

const [ownerPid, runDir] = process.argv.slice(2);
if (!ownerPid || !runDir) {
  console.error('usage: reaper-main.ts <owner-pid> <run-dir>');
  process.exit(2);
}
await reap(Number(ownerPid), runDir);
