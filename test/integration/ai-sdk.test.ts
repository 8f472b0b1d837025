/**
 * The Vercel AI SDK (`ai` with `@ai-sdk/openai`) against a real OpenAI-compatible server
 * on 127.0.0.1: the errors `generateText` really throws — `APICallError` with
 * `statusCode`, `isRetryable` and `responseHeaders`, and `RetryError` when the SDK's own
 * retries are on — as `classifyError` sees them and as `resilient` retries them; and the
 * token usage of real results.
 */
import { createOpenAI } from '@ai-sdk/openai';
import { APICallError, generateText, RetryError, streamText } from 'ai';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { classifyError, resilient, usageOf } from '../../src/index.js';
import { installTestTracing, type SpanRecorder } from '../../src/testing/index.js';
import { completion, error, stream } from './openai-fixtures.js';
import { caught, type ScriptedServer, startScriptedServer } from './scripted-server.js';

let server: ScriptedServer;
let recorder: SpanRecorder;
beforeAll(async () => {
  server = await startScriptedServer(() => ({ body: completion }));
});
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
  recorder = installTestTracing();
});
afterEach(() => recorder.uninstall());

const model = () => createOpenAI({ apiKey: 'test', baseURL: `${server.url}/v1` }).chat('gpt-test');
const ask = (maxRetries: number, abortSignal?: AbortSignal) =>
  generateText({ model: model(), prompt: 'hi', maxRetries, abortSignal });

describe('AI SDK errors (its own retries off)', () => {
  it('a 429 is an APICallError whose retry-after-ms and Retry-After are honoured', async () => {
    server.script(error(429, { 'retry-after-ms': '50' }), error(429, { 'retry-after': '2' }));
    const first = await caught(ask(0));
    expect(APICallError.isInstance(first)).toBe(true);
    expect(first).toMatchObject({ statusCode: 429, isRetryable: true, responseHeaders: { 'retry-after-ms': '50' } });
    expect(classifyError(first)).toMatchObject({ category: 'rate-limited', retryAfterMs: 50, errorType: '429' });
    expect(classifyError(await caught(ask(0)))).toMatchObject({ category: 'rate-limited', retryAfterMs: 2000 });
  });

  it('an invalid Retry-After is ignored and reported', async () => {
    server.script(error(429, { 'retry-after': '-1' }));
    expect(classifyError(await caught(ask(0)))).toMatchObject({
      category: 'rate-limited',
      retryAfterMs: undefined,
      retryAfterIgnored: 'retry-after: -1',
    });
  });

  it('a 503 is transient, a 400 permanent', async () => {
    server.script(error(503), error(400));
    expect(classifyError(await caught(ask(0)))).toMatchObject({ category: 'transient', status: 503, errorType: '503' });
    expect(classifyError(await caught(ask(0)))).toMatchObject({ category: 'permanent', status: 400, errorType: '400' });
  });

  it('a dropped connection is a retryable APICallError whose error.type is the socket code underneath', async () => {
    server.script('drop');
    const dropped = await caught(ask(0));
    expect(APICallError.isInstance(dropped)).toBe(true);
    expect((dropped as APICallError).isRetryable).toBe(true);
    const classified = classifyError(dropped);
    expect(classified.category).toBe('transient');
    expect(['UND_ERR_SOCKET', 'ECONNRESET']).toContain(classified.errorType);
  });

  it("the caller's abort is final", async () => {
    server.script({ delayMs: 5000, body: completion });
    const controller = new AbortController();
    const pending = caught(ask(0, controller.signal));
    setTimeout(() => controller.abort(), 50);
    expect(classifyError(await pending)).toMatchObject({ category: 'permanent', aborted: true });
  });
});

