/**
 * Streamed LLM calls under `resilient`, with the real clients against real servers on
 * 127.0.0.1: the openai SDK (`stream: true`), the AI SDK (`streamText`, its
 * `NoOutputGeneratedError` and the `APICallError` that only reaches its `fullStream`),
 * and the Anthropic SDK (`messages.create({ stream: true })`). Each shows: a failure
 * before the first chunk is retried (its Retry-After honoured), a failure after it is
 * not replayed but recorded on its attempt with the chunks delivered, and the token
 * usage of the stream on the attempt and call spans.
 */

import { createOpenAI } from '@ai-sdk/openai';
import Anthropic from '@anthropic-ai/sdk';
import { generateText, streamText } from 'ai';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resilient } from '../../src/index.js';
import { installTestTracing, type SpanRecorder } from '../../src/testing/index.js';
import { drain as collect } from '../support/streams.js';
import { completion, error, stream } from './openai-fixtures.js';
import { type ScriptedServer, type SseEvent, startScriptedServer } from './scripted-server.js';

const openaiStream = stream;
const openaiError = error;

let openaiServer: ScriptedServer;
let anthropicServer: ScriptedServer;
let recorder: SpanRecorder;
beforeAll(async () => {
  openaiServer = await startScriptedServer(() => openaiError(500));
  anthropicServer = await startScriptedServer(() => ({ status: 500, body: {} }));
});
afterAll(async () => {
  await openaiServer.close();
  await anthropicServer.close();
});
beforeEach(() => {
  openaiServer.requests.length = 0;
  anthropicServer.requests.length = 0;
  recorder = installTestTracing();
});
afterEach(() => recorder.uninstall());

const attempts = (name: string) =>
  recorder
    .spans()
    .filter((s) => s.name.startsWith(`${name} attempt`))
    .sort((a, b) => (a.attributes['resilience.attempt'] as number) - (b.attributes['resilience.attempt'] as number));
const retryEvents = (name: string) =>
  recorder
    .byName(name)[0]!
    .events.filter((e) => e.name === 'resilience.retry')
    .map((e) => e.attributes);

describe('openai SDK stream: true', () => {
  const client = () => new OpenAI({ apiKey: 'test', baseURL: `${openaiServer.url}/v1`, maxRetries: 0 });
  const chat = resilient(
    async () =>
      client().chat.completions.create({
        model: 'gpt-test',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        stream_options: { include_usage: true },
      }),
    { name: 'openai.chat', retry: { baseDelayMs: 1 } },
  );

  it('a 429 before the first chunk is retried after its retry-after-ms; usage on the attempt and the call', async () => {
    openaiServer.script(openaiError(429, { 'retry-after-ms': '30' }), { sse: openaiStream });
    const { chunks, error } = await collect(await chat());
    expect(error).toBeUndefined();
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')).toBe('hello');
    expect(openaiServer.requests).toHaveLength(2);
    expect(retryEvents('openai.chat')[0]).toMatchObject({
      'resilience.retry.delay_ms': 30,
      'resilience.retry.delay_source': 'retry-after',
    });
    const [first, second] = attempts('openai.chat');
    expect(first?.attributes['error.type']).toBe('429');
    expect(second?.attributes).toMatchObject({ 'resilience.stream.chunks': 3, 'gen_ai.usage.input_tokens': 11 });
    expect(recorder.byName('openai.chat')[0]?.attributes).toMatchObject({
      'resilience.attempts': 2,
      'resilience.outcome': 'success',
      'gen_ai.usage.input_tokens': 11,
      'gen_ai.usage.output_tokens': 7,
    });
  });

  it('a connection dropped after the first chunk is not replayed: the error is on its attempt with the chunks delivered', async () => {
    openaiServer.script({ sse: openaiStream.slice(0, 1), dropAfterSse: true });
    const { chunks, error } = await collect(await chat());
    expect(chunks).toHaveLength(1);
    expect(error).toBeInstanceOf(Error);
    expect(openaiServer.requests).toHaveLength(1);
    const [only] = attempts('openai.chat');
    expect(only?.attributes).toMatchObject({ 'resilience.stream.chunks': 1 });
    expect(only?.status.code).toBe(2);
    expect(recorder.byName('openai.chat')[0]?.attributes).toMatchObject({ 'resilience.outcome': 'failure' });
  });
});

