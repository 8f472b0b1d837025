/**
 * The agent's tool service: a real MCP server (`@modelcontextprotocol/sdk`, stateless
 * Streamable HTTP) on 127.0.0.1 with one tool, `lookup_metric`, whose first call the
 * service drops (the connection closes under the request) — so the tool call's retry
 * shows in the trace.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

const METRICS: Record<string, string> = { 'quarterly revenue': '$4.2M, +12% on the quarter before' };

function toolServer(): McpServer {
  const server = new McpServer({ name: 'metrics', version: '1.0.0' });
  server.registerTool(
    'lookup_metric',
    { description: 'The latest value of a business metric', inputSchema: { metric: z.string() } },
    async ({ metric }) => ({ content: [{ type: 'text', text: METRICS[metric] ?? 'no data' }] }),
  );
  return server;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return chunks.length === 0 ? undefined : JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

export interface McpToolServer {
  /** The MCP endpoint, `http://127.0.0.1:PORT/mcp`. */
  readonly url: URL;
  close(): Promise<void>;
}

/** Starts the tool service; it drops the first `tools/call` it receives. */
export async function startMcpToolServer(): Promise<McpToolServer> {
  let dropped = false;
  const http = createServer(async (req, res) => {
    const body = req.method === 'POST' ? await readJson(req) : undefined;
    if ((body as { method?: string } | undefined)?.method === 'tools/call' && !dropped) {
      dropped = true;
      req.socket.destroy();
      return;
    }
    // Stateless: a server and transport per request, as the SDK's stateless example does.
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    const server = toolServer();
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  return {
    url: new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`),
    close: async () => {
      http.closeAllConnections();
      http.close();
      await once(http, 'close');
    },
  };
}
