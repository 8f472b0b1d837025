/**
 * A local, deliberately unreliable LLM service speaking the OpenAI chat-completions
 * JSON protocol (`POST /v1/chat/completions`), for the demo and the integration tests.
 * Each request is answered by the next scripted fault of its model, then by seeded
 * random faults: 429 with `retry-after-ms`/`Retry-After`, 503, slow answers, dropped
 * connections, 400. Listens on 127.0.0.1 only. Given a tracer provider, it traces each
 * request as its own service would: a SERVER span under the caller's `traceparent`, so
 * Jaeger's dependency graph shows the caller → LLM service edge.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { propagation, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, type TracerProvider } from '@opentelemetry/api';
import { seededRandom } from 'otel-resilience';

/** What the server does with one request. */
export type Fault =
  | { readonly kind: 'ok' }
  | { readonly kind: 'rate-limit'; readonly retryAfterMs?: number; readonly retryAfterSeconds?: number }
  | { readonly kind: 'unavailable' }
  | { readonly kind: 'slow'; readonly delayMs: number }
  | { readonly kind: 'drop' }
  | { readonly kind: 'bad-request' };

/** Chances (0..1) of each random fault for one model; the rest succeed. */
export interface FaultRates {
  readonly rateLimit?: number;
  readonly unavailable?: number;
  readonly slow?: number;
  readonly drop?: number;
}

export interface FlakyServerOptions {
  /** Seed of the random faults (default 42): the same seed gives the same run. */
  readonly seed?: number;
  /** Faults to serve first, per model name (`'*'` for any model), in order. */
  readonly script?: Readonly<Record<string, readonly Fault[]>>;
  /** Random fault rates per model name (`'*'` for any model); default none. */
  readonly rates?: Readonly<Record<string, FaultRates>>;
  /** How long a slow answer takes, in ms (default 1500). */
  readonly slowMs?: number;
  /** The wait a random 429 advertises, in ms (default 200). */
  readonly retryAfterMs?: number;
  /** Trace each request as a SERVER span with this provider (its resource names the service); default untraced. */
  readonly tracerProvider?: TracerProvider;
}

export interface ServedRequest {
  readonly model: string;
  readonly fault: Fault['kind'];
}

export interface FlakyLlmServer {
  /** Base URL for the openai client, e.g. `http://127.0.0.1:PORT/v1`. */
  readonly baseURL: string;
  /** Every request served so far, in order. */
  readonly requests: ServedRequest[];
  close(): Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function completion(model: string, prompt: string) {
  const content = `(${model}) ${prompt.slice(0, 60)} — done.`;
  return {
    id: `chatcmpl-${Math.random().toString(36).slice(2, 10)}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: prompt.length, completion_tokens: content.length, total_tokens: prompt.length + content.length },
  };
}

const apiError = (message: string, type: string) => ({ error: { message, type, param: null, code: null } });

/** A streamed answer (`stream: true`): the completion's words as chat.completion.chunk events, usage last, then `[DONE]`. */
function streamCompletion(res: ServerResponse, model: string, prompt: string): void {
  const { id, created, choices, usage } = completion(model, prompt);
  const chunk = (delta: object, extra: object = {}) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const word of choices[0]!.message.content.split(/(?<= )/)) res.write(chunk({ content: word }));
  res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage })}\n\n`);
  res.end('data: [DONE]\n\n');
}

async function readBody(req: IncomingMessage): Promise<{ model: string; prompt: string; stream: boolean }> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
      model?: string;
      messages?: Array<{ content?: string }>;
      stream?: boolean;
    };
    return { model: body.model ?? 'unknown', prompt: body.messages?.at(-1)?.content ?? '', stream: body.stream === true };
  } catch {
    return { model: 'unknown', prompt: '', stream: false };
  }
}

/** The caller's context, from its W3C `traceparent` header. */
function caller(req: IncomingMessage) {
  return propagation.extract(ROOT_CONTEXT, req.headers);
}

