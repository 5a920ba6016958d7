// The ai domain's target: a local MCP server (tools search, summarize, write_note) reached
// through an MCP client over an in-process transport. Notes written are its side effect.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';

export interface DemoMcp {
  client: Client;
  notes(): string[];
  close(): Promise<void>;
}

export async function startDemoMcp(): Promise<DemoMcp> {
  const notes: string[] = [];
  const server = new McpServer({ name: 'intentgate-demo', version: '0.1.0' });
  server.registerTool('search', { description: 'Search the demo corpus', inputSchema: { query: z.string().max(256) } }, async ({ query }) => ({
    content: [{ type: 'text', text: `3 results for "${query}"` }],
  }));
  server.registerTool('summarize', { description: 'Summarize a text', inputSchema: { text: z.string().max(10_000) } }, async ({ text }) => ({
    content: [{ type: 'text', text: text.split(/\s+/).slice(0, 12).join(' ') }],
  }));
  server.registerTool('write_note', { description: 'Write a note', inputSchema: { note: z.string().max(2_000) } }, async ({ note }) => {
    notes.push(note);
    return { content: [{ type: 'text', text: `note ${notes.length} saved` }] };
  });
  server.registerTool('delete_all_notes', { description: 'Delete every note', inputSchema: {}, annotations: { destructiveHint: true } }, async () => {
    notes.length = 0;
    return { content: [{ type: 'text', text: 'all notes deleted' }] };
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'intentgate-executor-ai', version: '0.1.0' });
  await client.connect(clientSide);
  return {
    client,
    notes: () => [...notes],
    close: async () => {
      await client.close();
      await server.close();
    },
  };
}
