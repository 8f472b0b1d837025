/**
 * Properties of retry, backoff, bulkhead and rate limiter under random inputs, with
 * fake timers (no real sleeps).
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Backoff, Bulkhead, type Jitter, RateLimiter, ResiliencePipeline, RetryPolicy } from '../../src/index.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Settles `promise` by running fake timers; returns its outcome. */
async function settle<T>(promise: Promise<T>): Promise<{ ok: boolean; value?: T; error?: unknown }> {
  let outcome: { ok: boolean; value?: T; error?: unknown } | undefined;
  promise.then(
    (value) => (outcome = { ok: true, value }),
    (error: unknown) => (outcome = { ok: false, error }),
  );
  for (let i = 0; outcome === undefined && i < 10_000; i++) await vi.advanceTimersToNextTimerAsync();
  return outcome!;
}

describe('backoff (property)', () => {
  it('every jitter kind stays inside its formula bounds', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 0, max: 60_000 }),
        fc.constantFrom<Jitter>('full', 'equal', 'none', 'decorrelated'),
        fc.constantFrom('exponential' as const, 'linear' as const, 'constant' as const),
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 1, maxLength: 30 }),
        (base, extra, jitter, backoff, randoms) => {
          const cap = base + extra;
          const policy = new Backoff({ baseDelayMs: base, maxDelayMs: cap, jitter, backoff });
          let i = 0;
          const delays = policy.sequence(() => randoms[i++ % randoms.length]!);
          let previous = base;
          for (let retry = 1; retry <= randoms.length; retry++) {
            const b = policy.base(retry);
            const d = delays.next(retry, undefined);
            const [low, high] =
              jitter === 'full'
                ? [0, b]
                : jitter === 'equal'
                  ? [b / 2, b]
                  : jitter === 'none'
                    ? [b, b]
                    : [base, Math.min(cap, previous * 3)];
            expect(d).toBeGreaterThanOrEqual(low - 1e-9);
            expect(d).toBeLessThanOrEqual(high + 1e-9);
            expect(d).toBeLessThanOrEqual(cap + 1e-9);
            previous = d;
          }
        },
      ),
    );
  });
});

describe('retry (property)', () => {
  it('never exceeds maxRetries and never outlives the total timeout', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 1, max: 3000 }),
        fc.integer({ min: 0, max: 500 }),
        fc.array(fc.record({ fails: fc.boolean(), durationMs: fc.nat(400), retryAfterS: fc.option(fc.nat(2)) }), {
          minLength: 1,
          maxLength: 10,
        }),
        async (maxRetries, totalTimeoutMs, baseDelayMs, script) => {
          let attempts = 0;
          const pipeline = new ResiliencePipeline({
            retry: { maxRetries, baseDelayMs, maxDelayMs: baseDelayMs * 8 },
            totalTimeoutMs,
          });
          const started = Date.now();
          const outcome = await settle(
            pipeline.execute(async () => {
              const s = script[attempts++ % script.length]!;
              await new Promise((resolve) => setTimeout(resolve, s.durationMs));
              if (s.fails) {
                const headers = s.retryAfterS === null ? {} : { 'retry-after': String(s.retryAfterS) };
                throw Object.assign(new Error('HTTP 503'), { status: 503, headers });
              }
              return 'ok';
            }),
          );
          expect(attempts).toBeLessThanOrEqual(maxRetries + 1);
          expect(Date.now() - started).toBeLessThanOrEqual(totalTimeoutMs);
          if (outcome.ok) expect(outcome.value).toBe('ok');
          await vi.runAllTimersAsync(); // let abandoned attempts finish before the next run
        },
      ),
      { numRuns: 150 },
    );
  });

  it('with no total timeout, makes exactly min(failures + 1, maxRetries + 1) attempts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 8 }), async (maxRetries, failures) => {
        let attempts = 0;
        const retry = new RetryPolicy({ maxRetries, baseDelayMs: 10 });
        await settle(
          retry.execute(async () => {
            if (attempts++ < failures) throw Object.assign(new Error('reset'), { code: 'ECONNRESET' });
            return 'ok';
          }),
        );
        expect(attempts).toBe(Math.min(failures + 1, maxRetries + 1));
      }),
      { numRuns: 100 },
    );
  });
});

describe('bulkhead (property)', () => {
  it('never runs more than maxConcurrent calls at once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 4 }),
        fc.array(fc.record({ arriveMs: fc.nat(200), durationMs: fc.nat(100) }), { maxLength: 25 }),
        async (maxConcurrent, maxQueue, calls) => {
          const bulkhead = new Bulkhead({ maxConcurrent, maxQueue, queueTimeoutMs: 150 });
          let running = 0;
          let peak = 0;
          const all = calls.map(
            (c) =>
              new Promise<void>((resolve) =>
                setTimeout(() => {
                  bulkhead
                    .execute(async () => {
                      running++;
                      peak = Math.max(peak, running);
                      await new Promise((r) => setTimeout(r, c.durationMs));
                      running--;
                    })
                    .catch(() => {})
                    .finally(resolve);
                }, c.arriveMs),
              ),
          );
          await settle(Promise.all(all));
          expect(peak).toBeLessThanOrEqual(maxConcurrent);
          expect(bulkhead.active).toBe(0);
          expect(bulkhead.queued).toBe(0);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('rate limiter (property)', () => {
  it('never admits more than burst + rate x W over any window W', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 10, max: 1000 }),
        fc.integer({ min: 0, max: 5 }),
        fc.constantFrom('wait' as const, 'reject' as const),
        fc.array(fc.record({ arriveMs: fc.nat(2000), cost: fc.integer({ min: 1, max: 3 }) }), { maxLength: 40 }),
        async (tokensPerInterval, intervalMs, extraBurst, mode, calls) => {
          const burst = Math.max(3, tokensPerInterval) + extraBurst;
          const limiter = new RateLimiter({
            limits: { tokensPerInterval, intervalMs, burst },
            mode,
            maxWaitMs: 500,
            cost: ([c]) => Number(c),
          });
          const admitted: Array<{ at: number; cost: number }> = [];
          const rate = tokensPerInterval / intervalMs;
          // The cost reaches the limiter as the call's argument, as from a wrapped function.
          const wrapped = new ResiliencePipeline({ retry: false, rateLimiter: limiter });
          const tasks = calls.map(
            (c) =>
              new Promise<void>((resolve) =>
                setTimeout(() => {
                  wrapped
                    .call('call', async () => admitted.push({ at: Date.now(), cost: c.cost }), { args: [c.cost] })
                    .catch(() => {})
                    .finally(resolve);
                }, c.arriveMs),
              ),
          );
          await settle(Promise.all(tasks));
          for (const from of admitted) {
            for (const to of admitted) {
              if (to.at < from.at) continue;
              const spent = admitted.filter((a) => a.at >= from.at && a.at <= to.at).reduce((sum, a) => sum + a.cost, 0);
              expect(spent).toBeLessThanOrEqual(burst + rate * (to.at - from.at) + 1e-6);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
