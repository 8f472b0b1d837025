/**
 * The stream shapes a work can return, as the pipeline opens, reads and hands them back:
 * async iterables (async generators, the openai and Anthropic SDKs' `stream: true`),
 * web `ReadableStream`s, and the AI SDK's `streamText` result (read through its
 * `fullStream`, where its errors arrive as `error` parts); the token usage their chunks
 * report; and the wrapper an async generator function needs.
 */
import { type TokenUsage, usageOf } from '../classify/usage.js';

/** How the caller receives the stream back: the shape the work returned. */
export type Shape = 'iterable' | 'readable' | 'ai-sdk';

/** Parts of an AI SDK `fullStream` that are bookkeeping, not output: they do not end the retryable phase. */
const AI_SDK_PREAMBLE = new Set(['start', 'start-step', 'text-start', 'reasoning-start', 'raw', 'stream-start']);

function isObject(value: unknown): value is Record<PropertyKey, any> {
  return (typeof value === 'object' && value !== null) || typeof value === 'function';
}

/** The AI SDK's `streamText` result: it has both `textStream` and `fullStream`. */
function isAiSdkStream(value: Record<PropertyKey, any>): boolean {
  return 'fullStream' in value && 'textStream' in value;
}

/** The stream a work's result is, with its shape, or undefined when it is a plain value. */
export function sourceOf(value: unknown): { iterator: AsyncIterator<unknown>; shape: Shape } | undefined {
  if (!isObject(value)) return undefined;
  try {
    if (isAiSdkStream(value)) return { iterator: value.fullStream[Symbol.asyncIterator](), shape: 'ai-sdk' };
    if (typeof value[Symbol.asyncIterator] === 'function') {
      const shape = typeof ReadableStream !== 'undefined' && value instanceof ReadableStream ? 'readable' : 'iterable';
      return { iterator: value[Symbol.asyncIterator](), shape };
    }
  } catch {
    // A result whose stream cannot be opened is handed back as it is.
  }
  return undefined;
}

/** The error an AI SDK part carries (`error` parts carry the real `APICallError`), if any. */
export function partError(shape: Shape, chunk: unknown): { error: unknown } | undefined {
  if (shape !== 'ai-sdk' || !isObject(chunk)) return undefined;
  if (chunk.type === 'error') return { error: chunk.error };
  return undefined;
}

/**
 * The token usage a stream's chunk reports, merged with what earlier chunks did: the
 * openai last chunk (`include_usage`), the AI SDK `finish` part (`totalUsage`),
 * Anthropic's `message_start` (input) and `message_delta` (output so far).
 */
export function chunkUsage(chunk: unknown, prior: TokenUsage | undefined): TokenUsage | undefined {
  if (!isObject(chunk)) return prior;
  try {
    if (chunk.type === 'message_start') return usageOf(chunk.message) ?? prior;
    if (chunk.type === 'message_delta' && isObject(chunk.usage)) {
      const output = chunk.usage.output_tokens;
      const input = typeof chunk.usage.input_tokens === 'number' ? chunk.usage.input_tokens : prior?.inputTokens;
      return typeof output === 'number' && input !== undefined ? { inputTokens: input, outputTokens: output } : prior;
    }
    if (chunk.usage === undefined && chunk.totalUsage === undefined) return prior;
    return usageOf(chunk) ?? prior;
  } catch {
    return prior;
  }
}

/** Closes a source we stop reading; its own failure to close is not the caller's. */
export function closeSource(iterator: AsyncIterator<unknown>): void {
  try {
    iterator.return?.()?.then(undefined, () => {});
  } catch {
    // As above.
  }
}

/** Reads `iterator` up to its first chunk of output (or its end); throws an AI SDK error part's error. */
export async function readHead(iterator: AsyncIterator<unknown>, shape: Shape): Promise<IteratorResult<unknown>[]> {
  const head: IteratorResult<unknown>[] = [];
  for (;;) {
    const result = await iterator.next();
    const failed = result.done ? undefined : partError(shape, result.value);
    if (failed !== undefined) throw failed.error;
    head.push(result);
    if (result.done || shape !== 'ai-sdk' || !AI_SDK_PREAMBLE.has((result.value as { type?: unknown })?.type as string)) {
      return head;
    }
  }
}

/** A `ReadableStream` reading `iterator`; cancelling it returns the iterator. */
export function toReadable(iterable: AsyncIterable<unknown>): ReadableStream<unknown> {
  const iterator = iterable[Symbol.asyncIterator]();
  return new ReadableStream<unknown>(
    {
      async pull(controller) {
        const result = await iterator.next();
        if (result.done) controller.close();
        else controller.enqueue(result.value);
      },
      async cancel(reason) {
        await iterator.return?.(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/** AI SDK text parts carry `text` (AI SDK 5+) or `textDelta` (4). */
export async function* textOf(parts: AsyncIterable<unknown>): AsyncGenerator<string> {
  for await (const part of parts) {
    if (isObject(part) && part.type === 'text-delta') yield (part.text ?? part.textDelta) as string;
  }
}

/** Whether `fn` is an async generator function (its calls return a stream at once, not a promise). */
export function isAsyncGeneratorFunction(fn: unknown): boolean {
  return typeof fn === 'function' && fn.constructor?.name === 'AsyncGeneratorFunction';
}

/**
 * An async iterator returned at once for a call that resolves to a stream (a wrapped
 * async generator: `for await (const t of tokens())` needs an iterable, not a promise).
 * The call starts on the first `next()`.
 */
export function lazyStream(start: () => Promise<unknown>): AsyncIterableIterator<unknown> {
  let inner: Promise<AsyncIterator<unknown>> | undefined;
  const open = () =>
    (inner ??= start().then((value) => {
      const iterable = value as AsyncIterable<unknown>;
      return iterable[Symbol.asyncIterator]();
    }));
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next: () => open().then((it) => it.next()),
    return: async (value?: unknown) => {
      if (inner === undefined) return { done: true, value };
      const it = await inner;
      return (await it.return?.(value)) ?? { done: true, value };
    },
    throw: async (error?: unknown) => {
      const it = await open();
      if (it.throw === undefined) throw error;
      return it.throw(error);
    },
  };
}
