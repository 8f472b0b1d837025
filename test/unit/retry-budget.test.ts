import { describe, expect, it } from 'vitest';
import { ResiliencePipeline, RetryBudget, type RetryBudgetStore, TimeoutError } from '../../src/index.js';
import { httpError, useFakeTimersAndTracing } from '../support/hooks.js';

const tracing = useFakeTimersAndTracing();

describe('RetryBudget', () => {
  it('AWS standard mode: a retry costs 5, after a timeout 10; an empty budget gives up with reason budget', async () => {
    const budget = new RetryBudget({ capacity: 15 });
    expect(budget.costOf(httpError(503))).toBe(5);
    expect(budget.costOf(new TimeoutError('attempt', 100))).toBe(10);
    const pipeline = new ResiliencePipeline({ name: 'dep', retry: { maxRetries: 5, baseDelayMs: 0, budget } });
    let attempts = 0;
    await expect(
      pipeline.execute(async () => {
        attempts++;
        throw httpError(503);
      }),
    ).rejects.toMatchObject({ status: 503 });
    expect(attempts).toBe(4); // 3 retries × 5 = 15 tokens
    const events = tracing()
      .byName('dep')[0]!
      .events.filter((e) => e.name === 'resilience.retry.exhausted');
    expect(events[0]?.attributes).toMatchObject({ 'resilience.retry.give_up_reason': 'budget', 'resilience.attempts': 4 });
  });

  it('a success refunds what its last retry took, or 1 without a retry', async () => {
    const given: number[] = [];
    const store: RetryBudgetStore = {
      take: () => true,
      give: (_name, amount) => void given.push(amount),
    };
    const budget = new RetryBudget({ store });
    const pipeline = new ResiliencePipeline({ retry: { baseDelayMs: 0, budget } });
    await pipeline.execute(async () => 'ok');
    let n = 0;
    await pipeline.execute(async () => {
      if (n++ === 0) throw httpError(503);
      return 'ok';
    });
    expect(given).toEqual([1, 5]);
  });

  it('a failing shared store is replaced by a budget of this process', async () => {
    const budget = new RetryBudget({
      capacity: 5,
      store: { take: () => Promise.reject(new Error('down')), give: () => Promise.reject(new Error('down')) },
    });
    const pipeline = new ResiliencePipeline({ retry: { maxRetries: 3, baseDelayMs: 0, budget } });
    let attempts = 0;
    await pipeline
      .execute(async () => {
        attempts++;
        throw httpError(503);
      })
      .catch(() => {});
    expect(attempts).toBe(2);
  });

  it('rejects bad options at construction', () => {
    expect(() => new RetryBudget({ capacity: 0 })).toThrow(/retryBudget\.capacity/);
    expect(() => new ResiliencePipeline({ retry: { budget: {} as never } })).toThrow(/retry\.budget/);
  });
});
