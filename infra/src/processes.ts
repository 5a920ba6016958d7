import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StackError } from './errors.ts';
import { tail } from './exec.ts';

export interface ProcessRecord {
  name: string;
  pid: number;
  /** Kernel start time of the process: tells our process from a later one that reused its PID. */
  startTime: string;
}

/** Field 22 of /proc/<pid>/stat; null when the process is gone (or there is no /proc). */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; fields after it are space-separated.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** Is this exact process (same PID and start time) still alive? */
export function isSameProcess(record: ProcessRecord): boolean {
  return processStartTime(record.pid) === record.startTime;
}

/** The run directory's pids.json: what this stack started, so a reaper can end it if we die. */
export class PidFile {
  readonly path: string;

  constructor(runDir: string) {
    this.path = join(runDir, 'pids.json');
  }

  read(): ProcessRecord[] {
    try {
      return JSON.parse(readFileSync(this.path, 'utf8')) as ProcessRecord[];
    } catch {
      return [];
    }
  }

  add(record: ProcessRecord): void {
    writeFileSync(this.path, JSON.stringify([...this.read(), record]));
  }

  remove(pid: number): void {
    if (existsSync(this.path)) writeFileSync(this.path, JSON.stringify(this.read().filter((r) => r.pid !== pid)));
  }
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  logFile: string;
}

/**
 * Every server one stack started, tracked from the moment of spawn (not of health), so a
 * failed start still stops what it had begun.
 */
export class ProcessGroup {
  readonly pidFile: PidFile;
  readonly #members: ManagedProcess[] = [];

  constructor(runDir: string) {
    this.pidFile = new PidFile(runDir);
    // Exists from the start: the reaper watches for as long as this file does.
    writeFileSync(this.pidFile.path, '[]');
  }

  start(options: StartOptions): ManagedProcess {
    const proc = ManagedProcess.start(options, this.pidFile);
    this.#members.push(proc);
    return proc;
  }

  /** Stops every member, newest first. */
  async stopAll(): Promise<void> {
    await Promise.allSettled([...this.#members].reverse().map((p) => p.stop()));
  }
}

/** A server we started: its own process group, output to a log file, stopped by PID. */
export class ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  readonly exited: Promise<number | null>;
  readonly #child: ChildProcess;
  readonly #pidFile: PidFile;
  #exitCode: number | null | undefined = undefined;
  #stopping: Promise<void> | null = null;

  private constructor(options: StartOptions, child: ChildProcess, pidFile: PidFile) {
    this.name = options.name;
    this.logFile = options.logFile;
    this.#child = child;
    this.#pidFile = pidFile;
    this.pid = child.pid as number;
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.#exitCode = code ?? (signal ? null : 0);
        this.#pidFile.remove(this.pid);
        resolve(this.#exitCode);
      });
    });
  }

  static start(options: StartOptions, pidFile: PidFile): ManagedProcess {
    const log = openSync(options.logFile, 'a');
    try {
      const child = spawn(options.command, options.args, {
        cwd: options.cwd,
        env: options.env ?? process.env,
        // Own process group: a Ctrl-C at the terminal reaches us, and we stop the servers in order.
        detached: true,
        stdio: ['ignore', log, log],
      });
      if (child.pid === undefined) {
        throw new StackError('START_FAILED', options.name, `could not spawn ${options.command}`, `Check that ${options.command} exists and is executable.`);
      }
      const proc = new ManagedProcess(options, child, pidFile);
      pidFile.add({ name: options.name, pid: child.pid, startTime: processStartTime(child.pid) ?? '' });
      return proc;
    } finally {
      closeSync(log);
    }
  }

  get running(): boolean {
    return this.#exitCode === undefined;
  }

  async logTail(lines = 15): Promise<string> {
    return tail(await readFile(this.logFile, 'utf8').catch(() => ''), lines);
  }

  /** Polls `check` until it passes; fails early, with the log tail, if the process exits. */
  async waitHealthy(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) {
        throw new StackError('START_FAILED', this.name, `exited (code ${this.#exitCode}) before ${what}; last log lines:\n${await this.logTail()}`,
          `Read ${this.logFile} for the full log.`);
      }
      if (await check().catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new StackError('NOT_HEALTHY', this.name, `not ${what} after ${timeoutMs} ms; last log lines:\n${await this.logTail()}`,
      `Read ${this.logFile}; the machine may be overloaded, or the port taken.`);
  }

  /** Idempotent: SIGTERM, then SIGKILL after the grace period. Resolves when the process is gone. */
  stop(graceMs = 20_000): Promise<void> {
    this.#stopping ??= (async () => {
      if (!this.running) return;
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    })();
    return this.#stopping;
  }
}
