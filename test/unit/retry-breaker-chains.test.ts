import { describe, expect, it, vi } from 'vitest';
import { CircuitBreaker, RateLimiter, ResiliencePipeline, RetryBudget, RetryPolicy } from '../../src/index.js';
import type { Attempt } from '../../src/policies/context.js';
import { CHAIN_MODES, errorOf, useChainMode } from '../support/chains.js';
import { httpError, useFakeTimers } from '../support/hooks.js';
import { drain } from '../support/streams.js';

useFakeTimers();

describe.each(CHAIN_MODES)('retry around a circuit breaker (%s)', (mode) => {
  useChainMode(mode);

  it('tells each hook once, in order: the breaker opens before the retry is decided, then rejects', async () => {
    const log: string[] = [];
    const breaker = new CircuitBreaker({
      failureThreshold: 2,
      halfOpenAfterMs: 60_000,
      onOpen: () => log.push('open'),
      onReject: () => log.push('reject'),
    });
    const pipeline = new ResiliencePipeline({
      retry: {
        maxRetries: 3,
        baseDelayMs: 10,
        jitter: 'none',
        onRetry: (info) => log.push(`retry ${info.attempt}`),
        onGiveUp: (info) => log.push(`give up ${info.reason} after ${info.attempts}`),
      },
      circuitBreaker: breaker,
    });
    let calls = 0;
    const call = pipeline.execute(async () => {
      calls++;
      log.push(`attempt ${calls}`);
      throw httpError(503);
    });
    const settled = errorOf(call);
    await vi.advanceTimersByTimeAsync(100);
    expect(await settled).toMatchObject({ code: 'BROKEN_CIRCUIT' });
    expect(calls).toBe(2);
    expect(log).toEqual(['attempt 1', 'retry 1', 'attempt 2', 'open', 'retry 2', 'reject', 'give up not-retryable after 3']);
    expect(breaker.state).toBe('open');
  });

  it('does not count the caller aborting, nor an inner rate limiter rejecting', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, halfOpenAfterMs: 60_000 });
    const limiter = new RateLimiter({ limits: { tokensPerInterval: 1, intervalMs: 3_600_000 }, mode: 'reject' });
    const pipeline = new ResiliencePipeline({ retry: { maxRetries: 1 }, circuitBreaker: breaker, rateLimiter: limiter });
    const controller = new AbortController();
    const aborted = pipeline.execute(
      (ctx) =>
        new Promise((_, reject) => {
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
        }),
      controller.signal,
    );
    controller.abort(new Error('caller gave up'));
    await expect(aborted).rejects.toThrow('caller gave up');
    await vi.advanceTimersByTimeAsync(0);
    expect(breaker.state).toBe('closed');
    await expect(pipeline.execute(async () => 'x')).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect(breaker.state).toBe('closed');
  });

  it('counts a result retryOnResult rejects as a success, and the retry that follows it', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, halfOpenAfterMs: 60_000 });
    const pipeline = new ResiliencePipeline({
      retry: { maxRetries: 2, baseDelayMs: 10, jitter: 'none', retryOnResult: (r) => r === 'pending' },
      circuitBreaker: breaker,
    });
    let calls = 0;
    const call = pipeline.execute(async () => (++calls === 1 ? 'pending' : 'done'));
    await vi.advanceTimersByTimeAsync(10);
    await expect(call).resolves.toBe('done');
    expect(calls).toBe(2);
    expect(breaker.state).toBe('closed');
  });

  it('a half-open probe admitted inside retry closes the circuit on success; a failed probe reopens it', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, halfOpenAfterMs: 1000 });
    const pipeline = new ResiliencePipeline({ retry: { maxRetries: 0 }, circuitBreaker: breaker });
    await expect(pipeline.execute(async () => Promise.reject(httpError(503)))).rejects.toMatchObject({ status: 503 });
    expect(breaker.state).toBe('open');
    await vi.advanceTimersByTimeAsync(1000);
    await expect(pipeline.execute(async () => Promise.reject(httpError(502)))).rejects.toMatchObject({ status: 502 });
    expect(breaker.state).toBe('open');
    await vi.advanceTimersByTimeAsync(1000);
    await expect(pipeline.execute(async () => 'ok')).resolves.toBe('ok');
    expect(breaker.state).toBe('closed');
  });

  it('a synchronous throw from the work is a failed attempt: retried and counted', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 5, halfOpenAfterMs: 60_000 });
    const pipeline = new ResiliencePipeline({
      retry: { maxRetries: 1, baseDelayMs: 10, jitter: 'none' },
      circuitBreaker: breaker,
    });
    let calls = 0;
    let result: Promise<unknown> | undefined;
    expect(() => {
      result = pipeline.execute(() => {
        calls++;
        if (calls === 1) throw httpError(503);
        return 'second';
      });
    }).not.toThrow();
    await vi.advanceTimersByTimeAsync(10);
    await expect(result).resolves.toBe('second');
    expect(calls).toBe(2);
  });

  it('a stream failing before its first chunk is a failed attempt for the breaker and is retried; after it, neither', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 2, halfOpenAfterMs: 60_000 });
    const pipeline = new ResiliencePipeline({
      retry: { maxRetries: 1, baseDelayMs: 10, jitter: 'none' },
      circuitBreaker: breaker,
    });
    let calls = 0;
    const call = pipeline.execute(async function* () {
      calls++;
      if (calls === 1) throw httpError(503);
      yield 'a';
      throw httpError(502);
    });
    await vi.advanceTimersByTimeAsync(10);
    const { chunks, error } = await drain((await call) as AsyncIterable<string>);
    expect(chunks).toEqual(['a']);
    expect(error).toMatchObject({ status: 502 });
    expect(calls).toBe(2);
    // The success (first chunk) reset the count, and the failure after it was not counted:
    // the next call's two failures open the circuit only at its last attempt.
    expect(breaker.state).toBe('closed');
    const failing = pipeline.execute(async function* () {
      yield* [];
      throw httpError(503);
    });
    const settled = errorOf(failing);
    await vi.advanceTimersByTimeAsync(10);
    expect(await settled).toMatchObject({ status: 503 });
    expect(breaker.state).toBe('open');
  });

  it('the retry budget is credited by a success and spent by each retry, with the breaker inside', async () => {
    const budget = new RetryBudget({ capacity: 10, retryCost: 5, successRefund: 1 });
    const breaker = new CircuitBreaker({ failureThreshold: 100, halfOpenAfterMs: 60_000 });
    const pipeline = new ResiliencePipeline({
      retry: { maxRetries: 5, baseDelayMs: 10, jitter: 'none', budget },
      circuitBreaker: breaker,
    });
    const gaveUp: string[] = [];
    const failing = new ResiliencePipeline({
      retry: { maxRetries: 5, baseDelayMs: 10, jitter: 'none', budget, onGiveUp: (i) => gaveUp.push(i.reason) },
      circuitBreaker: breaker,
    });
    // 10 tokens: two retries, then the budget refuses the third.
    let calls = 0;
    const call = failing.execute(async () => {
      calls++;
      throw httpError(503);
    });
    const settled = errorOf(call);
    await vi.advanceTimersByTimeAsync(100);
    expect(await settled).toMatchObject({ status: 503 });
    expect(calls).toBe(3);
    expect(gaveUp).toEqual(['budget']);
    // Five first-attempt successes give back 5 tokens: one retry more.
    for (let i = 0; i < 5; i++) await pipeline.execute(async () => 'ok');
    calls = 0;
    const again = failing.execute(async () => {
      calls++;
      throw httpError(503);
    });
    const settledAgain = errorOf(again);
    await vi.advanceTimersByTimeAsync(100);
    expect(await settledAgain).toMatchObject({ status: 503 });
    expect(calls).toBe(2);
    expect(gaveUp).toEqual(['budget', 'budget']);
  });
});

