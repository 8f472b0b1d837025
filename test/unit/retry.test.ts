import { describe, expect, it, vi } from 'vitest';
import {
  KEPT_ATTEMPT_ERRORS,
  ResiliencePipeline,
  RetriesExhaustedError,
  RetryPolicy,
  TimeoutError,
  TimeoutPolicy,
} from '../../src/index.js';
import type { Attempt } from '../../src/policies/context.js';
import { httpError, useFakeTimers, virtualClock } from '../support/hooks.js';

/** Work that fails with each given error in turn, then returns 'ok'. */
function failing(...errors: unknown[]) {
  const work = vi.fn(async () => {
    if (work.mock.calls.length <= errors.length) throw errors[work.mock.calls.length - 1];
    return 'ok';
  });
  return work;
}

describe('RetryPolicy', () => {
  useFakeTimers();

  it('retries transient errors with the backoff delays, then succeeds', async () => {
    const retry = new RetryPolicy({ baseDelayMs: 100, jitter: 'none' });
    const work = failing(httpError(503), httpError(502));
    const result = retry.execute(work);
    await vi.advanceTimersByTimeAsync(99);
    expect(work).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(work).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(199);
    expect(work).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1);
    await expect(result).resolves.toBe('ok');
    expect(work).toHaveBeenCalledTimes(3);
  });

  it('passes the 1-based attempt number in the context', async () => {
    const attempts: number[] = [];
    const retry = new RetryPolicy({ baseDelayMs: 0 });
    await retry.execute(async ({ attempt }) => {
      attempts.push(attempt);
      if (attempt < 3) throw httpError(500);
      return attempt;
    });
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('does not retry permanent errors and rethrows them unchanged', async () => {
    const error = httpError(400);
    const work = failing(error);
    await expect(new RetryPolicy().execute(work)).rejects.toBe(error);
    expect(work).toHaveBeenCalledTimes(1);
  });

  it('makes at most maxRetries + 1 attempts and rethrows the last error unchanged', async () => {
    const errors = [httpError(503), httpError(503), httpError(503)];
    const work = failing(...errors, httpError(503));
    const result = new RetryPolicy({ maxRetries: 2, baseDelayMs: 0 }).execute(work);
    await expect(result).rejects.toBe(errors[2]);
    expect(work).toHaveBeenCalledTimes(3);
  });

  it('wraps every error in RetriesExhaustedError when asked to (wrapErrors)', async () => {
    const errors = [httpError(503), httpError(503), httpError(503)];
    const work = failing(...errors, httpError(503));
    const result = new RetryPolicy({ maxRetries: 2, baseDelayMs: 0, wrapErrors: true }).execute(work);
    const error = await result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetriesExhaustedError);
    expect(error).toMatchObject({ attempts: 3, reason: 'max-retries', errors, cause: errors[2] });
  });

  it('keeps the last 100 errors of a long retry, not every one, and counts every attempt', async () => {
    const errors = Array.from({ length: 250 }, (_, i) => Object.assign(httpError(503), { attempt: i + 1 }));
    const gaveUp = vi.fn();
    const work = failing(...errors);
    const retry = new RetryPolicy({ maxRetries: 249, baseDelayMs: 0, wrapErrors: true, onGiveUp: gaveUp });
    const settled = retry.execute(work).catch((e: unknown) => e);
    await vi.runAllTimersAsync(); // a run of 0 ms retries yields to the event loop now and then
    const error = (await settled) as RetriesExhaustedError;
    expect(error).toBeInstanceOf(RetriesExhaustedError);
    expect(error).toMatchObject({ attempts: 250, reason: 'max-retries', cause: errors[249] });
    expect(error.message).toMatch(/^Gave up after 250 attempts/);
    expect(error.errors).toHaveLength(KEPT_ATTEMPT_ERRORS);
    expect(error.errors).toEqual(errors.slice(150));
    expect(gaveUp).toHaveBeenCalledOnce();
    expect(gaveUp.mock.calls[0]![0]).toMatchObject({ attempts: 250, errors: errors.slice(150) });
  });

  it('waits the advertised Retry-After instead of the backoff', async () => {
    const work = failing(httpError(429, { 'retry-after': '2' }));
    const result = new RetryPolicy({ baseDelayMs: 10 }).execute(work);
    await vi.advanceTimersByTimeAsync(1999);
    expect(work).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(result).resolves.toBe('ok');
  });

  it('gives up at once when Retry-After exceeds maxRetryAfterMs', async () => {
    const work = failing(httpError(429, { 'retry-after': '120' }));
    const error = await new RetryPolicy({ maxRetryAfterMs: 60000, wrapErrors: true }).execute(work).catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: 'retry-after-too-long', retryAfterMs: 120000, attempts: 1 });
    expect(work).toHaveBeenCalledTimes(1);
  });

  it('gives up when the wait would outlive the total timeout', async () => {
    const work = failing(httpError(503, { 'retry-after': '5' }));
    const reasons: string[] = [];
    const policy = new RetryPolicy({ onGiveUp: ({ reason }) => reasons.push(reason) });
    const total = new TimeoutPolicy({ timeoutMs: 3000, scope: 'total' });
    const error = await total.execute((ctx) => policy.run(ctx as Attempt, async () => work())).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 503 });
    expect(reasons).toEqual(['deadline']);
    expect(work).toHaveBeenCalledTimes(1);
  });

  it('retries results when retryOnResult says so and returns the last one when exhausted', async () => {
    let n = 0;
    const retry = new RetryPolicy({ maxRetries: 2, baseDelayMs: 0, retryOnResult: (r) => r === 'empty' });
    await expect(retry.execute(async () => (++n < 3 ? 'empty' : 'full'))).resolves.toBe('full');
    n = 0;
    await expect(retry.execute(async () => (++n, 'empty'))).resolves.toBe('empty');
    expect(n).toBe(3);
  });

  it('stops waiting and retrying when the caller aborts', async () => {
    const controller = new AbortController();
    const work = failing(httpError(503), httpError(503));
    const result = new RetryPolicy({ baseDelayMs: 1000, jitter: 'none' }).execute(work, { signal: controller.signal });
    await vi.advanceTimersByTimeAsync(10);
    controller.abort(new Error('user cancelled'));
    await expect(result).rejects.toThrow('user cancelled');
    await vi.advanceTimersByTimeAsync(5000);
    expect(work).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('honours a custom retryOn', async () => {
    const work = failing(new Error('flaky'));
    const retry = new RetryPolicy({ baseDelayMs: 0, retryOn: (e) => (e as Error).message === 'flaky' });
    await expect(retry.execute(work)).resolves.toBe('ok');
  });

  it('rejects invalid options naming the option and value', () => {
    expect(() => new RetryPolicy({ maxRetries: -1 })).toThrow(/retry\.maxRetries.*-1/);
    expect(() => new RetryPolicy({ maxRetries: 1.5 })).toThrow(RangeError);
    expect(() => new RetryPolicy({ retryOn: 'yes' as never })).toThrow(/retry\.retryOn/);
    expect(() => new RetryPolicy({ maxRetryAfterMs: Number.NaN })).toThrow(/maxRetryAfterMs.*NaN/);
  });
});

describe('RetryPolicy with 0 ms backoff', () => {
  it('gives the event loop a turn between retries, so a total timeout stops an attempt that fails at once', async () => {
    // Chaos fails every attempt before any work runs, so 0 ms retries follow each other in
    // promise callbacks; every 64th gives timers a turn, and the total timeout fires there.
    let attempts = 0;
    const pipeline = new ResiliencePipeline({
      retry: { maxRetries: 100_000, baseDelayMs: 0, onRetry: () => attempts++ },
      chaos: { injectionRate: 1, fault: new Error('chaos') },
      totalTimeoutMs: 1000,
      circuitBreaker: false,
      clock: virtualClock(),
    });
    const outcome = await pipeline.execute(() => 'never reached').catch((e: unknown) => e);
    expect(outcome).toBeInstanceOf(TimeoutError);
    expect(attempts).toBe(64);
  });
});