describe('AI SDK errors (its own retries on: RetryError)', () => {
  it("a RetryError whose last error is retryable is retryable, with that error's status", async () => {
    server.script(error(503, { 'retry-after-ms': '5' }), error(503, { 'retry-after-ms': '5' }));
    const retried = await caught(ask(1));
    expect(RetryError.isInstance(retried)).toBe(true);
    expect(retried).toMatchObject({ reason: 'maxRetriesExceeded' });
    expect(classifyError(retried)).toMatchObject({ category: 'transient', status: 503, errorType: '503' });
    expect(server.requests).toHaveLength(2);
  });

  it('a RetryError that met a non-retryable error is permanent', async () => {
    server.script(error(503, { 'retry-after-ms': '5' }), error(400));
    const retried = await caught(ask(2));
    expect(retried).toMatchObject({ reason: 'errorNotRetryable' });
    expect(classifyError(retried)).toMatchObject({ category: 'permanent', status: 400 });
  });

  it('resilient retries past the SDK’s RetryError and succeeds on the next attempt', async () => {
    server.script(error(503, { 'retry-after-ms': '5' }), error(503, { 'retry-after-ms': '5' }));
    const complete = resilient(async () => (await ask(1)).text, {
      name: 'ai.generate',
      retry: { maxRetries: 2, baseDelayMs: 1 },
    });
    await expect(complete()).resolves.toBe('hello there');
    expect(server.requests).toHaveLength(3);
    expect(recorder).toHaveSpan('ai.generate', { attributes: { 'resilience.attempts': 2, 'resilience.outcome': 'success' } });
    const [retry] = recorder.byName('ai.generate')[0]!.events.filter((e) => e.name === 'resilience.retry');
    expect(retry?.attributes).toMatchObject({ 'error.type': '503' });
  });

  it("resilient waits a 429's retry-after-ms from responseHeaders, not its backoff", async () => {
    server.script(error(429, { 'retry-after-ms': '50' }));
    const complete = resilient(async () => (await ask(0)).text, { name: 'ai.wait', retry: { baseDelayMs: 1 } });
    const started = performance.now();
    await expect(complete()).resolves.toBe('hello there');
    expect(performance.now() - started).toBeGreaterThanOrEqual(49);
    const [retry] = recorder.byName('ai.wait')[0]!.events.filter((e) => e.name === 'resilience.retry');
    expect(retry?.attributes).toMatchObject({
      'resilience.retry.delay_ms': 50,
      'resilience.retry.delay_source': 'retry-after',
      'error.type': '429',
    });
  });
});

describe('AI SDK streamText errors', () => {
  it('a failed stream reports the APICallError to onError and rejects its results with NoOutputGeneratedError', async () => {
    server.script(error(503, { 'retry-after-ms': '20' }));
    const reported: unknown[] = [];
    const result = streamText({ model: model(), prompt: 'hi', maxRetries: 0, onError: ({ error }) => void reported.push(error) });
    const text = await caught(result.text);
    expect(text).toMatchObject({ name: 'AI_NoOutputGeneratedError' });
    // It carries no cause: unknown, so retryable; the error the stream met says why.
    expect(classifyError(text)).toMatchObject({ category: 'transient', errorType: 'AI_NoOutputGeneratedError' });
    expect(reported).toHaveLength(1);
    expect(classifyError(reported[0])).toMatchObject({ category: 'transient', status: 503, retryAfterMs: 20, errorType: '503' });
  });
});

describe('AI SDK usage', () => {
  it('reads usage from a generateText result', async () => {
    const result = await ask(0);
    expect(result.usage).toMatchObject({ inputTokens: 11, outputTokens: 7 });
    expect(usageOf(result)).toEqual({ inputTokens: 11, outputTokens: 7 });
  });

  it('reads usage from a streamText result once its totalUsage settles', async () => {
    server.script({ sse: stream });
    const result = streamText({ model: model(), prompt: 'hi', maxRetries: 0 });
    expect(usageOf(result)).toBeUndefined(); // promises until the stream ends
    let text = '';
    for await (const part of result.textStream) text += part;
    expect(text).toBe('hello');
    expect(usageOf({ totalUsage: await result.totalUsage })).toEqual({ inputTokens: 11, outputTokens: 7 });
  });
});
