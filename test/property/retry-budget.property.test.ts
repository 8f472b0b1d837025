/**
 * A retry budget bounds retries across every caller of a dependency: under sustained
 * failure, the retries made by all callers together never exceed what the budget holds
 * (capacity / cost), however many callers, attempts each and costs; and with successes
 * mixed in, never more than the capacity plus what the successes gave back.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ResiliencePipeline, RetryBudget } from '../../src/index.js';

const transient = () => Object.assign(new Error('HTTP 503'), { status: 503 });

describe('retry budget', () => {
  it('under sustained failure, retries across all callers never exceed capacity / retryCost', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 6 }),
        async (capacity, retryCost, callers, maxRetries) => {
          const budget = new RetryBudget({ capacity, retryCost });
          let attempts = 0;
          const pipelines = Array.from(
            { length: 3 },
            () => new ResiliencePipeline({ retry: { maxRetries, baseDelayMs: 0, budget } }),
          );
          await Promise.allSettled(
            Array.from({ length: callers }, (_, i) =>
              pipelines[i % 3]!.execute(async () => {
                attempts++;
                throw transient();
              }),
            ),
          );
          const retries = attempts - callers;
          expect(retries).toBeLessThanOrEqual(Math.floor(capacity / retryCost));
          expect(retries).toBe(Math.min(callers * maxRetries, Math.floor(capacity / retryCost)));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('with successes mixed in, retries never exceed (capacity + refunds) / retryCost', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 5, max: 100 }),
        fc.array(fc.array(fc.boolean(), { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 30 }),
        async (capacity, plans) => {
          const budget = new RetryBudget({ capacity, retryCost: 5, successRefund: 1 });
          const pipeline = new ResiliencePipeline({ retry: { maxRetries: 4, baseDelayMs: 0, budget } });
          let retries = 0;
          let refunds = 0;
          for (const plan of plans) {
            let attempt = 0;
            await pipeline
              .execute(async () => {
                const fails = plan[attempt++] ?? false;
                if (attempt > 1) retries++;
                if (fails) throw transient();
                refunds += attempt > 1 ? 5 : 1;
              })
              .catch(() => {});
          }
          expect(retries * 5).toBeLessThanOrEqual(capacity + refunds);
        },
      ),
      { numRuns: 150 },
    );
  });
});
