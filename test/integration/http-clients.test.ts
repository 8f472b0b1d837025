/**
 * Real clients (fetch/undici, the openai SDK) against a real HTTP server on 127.0.0.1:
 * the errors they throw are what `classifyError` and the retry policy must handle.
 */
import OpenAI from 'openai';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Fault, type FlakyLlmServer, startFlakyLlmServer } from '../../examples/demo/flaky-llm-server.js';
import { currentAttempt } from '../../src/context/index.js';
import { classifyError, resilient } from '../../src/index.js';
import { installTestTracing, type SpanRecorder } from '../../src/testing/index.js';

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly headers: Headers,
  ) {
    super(`HTTP ${status}`);
    this.name = 'HttpError';
  }
}

async function chatWithFetch(baseURL: string, model: string): Promise<string> {
  const response = await fetch(`${baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    signal: currentAttempt()?.signal,
  });
  if (!response.ok) throw new HttpError(response.status, response.headers);
  const body = (await response.json()) as { choices: Array<{ message: { content: string } }> };
  return body.choices[0]!.message.content;
}

let server: FlakyLlmServer;
let recorder: SpanRecorder;

async function serve(...faults: Fault[]) {
  server = await startFlakyLlmServer({ script: { '*': faults } });
}

beforeEach(() => {
  recorder = installTestTracing();
});
afterEach(async () => {
  await server?.close();
  await recorder.uninstall();
});

function retryEvents(name: string) {
  return recorder
    .byName(name)[0]!
    .events.filter((e) => e.name === 'resilience.retry')
    .map((e) => e.attributes);
}

describe('fetch (undici)', () => {
  const chat = resilient(chatWithFetch, { name: 'fetch.chat', retry: { baseDelayMs: 10 } });

  it('waits out 429 + Retry-After for the advertised time', async () => {
    await serve({ kind: 'rate-limit', retryAfterSeconds: 1 }, { kind: 'ok' });
    const started = performance.now();
    await expect(chat(server.baseURL, 'm')).resolves.toContain('done');
    expect(performance.now() - started).toBeGreaterThanOrEqual(990);
    expect(retryEvents('fetch.chat')).toEqual([
      expect.objectContaining({
        'resilience.retry.delay_ms': 1000,
        'resilience.retry.delay_source': 'retry-after',
        'error.type': '429',
      }),
    ]);
    expect(server.requests.map((r) => r.fault)).toEqual(['rate-limit', 'ok']);
  });

  it('does not retry a 400', async () => {
    await serve({ kind: 'bad-request' }, { kind: 'ok' });
    await expect(chat(server.baseURL, 'm')).rejects.toMatchObject({ status: 400 });
    expect(server.requests).toHaveLength(1);
  });

  it('retries a dropped connection', async () => {
    await serve({ kind: 'drop' }, { kind: 'ok' });
    await expect(chat(server.baseURL, 'm')).resolves.toContain('done');
    expect(server.requests.map((r) => r.fault)).toEqual(['drop', 'ok']);
    const [event] = retryEvents('fetch.chat');
    expect(['UND_ERR_SOCKET', 'ECONNRESET']).toContain(event!['error.type']);
  });

  it('classifies the dropped connection error fetch really throws as transient', async () => {
    await serve({ kind: 'drop' });
    const error = await chatWithFetch(server.baseURL, 'm').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(classifyError(error)).toMatchObject({ category: 'transient', retryable: true });
  });
});

describe('openai SDK (its own retries off)', () => {
  let client: OpenAI;
  const complete = resilient(
    async (model: string) => {
      const response = await client.chat.completions.create(
        { model, messages: [{ role: 'user', content: 'hello' }] },
        { signal: currentAttempt()?.signal },
      );
      return response.choices[0]!.message.content ?? '';
    },
    { name: 'openai.chat', retry: { maxRetries: 2, baseDelayMs: 10 }, attemptTimeoutMs: 500 },
  );

  beforeEach(() => {
    client = new OpenAI({ apiKey: 'test', baseURL: 'http://127.0.0.1:1/v1', maxRetries: 0 });
  });

  async function serveOpenAI(...faults: Fault[]) {
    await serve(...faults);
    client = new OpenAI({ apiKey: 'test', baseURL: server.baseURL, maxRetries: 0 });
  }

  it('honours retry-after-ms on a RateLimitError', async () => {
    await serveOpenAI({ kind: 'rate-limit', retryAfterMs: 300 }, { kind: 'ok' });
    const started = performance.now();
    await expect(complete('gpt-test')).resolves.toContain('gpt-test');
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(retryEvents('openai.chat')).toEqual([
      expect.objectContaining({ 'resilience.retry.delay_ms': 300, 'resilience.retry.delay_source': 'retry-after' }),
    ]);
  });

  it('does not retry a BadRequestError', async () => {
    await serveOpenAI({ kind: 'bad-request' }, { kind: 'ok' });
    const error = await complete('gpt-test').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(server.requests).toHaveLength(1);
  });

  it('retries an APIConnectionError from a dropped connection', async () => {
    await serveOpenAI({ kind: 'drop' }, { kind: 'ok' });
    await expect(complete('gpt-test')).resolves.toContain('gpt-test');
    expect(server.requests.map((r) => r.fault)).toEqual(['drop', 'ok']);
  });

  it('aborts a slow request at the attempt timeout and retries it', async () => {
    await serveOpenAI({ kind: 'slow', delayMs: 5000 }, { kind: 'ok' });
    await expect(complete('gpt-test')).resolves.toContain('gpt-test');
    expect(recorder).toHaveSpan('openai.chat', {
      events: [{ name: 'resilience.timeout', attributes: { 'resilience.timeout.scope': 'attempt' } }, 'resilience.retry'],
    });
  });

  it('gives up after maxRetries with the last error itself, its class and status intact', async () => {
    await serveOpenAI({ kind: 'unavailable' }, { kind: 'unavailable' }, { kind: 'unavailable' });
    const error = await complete('gpt-test').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(error).toMatchObject({ status: 503 });
    expect(classifyError(error)).toMatchObject({ category: 'transient', status: 503, errorType: '503' });
    expect(server.requests).toHaveLength(3);
  });
});