/** A SERVER span's options: HTTP and GenAI server attributes (the model and the fault served are added once the body is read). */
function serverSpan(req: IncomingMessage) {
  return {
    kind: SpanKind.SERVER,
    attributes: {
      'http.request.method': 'POST',
      'url.path': req.url ?? '',
      'server.port': req.socket.localPort ?? 0,
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
    },
  };
}

/** Ends `span` when the response is sent (status set) or the connection closes first (dropped by us or the client). */
function traceRequest(span: Span, res: ServerResponse, fault: Fault): void {
  res.once('close', () => {
    if (res.headersSent) {
      span.setAttribute('http.response.status_code', res.statusCode);
      // Server spans: 5xx is an error of this service; 4xx is the caller's (HTTP semantic conventions).
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    } else {
      const why = fault.kind === 'drop' ? 'connection_dropped' : 'client_aborted';
      span.setAttribute('error.type', why);
      span.setStatus({ code: SpanStatusCode.ERROR, message: why });
    }
    span.end();
  });
}

/** Starts the server on an ephemeral 127.0.0.1 port. */
export async function startFlakyLlmServer(options: FlakyServerOptions = {}): Promise<FlakyLlmServer> {
  const random = seededRandom(options.seed ?? 42);
  const slowMs = options.slowMs ?? 1500;
  const scripts = new Map(Object.entries(options.script ?? {}).map(([model, faults]) => [model, [...faults]]));
  const requests: ServedRequest[] = [];

  const pick = (model: string): Fault => {
    const script = scripts.get(model)?.length ? scripts.get(model) : scripts.get('*');
    if (script?.length) return script.shift()!;
    const rates = options.rates?.[model] ?? options.rates?.['*'] ?? {};
    let roll = random();
    for (const [kind, rate] of [
      ['rate-limit', rates.rateLimit],
      ['unavailable', rates.unavailable],
      ['slow', rates.slow],
      ['drop', rates.drop],
    ] as const) {
      roll -= rate ?? 0;
      if (roll < 0) {
        if (kind === 'rate-limit') return { kind, retryAfterMs: options.retryAfterMs ?? 200 };
        if (kind === 'slow') return { kind, delayMs: slowMs };
        return { kind };
      }
    }
    return { kind: 'ok' };
  };

  const tracer = options.tracerProvider?.getTracer('flaky-llm-server');
  const server = createServer(async (req, res) => {
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
      json(res, 404, apiError('not found', 'invalid_request_error'));
      return;
    }
    // From the request's arrival, so the span shows the time spent reading its body too.
    const span = tracer?.startSpan('POST /v1/chat/completions', serverSpan(req), caller(req));
    const { model, prompt, stream } = await readBody(req);
    const fault = pick(model);
    requests.push({ model, fault: fault.kind });
    if (span !== undefined) {
      span.updateName(`chat ${model}`);
      span.setAttributes({ 'gen_ai.request.model': model, 'demo.fault': fault.kind });
      traceRequest(span, res, fault);
    }
    switch (fault.kind) {
      case 'ok':
        if (stream) streamCompletion(res, model, prompt);
        else json(res, 200, completion(model, prompt));
        return;
      case 'rate-limit': {
        const headers: Record<string, string> = {};
        if (fault.retryAfterMs !== undefined) headers['retry-after-ms'] = String(fault.retryAfterMs);
        if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
        json(res, 429, apiError('Rate limit reached, slow down', 'rate_limit_error'), headers);
        return;
      }
      case 'unavailable':
        json(res, 503, apiError('The model is overloaded', 'server_error'));
        return;
      case 'bad-request':
        json(res, 400, apiError('Invalid messages', 'invalid_request_error'));
        return;
      case 'drop':
        req.socket.destroy();
        return;
      case 'slow': {
        const timer = setTimeout(() => json(res, 200, completion(model, prompt)), fault.delayMs);
        res.on('close', () => clearTimeout(timer));
        return;
      }
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
