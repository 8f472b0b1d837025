/**
 * OpenAI chat-completions replies for the scripted server: a completion, a streamed answer
 * (`hel` + `lo`, usage in the last chunk as `include_usage` sends it) and an API error.
 */
import type { Reply, SseEvent } from './scripted-server.js';

export const USAGE = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };

/** A chat completion answering `hello there`, with {@link USAGE}. */
export const completion = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-test',
  choices: [{ index: 0, message: { role: 'assistant', content: 'hello there' }, finish_reason: 'stop' }],
  usage: USAGE,
};

/** A `chat.completion.chunk` with one choice's `delta`. */
export const chunk = (delta: object, finish: string | null = null) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'gpt-test',
  choices: [{ index: 0, delta, finish_reason: finish }],
});

/** The streamed answer `hello`, then its usage, then `[DONE]`. */
export const stream: SseEvent[] = [
  { data: chunk({ role: 'assistant', content: 'hel' }) },
  { data: chunk({ content: 'lo' }, 'stop') },
  { data: { ...chunk({}), choices: [], usage: USAGE } },
  { data: '[DONE]' },
];

/** An OpenAI API error reply with `status` and `headers`. */
export const error = (status: number, headers: Record<string, string> = {}): Reply => ({
  status,
  headers,
  body: { error: { message: `status ${status}`, type: 'server_error', param: null, code: null } },
});
