/**
 * Limits hold at the dependency (shared/DESIGN.md, "Execution model"), with a virtual
 * clock that behaves like Node's timers (a delay above 2^31−1 ms fires after 1 ms):
 * - the requests that reach the work never exceed the rate limiter's budget over any
 *   window, retries and hedges included;
 * - the work running at once never exceeds the bulkhead's `maxConcurrent`, attempts
 *   abandoned by their attempt timeout included (the work ignores its signal, as a
 *   dependency that does not honour cancellation would);
 * - no wait ends before its duration, for any accepted duration.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Bulkhead,
  ChaosPolicy,
  HedgingPolicy,
  RateLimiter,
  ResiliencePipeline,
  RetryPolicy,
  TimeoutError,
  TimeoutPolicy,
} from '../../src/index.js';
import { STAMP_WINDOW_MS } from '../../src/policies/deadline-queue.js';
import { VirtualClock } from './virtual-clock.js';

const transient = () => Object.assign(new Error('HTTP 503'), { status: 503 });

/** How one call's attempts behave: each fails (transient) or succeeds after some time. */
const attemptPlan = fc.array(fc.record({ fails: fc.boolean(), durationMs: fc.integer({ min: 0, max: 400 }) }), {
  minLength: 1,
  maxLength: 4,
});

const repeater = fc.oneof(
  fc.record({
    kind: fc.constant('retry' as const),
    maxRetries: fc.integer({ min: 0, max: 3 }),
    baseDelayMs: fc.integer({ min: 0, max: 300 }),
  }),
  fc.record({
    kind: fc.constant('hedging' as const),
    maxHedgedAttempts: fc.integer({ min: 1, max: 3 }),
    delayMs: fc.integer({ min: 0, max: 300 }),
  }),
);

type Repeater = typeof repeater extends fc.Arbitrary<infer R> ? R : never;

function repeaterOptions(r: Repeater) {
  return r.kind === 'retry'
    ? { retry: { maxRetries: r.maxRetries, baseDelayMs: r.baseDelayMs, maxDelayMs: Math.max(300, r.baseDelayMs) } }
    : { retry: false as const, hedging: { maxHedgedAttempts: r.maxHedgedAttempts, delayMs: r.delayMs } };
}

/** Work following `plan` (attempt n uses plan[n-1], the last one repeating), reporting each request. */
function plannedWork(clock: VirtualClock, plan: Plan, onStart: () => void, onEnd: () => void) {
  return (ctx: { attempt: number }) => {
    const step = plan[Math.min(ctx.attempt, plan.length) - 1]!;
    onStart();
    // The work ignores its signal: abandoned, it still runs for its whole duration.
    return new Promise<string>((resolve, reject) => {
      clock.setTimeout(() => {
        onEnd();
        if (step.fails) reject(transient());
        else resolve('ok');
      }, step.durationMs);
    });
  };
}

type Plan = ReadonlyArray<{ fails: boolean; durationMs: number }>;

/** Starts each call at its time (ms after now) following its plan, and runs the clock until all have settled. */
async function runCalls(
  clock: VirtualClock,
  pipeline: ResiliencePipeline,
  calls: Array<[number, Plan]>,
  onStart: () => void,
  onEnd: () => void = () => {},
): Promise<void> {
  const done: Promise<unknown>[] = [];
  const start = clock.now();
  for (const [at, plan] of calls.sort((a, b) => a[0] - b[0])) {
    await clock.advance(start + at - clock.now());
    done.push(pipeline.execute(plannedWork(clock, plan, onStart, onEnd)).catch(() => undefined));
  }
  await clock.runAll();
  await Promise.all(done);
}

