import { describe, expect, it, vi } from 'vitest';
import { parseResetDuration, rateLimitPauseMs } from '../../src/classify/rate-limit-headers.js';
import { type BucketLimit, RateLimitedError, RateLimiter, ResiliencePipeline } from '../../src/index.js';
import { systemClock } from '../../src/policies/clock.js';
import { MemoryRateLimitStore } from '../../src/policies/rate-limit-store.js';
import { httpError, useFakeTimersAndTracing } from '../support/hooks.js';

useFakeTimersAndTracing();

describe('rate-limit headers', () => {
  it('reads OpenAI durations and Anthropic instants; only an exhausted budget holds', () => {
    expect(parseResetDuration('6m0s')).toBe(360_000);
    expect(parseResetDuration('1.5s')).toBe(1500);
    expect(parseResetDuration('20ms')).toBe(20);
    expect(parseResetDuration('soon')).toBeUndefined();
    const openai = { headers: { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '2s' } };
    expect(rateLimitPauseMs(openai)).toBe(2000);
    expect(
      rateLimitPauseMs({ headers: { 'x-ratelimit-remaining-requests': '3', 'x-ratelimit-reset-requests': '2s' } }),
    ).toBeUndefined();
    const now = Date.parse('2026-01-01T00:00:00Z');
    const anthropic = new Headers({
      'anthropic-ratelimit-tokens-remaining': '0',
      'anthropic-ratelimit-tokens-reset': '2026-01-01T00:00:03Z',
    });
    expect(rateLimitPauseMs(Object.assign(new Error('x'), { headers: anthropic }), now)).toBe(3000);
    // through the cause chain (AI SDK responseHeaders)
    const wrapped = new Error('outer', {
      cause: { responseHeaders: { 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '1s' } },
    });
    expect(rateLimitPauseMs(wrapped)).toBe(1000);
  });
});

describe('RateLimiter learn', () => {
  it('holds the next call until the reset the headers gave, then lets it through', async () => {
    const limiter = new RateLimiter({ limits: { tokensPerInterval: 100, intervalMs: 1000 }, learn: true, maxWaitMs: 5000 });
    const pipeline = new ResiliencePipeline({ retry: false, rateLimiter: limiter });
    await pipeline.execute(async () => ({
      response: { headers: { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '500ms' } },
    }));
    let ran = false;
    const second = pipeline.execute(async () => {
      ran = true;
    });
    await vi.advanceTimersByTimeAsync(499);
    expect(ran).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await second;
    expect(ran).toBe(true);
  });

  it('a learned hold and the budget make one wait: a call that would wait longer than maxWaitMs in all is rejected at once, charging nothing', async () => {
    // One call per 1.5 s. The first spends it and learns a 600 ms hold; the second would
    // wait for the hold and the bucket: 1.5 s in all, over 1 s.
    const limiter = new RateLimiter({ limits: { tokensPerInterval: 1, intervalMs: 1500 }, learn: true, maxWaitMs: 1000 });
    const pipeline = new ResiliencePipeline({ retry: false, rateLimiter: limiter });
    await pipeline.execute(async () => ({
      response: { headers: { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '600ms' } },
    }));
    const rejected = (await pipeline.execute(async () => 'second').catch((e: unknown) => e)) as RateLimitedError;
    expect(rejected).toBeInstanceOf(RateLimitedError);
    expect(rejected.retryAfterMs).toBe(1500);
    // It reserved nothing: the budget is back 1.5 s after the first call, not later.
    await vi.advanceTimersByTimeAsync(1500);
    await expect(pipeline.execute(async () => 'third')).resolves.toBe('third');
  });

  it('a hold learned from a shared store holds through its outage (the fallback buckets hold too)', async () => {
    const shared = new MemoryRateLimitStore(systemClock);
    let down = false;
    const failing = (): never => {
      throw new Error('store down');
    };
    const store = {
      reserve: (l: string, k: string, b: readonly BucketLimit[], a: readonly number[], m: number) =>
        down ? failing() : shared.reserve(l, k, b, a, m),
      adjust: (l: string, k: string, b: readonly BucketLimit[], a: readonly number[]) =>
        down ? failing() : shared.adjust(l, k, b, a),
      hold: (l: string, k: string, b: readonly BucketLimit[], ms: number) => (down ? failing() : shared.hold(l, k, b, ms)),
    };
    const limiter = new RateLimiter({ limits: { tokensPerInterval: 100, intervalMs: 1000 }, learn: true, mode: 'reject', store });
    await limiter.execute(async () => Promise.reject(httpError(429, { 'retry-after': '2' }))).catch(() => {});
    await expect(limiter.execute(async () => 'x')).rejects.toBeInstanceOf(RateLimitedError);
    down = true;
    const error = (await limiter.execute(async () => 'x').catch((e: unknown) => e)) as RateLimitedError;
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error.retryAfterMs).toBe(2000);
    await vi.advanceTimersByTimeAsync(2000);
    await expect(limiter.execute(async () => 'x')).resolves.toBe('x');
  });

  it("a 429's Retry-After holds the key; in reject mode the next call is rejected with the time left", async () => {
    const limiter = new RateLimiter({ limits: { tokensPerInterval: 100, intervalMs: 1000 }, learn: true, mode: 'reject' });
    const pipeline = new ResiliencePipeline({ retry: false, rateLimiter: limiter });
    await pipeline.execute(async () => Promise.reject(httpError(429, { 'retry-after': '2' }))).catch(() => {});
    await expect(pipeline.execute(async () => 'x')).rejects.toBeInstanceOf(RateLimitedError);
    await vi.advanceTimersByTimeAsync(2000);
    await expect(pipeline.execute(async () => 'x')).resolves.toBe('x');
  });
});

describe('RateLimiter usage reconciliation', () => {
  it('charges the tokens budget the real usage instead of the estimate, streams included', async () => {
    const limiter = new RateLimiter({
      limits: {
        requests: { tokensPerInterval: 10, intervalMs: 60_000 },
        tokens: { tokensPerInterval: 1000, intervalMs: 60_000 },
      },
      cost: () => ({ requests: 1, tokens: 100 }),
      mode: 'reject',
    });
    const pipeline = new ResiliencePipeline({ retry: false, rateLimiter: limiter });
    // 100 estimated, 900 real: 100 left, so the next call (estimate 100) fits and the one after it not.
    await pipeline.execute(async () => ({ usage: { prompt_tokens: 800, completion_tokens: 100 } }));
    const stream = (await pipeline.execute(async function* () {
      yield { usage: { prompt_tokens: 1, completion_tokens: 0 } };
    })) as AsyncIterable<unknown>;
    for await (const _ of stream);
    // 100 - 1 real = 99 left: an estimate of 100 no longer fits.
    await expect(pipeline.execute(async () => 'x')).rejects.toBeInstanceOf(RateLimitedError);
  });

  it('rejects a usageBudget that names no budget', () => {
    expect(() => new RateLimiter({ limits: { tokensPerInterval: 1, intervalMs: 1 }, usageBudget: 'tokens' })).toThrow(
      /rateLimiter\.usageBudget/,
    );
  });
});
