// The MCP gateway's callers file: each bearer token (as its SHA-256) and the agent it acts for.
//   {"tokens":[{"name","token_sha256","agent_id","delegation":[{principal,kind,scope}],"autonomy"?,"workflow_step"?}]}
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { DelegationHop, SpiffeId } from '@intentgate/contracts';
import { SHA256_HEX } from '@intentgate/evidence';
import type { McpCaller } from './mcp.ts';

const Entry = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._@-]{1,128}$/, 'names are 1-128 of A-Z a-z 0-9 . _ @ -'),
  token_sha256: z.string().regex(SHA256_HEX, 'expected the hex SHA-256 of the token, never the token'),
  agent_id: SpiffeId,
  delegation: z.array(DelegationHop).min(1),
  autonomy: z.enum(['assisted', 'supervised', 'autonomous']).default('supervised'),
  workflow_step: z.string().min(1).default('tools'),
});
const File = z.strictObject({ tokens: z.array(Entry).min(1).max(1000) });

export function parseMcpCallers(value: unknown): McpCaller[] {
  const parsed = File.safeParse(value);
  if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  const digests = new Set<string>();
  return parsed.data.tokens.map((t) => {
    if (digests.has(t.token_sha256)) throw new Error(`token of ${t.name} is configured twice`);
    digests.add(t.token_sha256);
    return {
      name: t.name, tokenSha256: t.token_sha256,
      identity: { agentId: t.agent_id, autonomy: t.autonomy, delegation: t.delegation, workflowStep: t.workflow_step, requestSource: 'user' },
    };
  });
}

export async function loadMcpCallers(path: string): Promise<McpCaller[]> {
  const text = await readFile(path, 'utf8').catch((err: unknown) => {
    throw new Error(`cannot read the MCP tokens file ${path}: ${(err as Error).message}`);
  });
  try {
    return parseMcpCallers(JSON.parse(text));
  } catch (err) {
    throw new Error(`MCP tokens file ${path}: ${(err as Error).message}`);
  }
}