describe('subclasses of the policies', () => {
  it('a RetryPolicy or CircuitBreaker subclass that overrides run is composed as it is, still guarded', async () => {
    const runs: string[] = [];
    class CountingRetry extends RetryPolicy {
      override run<T>(ctx: Attempt, next: (ctx: Attempt) => Promise<T>): Promise<T> {
        runs.push('retry');
        return super.run(ctx, next);
      }
    }
    class CountingBreaker extends CircuitBreaker {
      override run<T>(ctx: Attempt, next: (ctx: Attempt) => Promise<T>): Promise<T> {
        runs.push('breaker');
        return super.run(ctx, next);
      }
    }
    const breaker = new CountingBreaker({ failureThreshold: 1, halfOpenAfterMs: 60_000 });
    const pipeline = new ResiliencePipeline({ retry: new CountingRetry({ maxRetries: 0 }), circuitBreaker: breaker });
    await expect(pipeline.execute(() => Promise.reject(httpError(503)))).rejects.toMatchObject({ status: 503 });
    expect(breaker.state).toBe('open');
    await expect(pipeline.execute(async () => 'x')).rejects.toMatchObject({ code: 'BROKEN_CIRCUIT' });
    expect(runs).toEqual(['retry', 'breaker', 'retry', 'breaker']);
  });
});
