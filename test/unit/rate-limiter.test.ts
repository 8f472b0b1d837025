import { describe, expect, it, vi } from 'vitest';
import { RateLimitedError, RateLimiter, resilient } from '../../src/index.js';
import { MemoryRateLimitStore } from '../../src/policies/rate-limit-store.js';
import { useFakeTimers } from '../support/hooks.js';
import { describeRateLimitStoreConformance } from '../support/rate-limit-store-conformance.js';

describeRateLimitStoreConformance('MemoryRateLimitStore', async (clock) => new MemoryRateLimitStore(clock));

describe('RateLimiter', () => {
  useFakeTimers();

  it('admits a burst, then rejects with retryAfterMs in reject mode', async () => {
    const limiter = new RateLimiter({ limits: { tokensPerInterval: 2, intervalMs: 1000 }, mode: 'reject' });
    await limiter.execute(async () => 1);
    await limiter.execute(async () => 2);
    const error = await limiter.execute(async () => 3).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ retryAfterMs: 500, retryable: true });
    vi.advanceTimersByTime(500);
    await expect(limiter.execute(async () => 4)).resolves.toBe(4);
  });

  it('waits for budget up to maxWaitMs, in arrival order', async () => {
    const limiter = new RateLimiter({ limits: { tokensPerInterval: 1, intervalMs: 100 }, maxWaitMs: 250 });
    const order: number[] = [];
    const calls = [1, 2, 3].map((n) => limiter.execute(async () => order.push(n)));
    const fourth = limiter.execute(async () => order.push(4)).catch((e: unknown) => e);
    expect(await fourth).toBeInstanceOf(RateLimitedError); // would wait 300 ms
    await vi.advanceTimersByTimeAsync(100);
    expect(order).toEqual([1, 2]);
    await vi.advanceTimersByTimeAsync(100);
    await Promise.all(calls);
    expect(order).toEqual([1, 2, 3]);
  });

  it('keeps separate budgets per key and charges every named budget', async () => {
    const limiter = new RateLimiter({
      limits: {
        requests: { tokensPerInterval: 10, intervalMs: 60_000 },
        tokens: { tokensPerInterval: 1000, intervalMs: 60_000 },
      },
      mode: 'reject',
      key: ([tenant]) => String(tenant),
      cost: ([, prompt]) => ({ requests: 1, tokens: String(prompt).length }),
    });
    const ask = resilient(async (_tenant: string, prompt: string) => prompt.length, { retry: false, rateLimiter: limiter });
    await ask('a', 'x'.repeat(900));
    await expect(ask('a', 'x'.repeat(200))).rejects.toBeInstanceOf(RateLimitedError); // tokens budget spent
    await expect(ask('b', 'x'.repeat(200))).resolves.toBe(200); // another tenant
  });

  it('settles the difference to the actual cost after the call', async () => {
    const limiter = new RateLimiter({
      limits: { tokensPerInterval: 100, intervalMs: 60_000 },
      mode: 'reject',
      cost: () => 50,
      actualCost: (result: number) => result,
    });
    const call = resilient(async (used: number) => used, { retry: false, rateLimiter: limiter });
    await call(10); // estimated 50, used 10: 40 refunded
    await call(10);
    await expect(call(10)).resolves.toBe(10); // 100 - 10 - 10 = 80 left >= 50
  });

  it('refuses a cost no burst can hold, and invalid options', async () => {
    const limiter = new RateLimiter({ limits: { tokensPerInterval: 5, intervalMs: 1000 }, cost: () => 6 });
    await expect(limiter.execute(async () => 1)).rejects.toThrow(RangeError);
    expect(() => new RateLimiter({ limits: { tokensPerInterval: 0, intervalMs: 1000 } })).toThrow(/tokensPerInterval.*0/);
    expect(() => new RateLimiter({ limits: { intervalMs: 1000 } as never })).toThrow(/tokensPerInterval/);
    expect(() => new RateLimiter({ limits: { tokensPerInterval: 1, intervalMs: 1 }, mode: 'drop' as never })).toThrow(
      /rateLimiter\.mode.*"drop"/,
    );
  });

  it('refuses a store whose reserve takes no maxWaitMs: it would keep what calls turned away reserved', () => {
    const limits = { tokensPerInterval: 1, intervalMs: 1000 };
    const old = {
      reserve: (_limiter: string, _key: string, _limits: unknown, _amounts: unknown) => 0,
      adjust: () => undefined,
    };
    expect(() => new RateLimiter({ limits, store: old as never })).toThrow(/rateLimiter\.store.*maxWaitMs/);
    const wrapped = {
      reserve: (...args: unknown[]) => old.reserve(...(args as [string, string, unknown, unknown])),
      adjust: () => {},
    };
    expect(() => new RateLimiter({ limits, store: wrapped as never })).not.toThrow();
  });
});
