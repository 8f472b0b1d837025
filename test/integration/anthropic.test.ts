/**
 * The Anthropic SDK (`@anthropic-ai/sdk`) against a real server on 127.0.0.1 speaking
 * the Messages API: its error classes (`RateLimitError` with `retry-after`,
 * `OverloadedError` for 529, `APIConnectionError`, `APIConnectionTimeoutError`,
 * `APIUserAbortError`) as `classifyError` sees them and as `resilient` retries them,
 * and the token usage of real messages, streamed or not.
 */
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { classifyError, resilient, usageOf } from '../../src/index.js';
import { installTestTracing, type SpanRecorder } from '../../src/testing/index.js';
import { caught, type Reply, type ScriptedServer, type SseEvent, startScriptedServer } from './scripted-server.js';

const USAGE = { input_tokens: 10, output_tokens: 4, cache_creation_input_tokens: 3, cache_read_input_tokens: 20 };
const message = {
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model: 'claude-test',
  content: [{ type: 'text', text: 'hello there' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: USAGE,
};
const stream: SseEvent[] = [
  {
    event: 'message_start',
    data: { type: 'message_start', message: { ...message, content: [], usage: { ...USAGE, output_tokens: 1 } } },
  },
  { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } },
  { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'hello' } } },
  { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
  {
    event: 'message_delta',
    data: { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 4 } },
  },
  { event: 'message_stop', data: { type: 'message_stop' } },
];
const error = (status: number, type: string, headers: Record<string, string> = {}): Reply => ({
  status,
  headers,
  body: { type: 'error', error: { type, message: `${type} (${status})` } },
});

let server: ScriptedServer;
let recorder: SpanRecorder;
beforeAll(async () => {
  server = await startScriptedServer(() => ({ body: message }));
});
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
  recorder = installTestTracing();
});
afterEach(() => recorder.uninstall());

const client = (options: { maxRetries?: number; timeout?: number } = {}) =>
  new Anthropic({ apiKey: 'test', baseURL: server.url, maxRetries: 0, ...options });
const ask = (c = client(), signal?: AbortSignal) =>
  c.messages.create({ model: 'claude-test', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }, { signal });

describe('Anthropic SDK errors', () => {
  it('a 429 is a RateLimitError with its retry-after', async () => {
    server.script(error(429, 'rate_limit_error', { 'retry-after': '2' }));
    const limited = await caught(ask());
    expect(limited).toBeInstanceOf(Anthropic.RateLimitError);
    expect(classifyError(limited)).toMatchObject({ category: 'rate-limited', status: 429, retryAfterMs: 2000, errorType: '429' });
  });

  it('a 529 is an OverloadedError, transient', async () => {
    server.script(error(529, 'overloaded_error'));
    const overloaded = await caught(ask());
    expect(overloaded).toBeInstanceOf(Anthropic.OverloadedError);
    expect(classifyError(overloaded)).toMatchObject({ category: 'transient', status: 529, errorType: '529' });
  });

  it('a 400 is permanent; x-should-retry: false makes a 500 permanent too', async () => {
    server.script(error(400, 'invalid_request_error'), error(500, 'api_error', { 'x-should-retry': 'false' }));
    const bad = await caught(ask());
    expect(bad).toBeInstanceOf(Anthropic.BadRequestError);
    expect(classifyError(bad)).toMatchObject({ category: 'permanent', status: 400 });
    const told = await caught(ask());
    expect(told).toBeInstanceOf(Anthropic.InternalServerError);
    expect(classifyError(told)).toMatchObject({ category: 'permanent', status: 500 });
  });

  it('a dropped connection is an APIConnectionError whose error.type is the socket code underneath', async () => {
    server.script('drop');
    const dropped = await caught(ask());
    expect(dropped).toBeInstanceOf(Anthropic.APIConnectionError);
    const classified = classifyError(dropped);
    expect(classified.category).toBe('transient');
    expect(['UND_ERR_SOCKET', 'ECONNRESET']).toContain(classified.errorType);
  });

  it("its own timeout is a timeout; the caller's abort is final", async () => {
    server.script({ delayMs: 5000, body: message }, { delayMs: 5000, body: message });
    const timedOut = await caught(ask(client({ timeout: 50 })));
    expect(timedOut).toBeInstanceOf(Anthropic.APIConnectionTimeoutError);
    expect(classifyError(timedOut)).toMatchObject({ category: 'timeout', errorType: 'APIConnectionTimeoutError' });
    const controller = new AbortController();
    const pending = caught(ask(client(), controller.signal));
    setTimeout(() => controller.abort(), 50);
    const aborted = await pending;
    expect(aborted).toBeInstanceOf(Anthropic.APIUserAbortError);
    expect(classifyError(aborted)).toMatchObject({ category: 'permanent', aborted: true });
  });

  it('resilient waits out an overloaded 529 and a 429 retry-after, then succeeds', async () => {
    server.script(error(529, 'overloaded_error'), error(429, 'rate_limit_error', { 'retry-after': '1' }));
    const complete = resilient(
      async () => {
        const reply = await ask();
        return reply.content[0]?.type === 'text' ? reply.content[0].text : '';
      },
      { name: 'claude.complete', retry: { maxRetries: 3, baseDelayMs: 1 } },
    );
    const started = performance.now();
    await expect(complete()).resolves.toBe('hello there');
    expect(performance.now() - started).toBeGreaterThanOrEqual(990);
    const retries = recorder.byName('claude.complete')[0]!.events.filter((e) => e.name === 'resilience.retry');
    expect(retries.map((e) => [e.attributes?.['error.type'], e.attributes?.['resilience.retry.delay_source']])).toEqual([
      ['529', 'backoff'],
      ['429', 'retry-after'],
    ]);
    expect(retries[1]?.attributes?.['resilience.retry.delay_ms']).toBe(1000);
  });
});

describe('Anthropic stream errors', () => {
  it('an error event mid-stream is an APIError without status, classified by its type', async () => {
    const [start, blockStart, delta] = stream;
    const failing = (type: string) => ({ event: 'error', data: { type: 'error', error: { type, message: type } } });
    server.script(
      { sse: [start!, blockStart!, delta!, failing('overloaded_error')] },
      { sse: [start!, failing('invalid_request_error')] },
    );
    const consume = async () => {
      const events = await client().messages.create({
        model: 'claude-test',
        max_tokens: 64,
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
      });
      for await (const _ of events);
    };
    const overloaded = await caught(consume());
    expect(overloaded).toBeInstanceOf(Anthropic.APIError);
    expect(overloaded).toMatchObject({ status: undefined, type: 'overloaded_error' });
    expect(classifyError(overloaded)).toMatchObject({ category: 'transient', errorType: 'overloaded_error' });
    expect(classifyError(await caught(consume()))).toMatchObject({ category: 'permanent', errorType: 'invalid_request_error' });
  });
});

describe('Anthropic usage', () => {
  it('reads usage from a message, cache writes and reads counted as input', async () => {
    const reply = await ask();
    expect(reply.usage).toMatchObject(USAGE);
    expect(usageOf(reply)).toEqual({ inputTokens: 33, outputTokens: 4 });
  });

  it("reads usage from a streamed message's final message", async () => {
    server.script({ sse: stream });
    const streamed = client().messages.stream({
      model: 'claude-test',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'hi' }],
    });
    const final = await streamed.finalMessage();
    expect(final.content).toMatchObject([{ type: 'text', text: 'hello' }]);
    expect(usageOf(final)).toEqual({ inputTokens: 33, outputTokens: 4 });
  });
});
