/**
 * Defaults users of cockatiel, opossum, p-retry, Polly, resilience4j and tenacity
 * expect (shared/DESIGN.md, "Execution model"): the caller gets the last attempt's own
 * error, the breaker opens on plain errors but not on 400s, hooks fire once per event,
 * and an isolation is undone through its handle.
 */
import { describe, expect, it, vi } from 'vitest';
import {
  BrokenCircuitError,
  CircuitBreaker,
  type CircuitStateChange,
  classifyError,
  type GiveUpInfo,
  ResiliencePipeline,
  type RetryInfo,
  RetryPolicy,
} from '../../src/index.js';
import { httpError, manualClock, useFakeTimers } from '../support/hooks.js';

useFakeTimers();

/** An SDK's rate-limit error class, as the openai and Anthropic SDKs have. */
class RateLimitError extends Error {
  readonly status = 429;
}

/** Settles like `promise` once fake time has moved on; handled at once, so no rejection goes unhandled meanwhile. */
async function settled<T>(promise: Promise<T>): Promise<T> {
  const outcome = promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  await vi.advanceTimersByTimeAsync(60_000);
  const result = await outcome;
  if ('error' in result) throw result.error;
  return result.value;
}

describe('retry, as peers do it', () => {
  it('retries what classifyError calls retryable — a plain Error once unknown errors are transient', async () => {
    // classify/ decides whether `new Error('flaky')` is transient (DESIGN: unknown errors
    // are); the pipeline must follow that verdict, whichever it is on this branch.
    const plain = new Error('flaky');
    const work = vi.fn(() => Promise.reject(plain));
    const pipeline = new ResiliencePipeline({ retry: { maxRetries: 2, baseDelayMs: 0 } });
    await expect(settled(pipeline.execute(work))).rejects.toBe(plain);
    expect(work).toHaveBeenCalledTimes(classifyError(plain).retryable ? 3 : 1);
  });

  it('retries an explicitly transient error and rethrows the last one itself', async () => {
    const errors = [0, 1, 2].map((i) => Object.assign(new Error(`flaky ${i}`), { retryable: true }));
    let n = 0;
    const pipeline = new ResiliencePipeline({ retry: { maxRetries: 2, baseDelayMs: 0 } });
    await expect(settled(pipeline.execute(() => Promise.reject(errors[n++])))).rejects.toBe(errors[2]);
    expect(n).toBe(3);
  });

  it('gives the caller the original error class with its status', async () => {
    const pipeline = new ResiliencePipeline({ retry: { maxRetries: 1, baseDelayMs: 0 } });
    const error = await settled(pipeline.execute(() => Promise.reject(new RateLimitError('slow down'))).catch((e: unknown) => e));
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error).toMatchObject({ status: 429, message: 'slow down' });
  });

  it('fires onRetry once per retry and onGiveUp once, with every attempt error', async () => {
    const retries: RetryInfo[] = [];
    const giveUps: GiveUpInfo[] = [];
    const errors = [httpError(503), httpError(502), httpError(500)];
    let n = 0;
    const retry = new RetryPolicy({
      maxRetries: 2,
      baseDelayMs: 100,
      jitter: 'none',
      onRetry: (info) => retries.push(info),
      onGiveUp: (info) => {
        giveUps.push(info);
        throw new Error('a broken hook changes nothing');
      },
    });
    await expect(settled(retry.execute(() => Promise.reject(errors[n++]), { operation: 'db.query' }))).rejects.toBe(errors[2]);
    expect(retries.map(({ attempt, delayMs, error }) => ({ attempt, delayMs, error }))).toEqual([
      { attempt: 1, delayMs: 100, error: errors[0] },
      { attempt: 2, delayMs: 200, error: errors[1] },
    ]);
    expect(giveUps).toEqual([{ attempts: 3, errors, reason: 'max-retries', error: errors[2], operation: 'db.query' }]);
    // A final error not worth retrying also ends in one onGiveUp.
    giveUps.length = 0;
    await expect(settled(retry.execute(() => Promise.reject(httpError(400))))).rejects.toMatchObject({ status: 400 });
    expect(giveUps.map((g) => g.reason)).toEqual(['not-retryable']);
  });

  it('returns the last result when retryOnResult runs out', async () => {
    const retry = new RetryPolicy({ maxRetries: 2, baseDelayMs: 0, retryOnResult: (r) => r === 'empty' });
    await expect(settled(retry.execute(() => 'empty'))).resolves.toBe('empty');
  });
});

