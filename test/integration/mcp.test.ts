/**
 * The MCP TypeScript SDK (`@modelcontextprotocol/sdk`): a real client over Streamable
 * HTTP against a real MCP server made with the same SDK on 127.0.0.1 (stateful
 * sessions). What it throws — `McpError` codes, request timeouts, the caller's abort,
 * closed connections, an expired session — as `classifyError` sees it, and a tool call
 * that `resilient` carries over a dropped connection by reconnecting.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ErrorCode, isInitializeRequest, McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { classifyError, resilient } from '../../src/index.js';
import { caught } from './scripted-server.js';

/** The MCP server: `echo`, `slow` (waits `ms` or until cancelled); a resource whose read fails. */
function mcpServer(): McpServer {
  const server = new McpServer({ name: 'tools', version: '1.0.0' });
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
  server.registerTool('slow', { inputSchema: { ms: z.number() } }, async ({ ms }, extra) => {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      extra.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
    return { content: [{ type: 'text', text: 'late' }] };
  });
  server.registerResource('broken', 'db://broken', {}, async () => {
    throw new Error('database down');
  });
  return server;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return chunks.length === 0 ? undefined : JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

const sessions = new Map<string, StreamableHTTPServerTransport>();
/** Tool calls to drop (the socket destroyed before the server answers), by tool name. */
const dropNext = new Map<string, number>();
let http: Server;
let url: URL;
const openClients: Client[] = [];

beforeAll(async () => {
  http = createServer(async (req, res) => {
    if (req.url !== '/mcp') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
      return;
    }
    const body = req.method === 'POST' ? await readJson(req) : undefined;
    const call = body as { method?: string; params?: { name?: string } } | undefined;
    const tool = call?.method === 'tools/call' ? call.params?.name : undefined;
    if (tool !== undefined && (dropNext.get(tool) ?? 0) > 0) {
      dropNext.set(tool, dropNext.get(tool)! - 1);
      req.socket.destroy();
      return;
    }
    const sessionId = req.headers['mcp-session-id'];
    let transport = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
    if (transport === undefined) {
      if (typeof sessionId === 'string' || !isInitializeRequest(body)) {
        // MCP Streamable HTTP: an unknown (expired) session is a 404; the client must initialize anew.
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }));
        return;
      }
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => void sessions.set(id, created),
      });
      await mcpServer().connect(created);
      transport = created;
    }
    await transport.handleRequest(req, res, body);
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  url = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`);
});
afterEach(async () => {
  await Promise.all(openClients.splice(0).map((c) => c.close().catch(() => {})));
  dropNext.clear();
});
afterAll(async () => {
  await Promise.all([...sessions.values()].map((t) => t.close().catch(() => {})));
  http.closeAllConnections();
  http.close();
});

async function connect(at = url): Promise<Client> {
  const client = new Client({ name: 'agent', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(at));
  openClients.push(client);
  return client;
}

describe('MCP errors over Streamable HTTP', () => {
  it('an unknown method is McpError MethodNotFound, permanent, error.type its JSON-RPC code', async () => {
    const client = await connect();
    const error = await caught(client.request({ method: 'no/such/method' }, z.object({})));
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(ErrorCode.MethodNotFound);
    expect(classifyError(error)).toMatchObject({ category: 'permanent', code: '-32601', errorType: '-32601' });
  });

  it('invalid params are permanent; a failing server handler (InternalError) is transient', async () => {
    const client = await connect();
    const missing = await caught(client.readResource({ uri: 'db://missing' }));
    expect((missing as McpError).code).toBe(ErrorCode.InvalidParams);
    expect(classifyError(missing).category).toBe('permanent');
    const failed = await caught(client.readResource({ uri: 'db://broken' }));
    expect((failed as McpError).code).toBe(ErrorCode.InternalError);
    expect(classifyError(failed)).toMatchObject({ category: 'transient', errorType: '-32603' });
  });

  it("the SDK's request timeout is a timeout", async () => {
    const client = await connect();
    const error = await caught(client.callTool({ name: 'slow', arguments: { ms: 5000 } }, undefined, { timeout: 100 }));
    expect(error).toMatchObject({ code: ErrorCode.RequestTimeout, data: { timeout: 100 } });
    expect(classifyError(error)).toMatchObject({ category: 'timeout', errorType: '-32001' });
  });

  it("the caller's abort is final, an AbortSignal.timeout a timeout (both arrive as RequestTimeout)", async () => {
    const client = await connect();
    const controller = new AbortController();
    const pending = caught(client.callTool({ name: 'slow', arguments: { ms: 5000 } }, undefined, { signal: controller.signal }));
    setTimeout(() => controller.abort(), 50);
    const aborted = await pending;
    expect(aborted).toMatchObject({ code: ErrorCode.RequestTimeout });
    expect(classifyError(aborted)).toMatchObject({ category: 'permanent', aborted: true });
    const timedOut = await caught(
      client.callTool({ name: 'slow', arguments: { ms: 5000 } }, undefined, { signal: AbortSignal.timeout(50) }),
    );
    expect(timedOut).toMatchObject({ code: ErrorCode.RequestTimeout });
    expect(classifyError(timedOut)).toMatchObject({ category: 'timeout', aborted: false });
  });

  it('a connection closed under a pending request is McpError ConnectionClosed, transient', async () => {
    const client = await connect();
    const pending = caught(client.callTool({ name: 'slow', arguments: { ms: 5000 } }));
    setTimeout(() => void client.close(), 50);
    const error = await pending;
    expect(error).toMatchObject({ code: ErrorCode.ConnectionClosed });
    expect(classifyError(error)).toMatchObject({ category: 'transient', errorType: '-32000' });
  });

  it('a connection the server drops is transient, error.type the socket code', async () => {
    const client = await connect();
    dropNext.set('echo', 1);
    const error = await caught(client.callTool({ name: 'echo', arguments: { text: 'hi' } }));
    expect(error).toBeInstanceOf(TypeError);
    const classified = classifyError(error);
    expect(classified.category).toBe('transient');
    expect(['UND_ERR_SOCKET', 'ECONNRESET']).toContain(classified.errorType);
  });

  it('a response stream cut mid-request leaves the request pending until its timeout: a timeout', async () => {
    // The SDK (1.32) does not fail a request whose SSE response breaks: only its timeout
    // (default 60 s) or the caller's signal ends it. Give MCP calls a timeout.
    const client = await connect();
    const pending = caught(client.callTool({ name: 'slow', arguments: { ms: 5000 } }, undefined, { timeout: 300 }));
    setTimeout(() => http.closeAllConnections(), 50);
    const error = await pending;
    expect(error).toMatchObject({ code: ErrorCode.RequestTimeout, data: { timeout: 300 } });
    expect(classifyError(error)).toMatchObject({ category: 'timeout', retryable: true });
  });

  it('a server that is down refuses the connection: transient', async () => {
    const down = createServer();
    down.listen(0, '127.0.0.1');
    await once(down, 'listening');
    const port = (down.address() as AddressInfo).port;
    down.close();
    await once(down, 'close');
    const error = await caught(connect(new URL(`http://127.0.0.1:${port}/mcp`)));
    expect(classifyError(error)).toMatchObject({ category: 'transient', code: 'ECONNREFUSED' });
  });

  it('an expired session is a StreamableHTTPError 404 about the session: transient (start a new session)', async () => {
    const client = await connect();
    const transport = client.transport as StreamableHTTPClientTransport;
    sessions.delete(transport.sessionId!);
    const error = await caught(client.callTool({ name: 'echo', arguments: { text: 'hi' } }));
    expect(error).toBeInstanceOf(StreamableHTTPError);
    expect((error as StreamableHTTPError).code).toBe(404);
    expect(classifyError(error)).toMatchObject({
      category: 'transient',
      status: 404,
      code: 'MCP_SESSION_EXPIRED',
      errorType: '404',
    });
  });

  it('a wrong endpoint is a StreamableHTTPError 404 too, but permanent', async () => {
    const error = await caught(connect(new URL('/nope', url)));
    expect(error).toBeInstanceOf(StreamableHTTPError);
    expect(classifyError(error)).toMatchObject({ category: 'permanent', status: 404, code: undefined });
  });

  it('a tool call under resilient survives a dropped connection and an expired session by reconnecting', async () => {
    let session: Client | undefined;
    let connects = 0;
    const echo = resilient(
      async (text: string) => {
        session ??= (connects++, await connect());
        try {
          const result = await session.callTool({ name: 'echo', arguments: { text } });
          return (result.content as Array<{ text: string }>)[0]!.text;
        } catch (error) {
          session = undefined;
          throw error;
        }
      },
      { name: 'mcp.echo', retry: { maxRetries: 2, baseDelayMs: 1 } },
    );
    dropNext.set('echo', 1);
    await expect(echo('hello')).resolves.toBe('hello');
    expect(connects).toBe(2);
    sessions.delete((session!.transport as StreamableHTTPClientTransport).sessionId!);
    await expect(echo('again')).resolves.toBe('again');
    expect(connects).toBe(3);
  });
});
