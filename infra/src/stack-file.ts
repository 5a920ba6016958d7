import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stateDir } from './paths.ts';
import type { StackInfo } from './stack.ts';

/** The stack's addresses for other processes: no secrets, only where each role's file is (credentialsDir). */
export interface StackFile extends Omit<StackInfo, 'credentials'> {
  /** The process that runs the stack (npm start). */
  pid: number;
  startedAt: string;
  /** The decision service (health, metrics, warrant keys at /.well-known/jwks.json). */
  decisionUrl: string | null;
  /** The MCP gateway (streamable HTTP). */
  mcpGatewayUrl: string | null;
  ledgerUrl: string | null;
  approvalsUrl: string | null;
}

export function stackFilePath(): string {
  return join(stateDir(), 'stack.json');
}

export async function writeStackFile(info: StackInfo, extra: Partial<Pick<StackFile, 'decisionUrl' | 'mcpGatewayUrl' | 'ledgerUrl' | 'approvalsUrl' | 'credentialsDir'>> = {}): Promise<string> {
  const { credentials: _secrets, ...addresses } = info;
  const file: StackFile = { ...addresses, pid: process.pid, startedAt: new Date().toISOString(), decisionUrl: null, mcpGatewayUrl: null, ledgerUrl: null, approvalsUrl: null, ...extra };
  await mkdir(stateDir(), { recursive: true });
  const path = stackFilePath();
  await writeFile(path, `${JSON.stringify(file, null, 2)}\n`);
  return path;
}

/** The running stack's addresses, or null when none is recorded (or its owner is gone). */
export async function readStackFile(): Promise<StackFile | null> {
  try {
    const file = JSON.parse(await readFile(stackFilePath(), 'utf8')) as StackFile;
    process.kill(file.pid, 0);
    return file;
  } catch {
    return null;
  }
}

export async function removeStackFile(): Promise<void> {
  await rm(stackFilePath(), { force: true });
}