describe('circuit breaker, as peers do it', () => {
  it('opens on plain errors, and not on 400s', async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 2, clock });
    for (let i = 0; i < 5; i++) await breaker.execute(() => Promise.reject(httpError(400))).catch(() => {});
    expect(breaker.state).toBe('closed');
    await breaker.execute(() => Promise.reject(new Error('db down'))).catch(() => {});
    await breaker.execute(() => Promise.reject(new Error('db down'))).catch(() => {});
    expect(breaker.state).toBe('open');
    await expect(breaker.execute(() => 'never')).rejects.toBeInstanceOf(BrokenCircuitError);
  });

  it('does not count the caller’s abort', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1 });
    const controller = new AbortController();
    const call = breaker.execute(() => new Promise(() => {}), { signal: controller.signal });
    controller.abort(new Error('user left'));
    await expect(call).rejects.toThrow('user left');
    expect(breaker.state).toBe('closed');
  });

  it('fires onOpen, onHalfOpen, onClose once per transition and onReject once per rejected call', async () => {
    const clock = manualClock();
    const seen: string[] = [];
    const log = (hook: string) => (change: CircuitStateChange) => seen.push(`${hook} ${change.from}->${change.to}`);
    const breaker = new CircuitBreaker({
      failureThreshold: 1,
      halfOpenAfterMs: 1000,
      clock,
      onOpen: log('open'),
      onHalfOpen: log('halfOpen'),
      onClose: log('close'),
      onReject: (rejection) => seen.push(`reject ${rejection.state}`),
    });
    await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    await breaker.execute(() => 'never').catch(() => {});
    await breaker.execute(() => 'never').catch(() => {});
    clock.advance(1000);
    await breaker.execute(() => 'ok');
    expect(seen).toEqual([
      'open closed->open',
      'reject open',
      'reject open',
      'halfOpen open->half_open',
      'close half_open->closed',
    ]);
  });

  it('bounds a half-open probe that never settles by probeTimeoutMs', async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, halfOpenAfterMs: 1000, probeTimeoutMs: 5000, clock });
    await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
    clock.advance(1000);
    void breaker.execute(() => new Promise(() => {})); // the probe hangs
    expect(breaker.state).toBe('half_open');
    clock.advance(4999);
    await expect(breaker.execute(() => 'x')).rejects.toMatchObject({ state: 'half_open' });
    clock.advance(1);
    await expect(breaker.execute(() => 'x')).rejects.toMatchObject({ state: 'open' }); // the probe counted as failed
    expect(breaker.state).toBe('open');
    clock.advance(1000);
    await expect(breaker.execute(() => 'ok')).resolves.toBe('ok');
    expect(breaker.state).toBe('closed');
  });

  it('isolate() returns a handle that releases it, once, after every handle is released', async () => {
    const breaker = new CircuitBreaker();
    const first = breaker.isolate();
    const second = breaker.isolate();
    await expect(breaker.execute(() => 'x')).rejects.toMatchObject({ state: 'isolated' });
    first.release();
    first.release(); // a second release of the same handle does nothing
    expect(breaker.state).toBe('isolated');
    second.release();
    expect(breaker.state).toBe('closed');
    await expect(breaker.execute(() => 'ok')).resolves.toBe('ok');
  });
});