describe('AI SDK streamText', () => {
  const model = () => createOpenAI({ apiKey: 'test', baseURL: `${openaiServer.url}/v1` }).chat('gpt-test');
  const answer = resilient(async () => streamText({ model: model(), prompt: 'hi', maxRetries: 0 }), {
    name: 'ai.stream',
    retry: { baseDelayMs: 1 },
  });

  it('the APICallError that only reaches fullStream is retried (retry-after-ms honoured); textStream gives the answer', async () => {
    openaiServer.script(openaiError(503, { 'retry-after-ms': '25' }), { sse: openaiStream });
    const result = await answer();
    const { chunks, error } = await collect(result.textStream);
    expect(error).toBeUndefined();
    expect(chunks.join('')).toBe('hello');
    expect(await result.text).toBe('hello');
    expect(openaiServer.requests).toHaveLength(2);
    expect(retryEvents('ai.stream')[0]).toMatchObject({
      'error.type': '503',
      'resilience.retry.delay_ms': 25,
      'resilience.retry.delay_source': 'retry-after',
    });
    expect(recorder.byName('ai.stream')[0]?.attributes).toMatchObject({
      'resilience.outcome': 'success',
      'gen_ai.usage.input_tokens': 11,
      'gen_ai.usage.output_tokens': 7,
    });
  });

  it('a failure after the first text is not replayed', async () => {
    openaiServer.script({ sse: openaiStream.slice(0, 1), dropAfterSse: true });
    const result = await answer();
    const { chunks, error } = await collect(result.textStream);
    expect(chunks.join('')).toBe('hel');
    expect(error).toBeDefined();
    expect(openaiServer.requests).toHaveLength(1);
    expect(attempts('ai.stream')[0]?.attributes['resilience.stream.chunks']).toBeGreaterThanOrEqual(1);
    expect(recorder.byName('ai.stream')[0]?.attributes).toMatchObject({ 'resilience.outcome': 'failure' });
  });
});

describe('AI SDK generateText', () => {
  it('a 429 is retried after its retry-after-ms; the usage of the result on its attempt and the call', async () => {
    const model = createOpenAI({ apiKey: 'test', baseURL: `${openaiServer.url}/v1` }).chat('gpt-test');
    openaiServer.script(openaiError(429, { 'retry-after-ms': '20' }), { body: completion });
    const ask = resilient(async () => generateText({ model, prompt: 'hi', maxRetries: 0 }), { name: 'ai.generate' });
    expect((await ask()).text).toBe('hello there');
    expect(retryEvents('ai.generate')[0]).toMatchObject({ 'resilience.retry.delay_ms': 20, 'error.type': '429' });
    expect(attempts('ai.generate')[1]?.attributes).toMatchObject({
      'gen_ai.usage.input_tokens': 11,
      'gen_ai.usage.output_tokens': 7,
    });
    expect(recorder.byName('ai.generate')[0]?.attributes).toMatchObject({ 'gen_ai.usage.input_tokens': 11 });
  });
});

describe('Anthropic SDK stream: true', () => {
  const message = {
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    model: 'claude-test',
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: 20, output_tokens: 1 },
  };
  const events: SseEvent[] = [
    { event: 'message_start', data: { type: 'message_start', message } },
    { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } },
    { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'hi' } } },
    { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
    { event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 5 } } },
    { event: 'message_stop', data: { type: 'message_stop' } },
  ];
  const ask = resilient(
    async () =>
      new Anthropic({ apiKey: 'test', baseURL: anthropicServer.url, maxRetries: 0 }).messages.create({
        model: 'claude-test',
        max_tokens: 64,
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
      }),
    { name: 'anthropic.stream', retry: { baseDelayMs: 1 } },
  );

  it('an overloaded 529 is retried after its retry-after-ms; usage from message_start and message_delta', async () => {
    anthropicServer.script(
      {
        status: 529,
        headers: { 'retry-after-ms': '40', 'retry-after': '1' },
        body: { type: 'error', error: { type: 'overloaded_error', message: 'x' } },
      },
      { sse: events },
    );
    const { chunks, error } = await collect(await ask());
    expect(error).toBeUndefined();
    expect(chunks).toHaveLength(6);
    expect(anthropicServer.requests).toHaveLength(2);
    expect(retryEvents('anthropic.stream')[0]).toMatchObject({
      'error.type': '529',
      'resilience.retry.delay_ms': 40,
      'resilience.retry.delay_source': 'retry-after',
    });
    expect(recorder.byName('anthropic.stream')[0]?.attributes).toMatchObject({
      'gen_ai.usage.input_tokens': 20,
      'gen_ai.usage.output_tokens': 5,
    });
  });

  it('an error event after the first chunk is recorded on its attempt, not replayed', async () => {
    const failing = { event: 'error', data: { type: 'error', error: { type: 'overloaded_error', message: 'overloaded' } } };
    anthropicServer.script({ sse: [...events.slice(0, 3), failing] });
    const { chunks, error } = await collect(await ask());
    expect(chunks).toHaveLength(3);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect(anthropicServer.requests).toHaveLength(1);
    expect(attempts('anthropic.stream')[0]?.attributes).toMatchObject({
      'resilience.stream.chunks': 3,
      'error.type': 'overloaded_error',
    });
  });
});
