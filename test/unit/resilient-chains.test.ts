import { describe, expect, it, vi } from 'vitest';
import { currentAttempt } from '../../src/context/index.js';
import { CircuitBreaker, ResiliencePipeline, resilient } from '../../src/index.js';
import { CHAIN_MODES, useChainMode } from '../support/chains.js';
import { httpError, useFakeTimers } from '../support/hooks.js';
import { drain } from '../support/streams.js';

useFakeTimers();

describe.each(CHAIN_MODES)('@resilient and streams (%s)', (mode) => {
  useChainMode(mode);

  it('a decorated method sees its own this and arguments on every call and every retry, calls interleaved', async () => {
    class Client {
      calls = 0;
      constructor(readonly id: string) {}

      @resilient({ retry: { maxRetries: 1, baseDelayMs: 10, jitter: 'none' } })
      async get(path: string, n: number): Promise<string> {
        this.calls++;
        if (this.calls === 1) throw httpError(503);
        return `${this.id}:${path}:${n}:${currentAttempt()?.attempt}`;
      }
    }
    const a = new Client('a');
    const b = new Client('b');
    const results = Promise.all([a.get('/x', 1), b.get('/y', 2), a.get('/z', 3)]);
    await vi.advanceTimersByTimeAsync(10);
    expect(await results).toEqual(['a:/x:1:2', 'b:/y:2:2', 'a:/z:3:1']);
    expect(a.calls).toBe(3);
    expect(b.calls).toBe(2);
  });

  it('the function form passes this and arguments through, and a synchronous throw is a rejection', async () => {
    const wrapped = resilient(
      function (this: { base: number }, n: number) {
        if (n < 0) throw new RangeError('negative');
        return Promise.resolve(this.base + n);
      },
      { retry: false },
    );
    const holder = { base: 40, add: wrapped };
    await expect(holder.add(2)).resolves.toBe(42);
    let result: Promise<number> | undefined;
    expect(() => {
      result = holder.add(-1);
    }).not.toThrow();
    await expect(result).rejects.toBeInstanceOf(RangeError);
  });

  it('a method returning an Observable fails its call with a TypeError naming the operation, not retried', async () => {
    let calls = 0;
    const observable = { subscribe: () => ({ unsubscribe() {} }), pipe: () => observable };
    class Feed {
      @resilient({ retry: { maxRetries: 2, baseDelayMs: 0 } })
      async watch(): Promise<unknown> {
        calls++;
        return observable as never;
      }
    }
    // The wrapper sees the method's return value, a promise of the Observable: resolved, not a TypeError.
    // A method that returns the Observable itself (not async) gets the TypeError.
    class Plain {
      @resilient({ retry: { maxRetries: 2, baseDelayMs: 0 } })
      watch(): Promise<unknown> {
        calls++;
        return observable as never;
      }
    }
    await expect(new Plain().watch()).rejects.toThrow(/@resilient Plain\.watch returned an Observable/);
    expect(calls).toBe(1);
    await expect(new Feed().watch()).resolves.toBe(observable);
  });

  it('an async generator method streams with its own this and arguments, and is retried before its first chunk', async () => {
    class Llm {
      calls = 0;
      constructor(readonly model: string) {}

      @resilient({ retry: { maxRetries: 1, baseDelayMs: 10, jitter: 'none' } })
      async *tokens(prompt: string): AsyncGenerator<string> {
        this.calls++;
        if (this.calls === 1) throw httpError(503);
        yield `${this.model}/${prompt}/${currentAttempt()?.attempt}`;
        yield 'end';
      }
    }
    const llm = new Llm('m1');
    const reading = drain(llm.tokens('hi'));
    await vi.advanceTimersByTimeAsync(10);
    expect(await reading).toEqual({ chunks: ['m1/hi/2', 'end'] });
    expect(llm.calls).toBe(2);
  });

  it('currentAttempt() inside a stream generator is its own attempt up to its first chunk, with a breaker inside retry', async () => {
    const seen: Array<number | undefined> = [];
    let calls = 0;
    const pipeline = new ResiliencePipeline({
      retry: { maxRetries: 2, baseDelayMs: 10, jitter: 'none' },
      circuitBreaker: { failureThreshold: 10 },
    });
    const result = pipeline.execute(async function* () {
      calls++;
      seen.push(currentAttempt()?.attempt);
      if (calls < 3) throw httpError(503);
      yield 'a';
      await Promise.resolve();
      seen.push(currentAttempt()?.attempt);
      yield 'b';
    });
    await vi.advanceTimersByTimeAsync(30); // backoff 10 then 20 ms
    expect(await drain((await result) as AsyncIterable<string>)).toEqual({ chunks: ['a', 'b'] });
    // After the first chunk the generator runs when the caller reads it, in the caller's
    // context (old and new code alike), so only the attempts' starts are pinned here.
    expect(seen.slice(0, 3)).toEqual([1, 2, 3]);
  });

  it('stream: false hands the iterable back unread: no retry on its failure, a breaker counts it a success', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, halfOpenAfterMs: 60_000 });
    const pipeline = new ResiliencePipeline({ retry: { maxRetries: 2, baseDelayMs: 0 }, circuitBreaker: breaker, stream: false });
    let calls = 0;
    async function* failing() {
      calls++;
      yield* [];
      throw httpError(503);
    }
    const source = failing();
    const result = await pipeline.execute(async () => source);
    expect(result).toBe(source);
    expect(calls).toBe(0);
    expect(await drain(result)).toMatchObject({ error: { status: 503 } });
    expect(breaker.state).toBe('closed');
  });

  it('stream: { replay: true } runs the call again after a mid-stream failure, while retries are left', async () => {
    let calls = 0;
    const breaker = new CircuitBreaker({ failureThreshold: 10 });
    const pipeline = new ResiliencePipeline({
      retry: { maxRetries: 1, baseDelayMs: 0 },
      circuitBreaker: breaker,
      stream: { replay: true },
    });
    const stream = (await pipeline.execute(async function* () {
      calls++;
      yield `x${calls}`;
      throw httpError(503);
    })) as AsyncIterable<string>;
    const { chunks, error } = await drain(stream);
    expect(chunks).toEqual(['x1', 'x2']);
    expect(error).toMatchObject({ status: 503 });
    expect(calls).toBe(2);
  });

  it('hedging beside a breaker: a winning hedge closes the call, the loser is not counted a failure', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, halfOpenAfterMs: 60_000 });
    const pipeline = new ResiliencePipeline({ hedging: { delayMs: 10, maxHedgedAttempts: 2 }, circuitBreaker: breaker });
    let calls = 0;
    const result = pipeline.execute(
      (ctx) =>
        new Promise((resolve, reject) => {
          const me = ++calls;
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
          setTimeout(() => resolve(me), me === 1 ? 100 : 5);
        }),
    );
    await vi.advanceTimersByTimeAsync(15);
    await expect(result).resolves.toBe(2);
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toBe(2);
    expect(breaker.state).toBe('closed');
    await expect(pipeline.execute(async () => 'next')).resolves.toBe('next');
  });
});
