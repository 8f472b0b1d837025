/**
 * A real HTTP server on 127.0.0.1 that answers each request with the next scripted
 * reply (then with a fallback): a status, headers and a JSON body, a Server-Sent Events
 * stream, a delay, or a dropped connection. For the integration tests of real LLM
 * clients (the AI SDK, the Anthropic SDK), which talk to it exactly as to their
 * providers.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One server-sent event: `event:` (optional) and `data:` (JSON, or a string as is). */
export interface SseEvent {
  readonly event?: string;
  readonly data: unknown;
}

/** How the server answers one request. */
export type Reply =
  | {
      readonly status?: number;
      readonly headers?: Readonly<Record<string, string>>;
      /** A JSON body (default `{}`), or an SSE stream. */
      readonly body?: unknown;
      readonly sse?: readonly SseEvent[];
      /** After the SSE events, drop the connection instead of ending the stream (a failure mid-stream). */
      readonly dropAfterSse?: boolean;
      /** Wait this long before answering (the request's socket closing ends the wait). */
      readonly delayMs?: number;
    }
  | 'drop';

export interface ServedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: unknown;
}

export interface ScriptedServer {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: ServedRequest[];
  /** Queues replies for the next requests. */
  script(...replies: Reply[]): void;
  close(): Promise<void>;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    return text;
  }
}

/** Starts a scripted server; requests beyond the script get `fallback()`. */
export async function startScriptedServer(fallback: (request: ServedRequest) => Reply): Promise<ScriptedServer> {
  const queue: Reply[] = [];
  const requests: ServedRequest[] = [];
  const server = createServer(async (req, res) => {
    const request = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body: await readJson(req) };
    requests.push(request);
    const reply = queue.shift() ?? fallback(request);
    if (reply === 'drop') {
      req.socket.destroy();
      return;
    }
    if (reply.delayMs !== undefined) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, reply.delayMs);
        res.once('close', () => (clearTimeout(timer), resolve()));
      });
      if (res.destroyed) return;
    }
    if (reply.sse !== undefined) {
      res.writeHead(reply.status ?? 200, { 'content-type': 'text/event-stream', ...reply.headers });
      for (const { event, data } of reply.sse) {
        res.write(
          `${event === undefined ? '' : `event: ${event}\n`}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`,
        );
      }
      if (reply.dropAfterSse) {
        // Let the written events reach the client before the connection goes.
        setTimeout(() => req.socket.destroy(), 20);
        return;
      }
      res.end();
      return;
    }
    res.writeHead(reply.status ?? 200, { 'content-type': 'application/json', ...reply.headers });
    res.end(JSON.stringify(reply.body ?? {}));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    script: (...replies) => void queue.push(...replies),
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** Settles `promise` to its rejection reason (undefined when it resolves). */
export const caught = (promise: PromiseLike<unknown>): Promise<unknown> =>
  Promise.resolve(promise).then(
    () => undefined,
    (e: unknown) => e,
  );
