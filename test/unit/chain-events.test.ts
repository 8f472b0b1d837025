/**
 * Each decision is one span event and one exception record, with retry and a breaker
 * fused and an attempt timeout priming streams; a caller abort or a total timeout while
 * a stream waits for its first chunk ends it in every chain.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CircuitBreaker, ResiliencePipeline, TimeoutError } from '../../src/index.js';
import { installTestTracing, type SpanRecorder } from '../../src/testing/index.js';
import { CHAIN_MODES, errorOf, useChainMode } from '../support/chains.js';
import { httpError, useFakeTimers } from '../support/hooks.js';
import { drain } from '../support/streams.js';

useFakeTimers();

describe('span events with retry, breaker and an attempt timeout (tracer)', () => {
  let recorder: SpanRecorder;
  beforeEach(() => {
    recorder = installTestTracing();
  });
  afterEach(async () => {
    vi.useRealTimers();
    await recorder.uninstall();
  });

  const eventsOf = (name: string) =>
    recorder
      .byName(name)[0]!
      .events.map((e) => e.name)
      .filter((n) => n !== 'exception');

  it('one timeout event per timed-out attempt, one retry event per retry, one rejection event, in order', async () => {
    const breaker = new CircuitBreaker({ name: 'b', failureThreshold: 2, halfOpenAfterMs: 60_000 });
    const pipeline = new ResiliencePipeline({
      name: 'op',
      retry: { maxRetries: 3, baseDelayMs: 0 },
      attemptTimeoutMs: 50,
      circuitBreaker: breaker,
    });
    const result = errorOf(
      pipeline.execute(async function* () {
        await new Promise((r) => setTimeout(r, 1000));
        yield 'late';
      }),
    );
    await vi.advanceTimersByTimeAsync(200);
    expect(await result).toMatchObject({ code: 'BROKEN_CIRCUIT' });
    expect(eventsOf('op')).toEqual([
      'resilience.timeout',
      'resilience.retry',
      'resilience.timeout',
      'resilience.circuit_breaker.state_change',
      'resilience.retry',
      'resilience.circuit_breaker.rejected',
    ]);
    expect(recorder.byName('op attempt')).toHaveLength(2);
  });

  it('a failure is recorded as an exception once: on its attempt span, not again on the call span', async () => {
    const pipeline = new ResiliencePipeline({ name: 'once', retry: { maxRetries: 1, baseDelayMs: 0 } });
    const error = await errorOf(
      pipeline.execute(async () => {
        throw httpError(503);
      }),
    );
    expect(error).toMatchObject({ status: 503 });
    const exceptions = (name: string) => recorder.byName(name).map((s) => s.events.filter((e) => e.name === 'exception').length);
    expect(exceptions('once attempt')).toEqual([1, 1]);
    expect(exceptions('once')).toEqual([0]);
    const call = recorder.byName('once')[0]!;
    expect(call.attributes).toMatchObject({ 'resilience.attempts': 2, 'resilience.outcome': 'failure' });
    // The attempt spans end before the call span.
    for (const attempt of recorder.byName('once attempt')) {
      expect(attempt.endTime[0] * 1e9 + attempt.endTime[1]).toBeLessThanOrEqual(call.endTime[0] * 1e9 + call.endTime[1]);
    }
  });
});

describe.each(CHAIN_MODES)('a stream waiting for its first chunk (%s)', (mode) => {
  useChainMode(mode);

  it('the caller aborting ends the call with its reason; the breaker does not count it', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, halfOpenAfterMs: 60_000 });
    const pipeline = new ResiliencePipeline({ retry: { maxRetries: 2, baseDelayMs: 0 }, circuitBreaker: breaker });
    const controller = new AbortController();
    const closed: string[] = [];
    let calls = 0;
    const result = errorOf(
      pipeline.execute(async function* (ctx) {
        calls++;
        try {
          await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
          yield 'never';
        } finally {
          closed.push('closed');
        }
      }, controller.signal),
    );
    await vi.advanceTimersByTimeAsync(10);
    const reason = new Error('caller left');
    controller.abort(reason);
    expect(await result).toBe(reason);
    await vi.advanceTimersByTimeAsync(10);
    expect(calls).toBe(1);
    expect(closed).toEqual(['closed']);
    expect(breaker.state).toBe('closed');
  });

  it('a stream that comes after the total timeout fired is closed unread', async () => {
    const pipeline = new ResiliencePipeline({ retry: false, totalTimeoutMs: 50, stream: false });
    const closed: string[] = [];
    /** A stream that tells whether it was read (`next`) or closed (`return`). */
    const late = (): AsyncIterable<string> => ({
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          closed.push('read');
          return { value: 'x', done: false };
        },
        return: async () => {
          closed.push('closed');
          return { value: undefined, done: true };
        },
      }),
    });
    const guarded = new ResiliencePipeline({ retry: false, totalTimeoutMs: 50 });
    const result = errorOf(guarded.execute(() => new Promise((r) => setTimeout(() => r(late()), 100))));
    await vi.advanceTimersByTimeAsync(50);
    expect(await result).toBeInstanceOf(TimeoutError);
    await vi.advanceTimersByTimeAsync(50);
    expect(closed).toEqual(['closed']);
    // With streams off the value is no stream of ours: nothing is closed.
    const plain = errorOf(pipeline.execute(() => new Promise((r) => setTimeout(() => r(late()), 100))));
    await vi.advanceTimersByTimeAsync(100);
    expect(await plain).toBeInstanceOf(TimeoutError);
    expect(closed).toEqual(['closed']);
  });

  it('a stream retryOnResult turns down is retried; the breaker counts neither as a failure', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, halfOpenAfterMs: 60_000 });
    let calls = 0;
    const pipeline = new ResiliencePipeline({
      retry: { maxRetries: 1, baseDelayMs: 0, retryOnResult: () => calls === 1 },
      circuitBreaker: breaker,
    });
    const result = pipeline.execute(async function* () {
      calls++;
      yield `s${calls}`;
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(await drain((await result) as AsyncIterable<string>)).toEqual({ chunks: ['s2'] });
    expect(calls).toBe(2);
    expect(breaker.state).toBe('closed');
  });

  it('a stream retryOnResult turns down is closed unread and its bulkhead slot freed', async () => {
    const closed: number[] = [];
    let calls = 0;
    const pipeline = new ResiliencePipeline({
      retry: { maxRetries: 1, baseDelayMs: 0, retryOnResult: () => calls === 1 },
      bulkhead: { maxConcurrent: 1, maxQueue: 0 },
    });
    const result = pipeline.execute(async function* () {
      const me = ++calls;
      try {
        yield me;
        yield me;
      } finally {
        closed.push(me);
      }
    });
    await vi.advanceTimersByTimeAsync(0);
    const stream = (await result) as AsyncIterable<number>;
    expect(closed).toEqual([1]);
    expect(await drain(stream)).toEqual({ chunks: [2, 2] });
    expect(closed).toEqual([1, 2]);
    expect(pipeline.bulkhead?.active).toBe(0);
  });
});

describe.each(CHAIN_MODES)('hedged streams under an attempt timeout (%s)', (mode) => {
  useChainMode(mode);

  it('the hedge whose first chunk comes first wins; the silent one is closed once it speaks, its bulkhead slot freed', async () => {
    const closed: number[] = [];
    let calls = 0;
    const pipeline = new ResiliencePipeline({
      hedging: { delayMs: 10, maxHedgedAttempts: 2 },
      attemptTimeoutMs: 100,
      bulkhead: { maxConcurrent: 2, maxQueue: 0 },
    });
    const result = pipeline.execute(async function* () {
      const me = ++calls;
      try {
        await new Promise((r) => setTimeout(r, me === 1 ? 60 : 5));
        yield me;
      } finally {
        closed.push(me);
      }
    });
    await vi.advanceTimersByTimeAsync(15);
    expect(await drain((await result) as AsyncIterable<number>)).toEqual({ chunks: [2] });
    expect(calls).toBe(2);
    await vi.advanceTimersByTimeAsync(100);
    expect(closed.sort()).toEqual([1, 2]);
    expect(pipeline.bulkhead?.active).toBe(0);
  });
});
