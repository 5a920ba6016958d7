import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Downloads and builds, shared by every checkout: ~/.cache/intentgate unless INTENTGATE_CACHE says otherwise. */
export function cacheDir(): string {
  return process.env.INTENTGATE_CACHE ?? join(homedir(), '.cache', 'intentgate');
}

/** The repository root (infra/ sits directly under it). */
export const projectRoot = resolve(import.meta.dirname, '..', '..');

/** Per-checkout state: stack.json and the local stack's run directories. */
export function stateDir(): string {
  return process.env.INTENTGATE_STATE_DIR ?? join(projectRoot, '.intentgate');
}
