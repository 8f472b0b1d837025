import { AsyncLocalStorage } from 'node:async_hooks';
import { trace } from '@opentelemetry/api';
import { describe, expect, it, vi } from 'vitest';
import { currentAttempt } from '../../src/context/index.js';
import { ResiliencePipeline, resilient, TimeoutError } from '../../src/index.js';
import { httpError, useFakeTimersAndTracing } from '../support/hooks.js';
import { drain } from '../support/streams.js';

const tracing = useFakeTimersAndTracing();

/** The span of attempt `n` of the call `call`. */
const attemptOf = (call: string, n: number) =>
  tracing()
    .byName(`${call} attempt`)
    .find((s) => s.attributes['resilience.attempt'] === n);

const attr = (name: string) =>
  tracing()
    .spans()
    .filter((s) => s.name.startsWith(name))
    .map((s) => s.attributes);

describe('streams under a pipeline', () => {
  it('an async generator is retried until its first chunk, then streamed with the attempt span open to the end', async () => {
    let calls = 0;
    const tokens = resilient(
      async function* tokens(n: number) {
        calls++;
        if (calls === 1) throw httpError(503);
        for (let i = 0; i < n; i++) yield `t${i}`;
      },
      { retry: { baseDelayMs: 10, jitter: 'none' } },
    );
    const stream = tokens(3);
    const reading = drain(stream);
    await vi.advanceTimersByTimeAsync(10);
    expect(await reading).toEqual({ chunks: ['t0', 't1', 't2'] });
    expect(calls).toBe(2);
    expect(attemptOf('tokens', 1)?.attributes['error.type']).toBe('503');
    expect(attemptOf('tokens', 2)?.attributes).toMatchObject({ 'resilience.stream.chunks': 3 });
    expect(attr('tokens')[0]).toBeDefined();
    const call = tracing().byName('tokens')[0]!;
    expect(call.attributes).toMatchObject({ 'resilience.attempts': 2, 'resilience.outcome': 'success' });
  });

  it('an error after the first chunk is not replayed: recorded on its attempt with the chunks delivered', async () => {
    let calls = 0;
    const pipeline = new ResiliencePipeline({ name: 'llm.stream', retry: { baseDelayMs: 10 } });
    const stream = (await pipeline.execute(async function* () {
      calls++;
      yield 'a';
      yield 'b';
      throw httpError(503);
    })) as AsyncIterable<string>;
    const { chunks, error } = await drain(stream);
    expect(chunks).toEqual(['a', 'b']);
    expect(error).toMatchObject({ status: 503 });
    expect(calls).toBe(1);
    const attempt = attemptOf('llm.stream', 1);
    expect(attempt?.attributes).toMatchObject({ 'resilience.stream.chunks': 2, 'error.type': '503' });
    expect(tracing().byName('llm.stream')[0]?.attributes).toMatchObject({ 'resilience.outcome': 'failure' });
  });

  it('replay: true runs the call again after a mid-stream error, the new stream from its start', async () => {
    let calls = 0;
    const pipeline = new ResiliencePipeline({ retry: { baseDelayMs: 0 }, stream: { replay: true } });
    const stream = (await pipeline.execute(async function* () {
      calls++;
      yield `x${calls}`;
      if (calls === 1) throw httpError(503);
      yield 'end';
    })) as AsyncIterable<string>;
    expect(await drain(stream)).toEqual({ chunks: ['x1', 'x2', 'end'] });
    expect(tracing().byName('execute')[0]?.attributes).toMatchObject({ 'resilience.attempts': 2 });
  });

  it('first_chunk timeout: a silent stream is aborted and retried', async () => {
    let calls = 0;
    const signals: AbortSignal[] = [];
    const pipeline = new ResiliencePipeline({ retry: { baseDelayMs: 0 }, stream: { firstChunkTimeoutMs: 50 } });
    const result = pipeline.execute(async function* (ctx) {
      calls++;
      signals.push(ctx.signal);
      if (calls === 1) await new Promise((r) => setTimeout(r, 1000));
      yield 'ok';
    });
    await vi.advanceTimersByTimeAsync(50);
    const { chunks } = await drain((await result) as AsyncIterable<string>);
    expect(chunks).toEqual(['ok']);
    expect(signals[0]?.aborted).toBe(true);
    expect(signals[0]?.reason).toBeInstanceOf(TimeoutError);
    const events = tracing()
      .byName('execute')[0]!
      .events.map((e) => [e.name, e.attributes?.['resilience.timeout.scope']]);
    expect(events).toContainEqual(['resilience.timeout', 'first_chunk']);
  });

  it('attemptTimeoutMs bounds the wait for the first chunk: a silent stream is abandoned, retried, and closed once it speaks', async () => {
    let calls = 0;
    const closed: number[] = [];
    const pipeline = new ResiliencePipeline({ retry: { baseDelayMs: 0 }, attemptTimeoutMs: 50 });
    const result = pipeline.execute(async function* () {
      const me = ++calls;
      try {
        if (me === 1) await new Promise((r) => setTimeout(r, 1000));
        yield me;
      } finally {
        closed.push(me);
      }
    });
    await vi.advanceTimersByTimeAsync(50);
    const { chunks } = await drain((await result) as AsyncIterable<number>);
    expect(chunks).toEqual([2]);
    expect(calls).toBe(2);
    const events = tracing()
      .byName('execute')[0]!
      .events.map((e) => [e.name, e.attributes?.['resilience.timeout.scope']]);
    expect(events).toContainEqual(['resilience.timeout', 'attempt']);
    expect(closed).toEqual([2]);
    await vi.advanceTimersByTimeAsync(1000); // the abandoned stream's first chunk comes: nobody reads it
    expect(closed).toEqual([2, 1]);
  });

  it('an attempt abandoned by its timeout keeps its bulkhead slot until its late stream is primed', async () => {
    const closed: number[] = [];
    const pipeline = new ResiliencePipeline({
      retry: false,
      attemptTimeoutMs: 50,
      bulkhead: { maxConcurrent: 1, maxQueue: 0 },
    });
    const result = pipeline.execute(async function* () {
      try {
        await new Promise((r) => setTimeout(r, 100));
        yield 1;
      } finally {
        closed.push(1);
      }
    });
    const rejected = expect(result).rejects.toBeInstanceOf(TimeoutError);
    await vi.advanceTimersByTimeAsync(50);
    await rejected;
    expect(pipeline.bulkhead?.active).toBe(1); // the stream still runs against the dependency
    await vi.advanceTimersByTimeAsync(50);
    expect(closed).toEqual([1]);
    expect(pipeline.bulkhead?.active).toBe(0);
  });

  it('idle timeout: a gap between chunks ends the stream with a TimeoutError of scope idle', async () => {
    const pipeline = new ResiliencePipeline({ retry: false, stream: { idleTimeoutMs: 30 } });
    const stream = (await pipeline.execute(async function* () {
      yield 1;
      await new Promise((r) => setTimeout(r, 100));
      yield 2;
    })) as AsyncIterable<number>;
    const reading = drain(stream);
    await vi.advanceTimersByTimeAsync(30);
    const { chunks, error } = await reading;
    expect(chunks).toEqual([1]);
    expect(error).toMatchObject({ scope: 'idle', timeoutMs: 30 });
  });

  it('a ReadableStream comes back as a ReadableStream; break ends the spans as cancelled', async () => {
    const pipeline = new ResiliencePipeline({ name: 'rs' });
    const out = (await pipeline.execute(
      () =>
        new ReadableStream<string>({
          start(controller) {
            for (const c of ['a', 'b', 'c']) controller.enqueue(c);
            controller.close();
          },
        }),
    )) as ReadableStream<string>;
    expect(out).toBeInstanceOf(ReadableStream);
    const seen: string[] = [];
    for await (const chunk of out as unknown as AsyncIterable<string>) {
      seen.push(chunk);
      if (seen.length === 2) break;
    }
    expect(seen).toEqual(['a', 'b']);
    expect(attemptOf('rs', 1)?.attributes).toMatchObject({
      'resilience.stream.chunks': 2,
      'resilience.stream.cancelled': true,
    });
    expect(tracing().byName('rs')).toHaveLength(1);
  });

  it('usage: each attempt its own, the call span the sum over attempts (failed included)', async () => {
    let calls = 0;
    const pipeline = new ResiliencePipeline({
      name: 'chat',
      retry: { baseDelayMs: 0, retryOnResult: (r) => (r as { bad?: boolean }).bad === true },
    });
    await pipeline.execute(async () => {
      calls++;
      return { bad: calls === 1, usage: { prompt_tokens: 10, completion_tokens: calls } };
    });
    expect(attr('chat attempt').map((a) => a['gen_ai.usage.output_tokens'])).toEqual([1, 2]);
    expect(tracing().byName('chat')[0]?.attributes).toMatchObject({
      'gen_ai.usage.input_tokens': 20,
      'gen_ai.usage.output_tokens': 3,
    });
  });

  it('usage of a stream: from its chunks (openai last chunk), on the attempt and the call', async () => {
    const pipeline = new ResiliencePipeline({ name: 'chat' });
    const stream = (await pipeline.execute(async function* () {
      yield { choices: [{ delta: { content: 'hi' } }], usage: null };
      yield { choices: [], usage: { prompt_tokens: 4, completion_tokens: 2 } };
    })) as AsyncIterable<unknown>;
    await drain(stream);
    expect(tracing().byName('chat')[0]?.attributes).toMatchObject({
      'gen_ai.usage.input_tokens': 4,
      'gen_ai.usage.output_tokens': 2,
    });
    expect(attemptOf('chat', 1)?.attributes).toMatchObject({ 'gen_ai.usage.input_tokens': 4 });
  });

  it('a bulkhead holds the slot of a stream until the stream ends', async () => {
    const pipeline = new ResiliencePipeline({ retry: false, bulkhead: { maxConcurrent: 1, maxQueue: 0 } });
    const stream = (await pipeline.execute(async function* () {
      yield 1;
      yield 2;
    })) as AsyncIterable<number>;
    expect(pipeline.bulkhead?.active).toBe(1);
    await expect(pipeline.execute(async () => 'x')).rejects.toMatchObject({ code: 'BULKHEAD_REJECTED' });
    await drain(stream);
    expect(pipeline.bulkhead?.active).toBe(0);
    await expect(pipeline.execute(async () => 'x')).resolves.toBe('x');
  });

  it('a hedge whose stream comes after the winner is cancelled: its bulkhead slot is freed', async () => {
    let n = 0;
    const closed: number[] = [];
    const pipeline = new ResiliencePipeline({
      hedging: { maxHedgedAttempts: 1, delayMs: 10 },
      bulkhead: { maxConcurrent: 2, maxQueue: 0 },
    });
    const result = pipeline.execute(async function* () {
      const me = ++n;
      try {
        await new Promise((r) => setTimeout(r, me === 1 ? 30 : 5)); // the hedge (2) answers first
        yield me;
      } finally {
        closed.push(me);
      }
    });
    await vi.advanceTimersByTimeAsync(40);
    const { chunks } = await drain((await result) as AsyncIterable<number>);
    expect(chunks).toEqual([2]);
    expect(closed.sort()).toEqual([1, 2]);
    expect(pipeline.bulkhead?.active).toBe(0);
  });

  it("a generator runs in its attempt's context to its end: spans it makes after the first chunk are the attempt's children", async () => {
    const user = new AsyncLocalStorage<string>();
    const seen: unknown[] = [];
    const tokens = resilient(
      async function* tokens() {
        for (let i = 0; i < 3; i++) {
          trace.getTracer('user').startSpan(`tool ${i}`).end();
          seen.push([currentAttempt()?.attempt, currentAttempt()?.signal.aborted, user.getStore()]);
          yield i;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      },
      { retry: { maxRetries: 1 } },
    );
    // The call opens on the first read; later chunks are read from another context, as a consumer elsewhere would.
    const iterator = tokens()[Symbol.asyncIterator]();
    const chunks: unknown[] = [];
    let next = user.run('opening', () => iterator.next());
    for (;;) {
      await vi.advanceTimersByTimeAsync(5);
      const result = await next;
      if (result.done) break;
      chunks.push(result.value);
      next = user.run('reading', () => iterator.next());
    }
    expect(chunks).toEqual([0, 1, 2]);
    expect(seen).toEqual([
      [1, false, 'opening'],
      [1, false, 'opening'],
      [1, false, 'opening'],
    ]);
    for (const i of [0, 1, 2]) expect(tracing()).toHaveSpan(`tool ${i}`, { parent: 'tokens attempt' });
  });

  it('stream: false hands the stream back untouched', async () => {
    const pipeline = new ResiliencePipeline({ stream: false });
    async function* gen() {
      yield 1;
    }
    const it = gen();
    expect(await pipeline.execute(() => it)).toBe(it);
  });

  it('rejects bad stream options at construction', () => {
    expect(() => new ResiliencePipeline({ stream: { idleTimeoutMs: 0 } })).toThrow(/stream\.idleTimeoutMs/);
    expect(() => new ResiliencePipeline({ stream: { nope: 1 } as never })).toThrow(/stream\.nope/);
  });
});
