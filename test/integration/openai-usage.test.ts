/**
 * Token usage as the openai SDK returns it from a real server on 127.0.0.1: a chat
 * completion, and a stream made with `stream_options: { include_usage: true }` (usage on
 * its last chunk), read by `usageOf`.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { usageOf } from '../../src/index.js';
import { type ScriptedServer, startScriptedServer } from './scripted-server.js';

const USAGE = { prompt_tokens: 21, completion_tokens: 9, total_tokens: 30, prompt_tokens_details: { cached_tokens: 5 } };
const base = { id: 'chatcmpl-1', created: 1, model: 'gpt-test' };

let server: ScriptedServer;
let client: OpenAI;
beforeAll(async () => {
  server = await startScriptedServer(() => ({
    body: {
      ...base,
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
      usage: USAGE,
    },
  }));
  client = new OpenAI({ apiKey: 'test', baseURL: `${server.url}/v1`, maxRetries: 0 });
});
afterAll(() => server.close());

it('reads usage from a chat completion (cached prompt tokens are already in prompt_tokens)', async () => {
  const completion = await client.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] });
  expect(usageOf(completion)).toEqual({ inputTokens: 21, outputTokens: 9 });
});

it('reads usage from the last chunk of a stream with include_usage', async () => {
  const chunk = (delta: object, finish: string | null = null) => ({
    ...base,
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta, finish_reason: finish }],
    usage: null, // every chunk but the last, with include_usage
  });
  server.script({
    sse: [
      { data: chunk({ role: 'assistant', content: 'h' }) },
      { data: chunk({ content: 'i' }, 'stop') },
      { data: { ...chunk({}), choices: [], usage: USAGE } },
      { data: '[DONE]' },
    ],
  });
  const stream = await client.chat.completions.create({
    model: 'gpt-test',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  const usages = [];
  for await (const part of stream) usages.push(usageOf(part));
  expect(usages).toEqual([undefined, undefined, { inputTokens: 21, outputTokens: 9 }]);
  expect((server.requests.at(-1)!.body as { stream_options?: unknown }).stream_options).toEqual({ include_usage: true });
});