describe('limits at the dependency (property)', () => {
  it('requests reaching the work never exceed the rate limit over any window, retries and hedges included', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 50, max: 1000 }),
        repeater,
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2000 }), attemptPlan), { minLength: 1, maxLength: 12 }),
        fc.constantFrom(100, 1000, Infinity),
        async (tokens, intervalMs, rep, calls, maxWaitMs) => {
          const clock = new VirtualClock();
          const limiter = new RateLimiter({ limits: { tokensPerInterval: tokens, intervalMs }, maxWaitMs, clock });
          const pipeline = new ResiliencePipeline({ ...repeaterOptions(rep), rateLimiter: limiter, clock });
          const sent: number[] = [];
          await runCalls(clock, pipeline, calls, () => sent.push(clock.now()));
          // A token bucket admits at most burst + rate × W in any window of W ms.
          const rate = tokens / intervalMs;
          for (let i = 0; i < sent.length; i++) {
            for (const windowMs of [0, intervalMs / 2, intervalMs, 2 * intervalMs]) {
              const inWindow = sent.filter((t) => t >= sent[i]! && t <= sent[i]! + windowMs).length;
              expect(inWindow).toBeLessThanOrEqual(tokens + rate * windowMs + 1e-9);
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('work running at once never exceeds maxConcurrent, abandoned attempts included', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 20, max: 300 }),
        repeater,
        fc.array(fc.tuple(fc.integer({ min: 0, max: 1000 }), attemptPlan), { minLength: 1, maxLength: 10 }),
        async (maxConcurrent, maxQueue, attemptTimeoutMs, rep, calls) => {
          const clock = new VirtualClock();
          const bulkhead = new Bulkhead({ maxConcurrent, maxQueue, clock });
          const pipeline = new ResiliencePipeline({ ...repeaterOptions(rep), bulkhead, attemptTimeoutMs, clock });
          let running = 0;
          let most = 0;
          await runCalls(
            clock,
            pipeline,
            calls,
            () => {
              running++;
              most = Math.max(most, running);
            },
            () => running--,
          );
          expect(most).toBeLessThanOrEqual(maxConcurrent);
          expect(running).toBe(0);
          expect(bulkhead.active).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });

  /** Durations a user may give: small, around one timer's 2^31−1 ms limit, and far beyond it. */
  const duration = fc.oneof(
    fc.integer({ min: 1, max: 5000 }),
    fc.integer({ min: 2 ** 31 - 3, max: 2 ** 31 + 3 }),
    fc.integer({ min: 2 ** 32, max: 1e13 }),
  );

  it('no backoff wait ends before its duration', async () => {
    await fc.assert(
      fc.asyncProperty(duration, async (delayMs) => {
        const clock = new VirtualClock();
        const starts: number[] = [];
        const retry = new RetryPolicy({
          maxRetries: 1,
          backoff: 'constant',
          jitter: 'none',
          baseDelayMs: delayMs,
          maxDelayMs: delayMs,
          clock,
        });
        const result = retry.execute(() => {
          starts.push(clock.now());
          if (starts.length === 1) throw transient();
          return 'ok';
        });
        await clock.runAll();
        await expect(result).resolves.toBe('ok');
        expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(delayMs);
      }),
      { numRuns: 100 },
    );
  });

  it('no timeout fires before its duration', async () => {
    await fc.assert(
      fc.asyncProperty(
        duration,
        fc.constantFrom('attempt', 'total') as fc.Arbitrary<'attempt' | 'total'>,
        async (timeoutMs, scope) => {
          const clock = new VirtualClock();
          const started = clock.now();
          let endedAt = 0;
          const result = new TimeoutPolicy({ timeoutMs, scope, clock })
            .execute(() => new Promise(() => {}))
            .catch((e: unknown) => {
              endedAt = clock.now();
              return e;
            });
          await clock.runAll();
          expect(await result).toBeInstanceOf(TimeoutError);
          expect(endedAt - started).toBeGreaterThanOrEqual(timeoutMs);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('attempt timeouts in bursts: each fires no earlier than its duration after its own start, at most a stamp window later unless the event loop was busy', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5000 }),
        fc.array(
          fc.record({
            gapMs: fc.integer({ min: 0, max: 3 }),
            // Fractions of a ms in 1/1024ths: exact in binary, so the sums below carry no
            // rounding error against the bound (which a tight case meets exactly).
            busyMs: fc.oneof(
              fc.constant(0),
              fc.integer({ min: 103, max: 3072 }).map((n) => n / 1024),
            ),
            count: fc.integer({ min: 1, max: 4 }),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        async (timeoutMs, groups) => {
          const clock = new VirtualClock();
          const policy = new TimeoutPolicy({ timeoutMs, clock });
          const waits: Array<Promise<number>> = [];
          const busyMs = groups.reduce((sum, g) => sum + g.busyMs * g.count, 0);
          // A group's attempts start `gapMs` after the group before (0: in the same turn),
          // each after `busyMs` of synchronous work during which no timer can fire.
          const start = (i: number): void => {
            for (let k = 0; k < groups[i]!.count; k++) {
              clock.busy(groups[i]!.busyMs);
              const started = clock.now();
              waits.push(
                policy
                  .execute(() => new Promise(() => {}))
                  .then(
                    () => Number.NaN,
                    () => clock.now() - started,
                  ),
              );
            }
            const next = groups[i + 1];
            if (next === undefined) return;
            if (next.gapMs === 0) start(i + 1);
            else clock.setTimeout(() => start(i + 1), next.gapMs);
          };
          start(0);
          await clock.runAll();
          for (const waited of await Promise.all(waits)) {
            expect(waited).toBeGreaterThanOrEqual(timeoutMs);
            // Late by at most the window, the busy time, and the 1 ms a timer for a fractional deadline rounds up to.
            expect(waited).toBeLessThanOrEqual(timeoutMs + STAMP_WINDOW_MS + busyMs + 1);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('no hedging delay and no chaos latency ends before its duration', async () => {
    await fc.assert(
      fc.asyncProperty(duration, async (delayMs) => {
        const clock = new VirtualClock();
        const starts: number[] = [];
        const hedged = new HedgingPolicy({ maxHedgedAttempts: 1, delayMs, clock }).execute(() => {
          starts.push(clock.now());
          return starts.length === 1 ? new Promise(() => {}) : 'hedge';
        });
        await clock.runAll();
        await expect(hedged).resolves.toBe('hedge');
        expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(delayMs);

        const started = clock.now();
        let ranAt = 0;
        const slowed = new ChaosPolicy({ injectionRate: 1, latencyMs: delayMs, clock }).execute(() => {
          ranAt = clock.now();
        });
        await clock.runAll();
        await slowed;
        expect(ranAt - started).toBeGreaterThanOrEqual(delayMs);
      }),
      { numRuns: 100 },
    );
  });

  it('no bulkhead queue timeout and no rate-limit wait ends before its duration', async () => {
    await fc.assert(
      fc.asyncProperty(duration, async (waitMs) => {
        const clock = new VirtualClock();
        const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueue: 1, queueTimeoutMs: waitMs, clock });
        const held = bulkhead.execute(() => new Promise(() => {}));
        const started = clock.now();
        let rejectedAt = 0;
        const queued = bulkhead
          .execute(() => 'never')
          .catch((e: unknown) => {
            rejectedAt = clock.now();
            return e;
          });
        void held;
        await clock.runAll();
        expect(await queued).toMatchObject({ code: 'BULKHEAD_REJECTED' });
        expect(rejectedAt - started).toBeGreaterThanOrEqual(waitMs);

        // One token per `waitMs`: the second call waits a whole interval.
        const limiter = new RateLimiter({ limits: { tokensPerInterval: 1, intervalMs: waitMs }, maxWaitMs: Infinity, clock });
        const times: number[] = [];
        const calls = [limiter.execute(() => times.push(clock.now())), limiter.execute(() => times.push(clock.now()))];
        await clock.runAll();
        await Promise.all(calls);
        expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(waitMs);
      }),
      { numRuns: 100 },
    );
  });
});
