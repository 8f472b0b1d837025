import { describe, expect, it, vi } from 'vitest';
import { currentAttempt } from '../../src/context/index.js';
import { type ChaosOptions, CircuitBreaker, ResiliencePipeline, TimeoutError, TimeoutPolicy } from '../../src/index.js';
import { Attempt, AttemptScope, Call, SignalSlot } from '../../src/policies/context.js';
import { CHAIN_MODES, errorOf, useChainMode } from '../support/chains.js';
import { httpError, useFakeTimers } from '../support/hooks.js';
import { drain } from '../support/streams.js';

useFakeTimers();

/** Chaos whose fault function throws `fault` (rather than returning it), on its first injection only. */
function throwsOnce(fault: unknown): ChaosOptions {
  let injected = 0;
  return {
    injectionRate: 1,
    enabled: () => injected < 1,
    fault: () => {
      injected++;
      throw fault;
    },
  };
}

describe('TimeoutPolicy.run', () => {
  const attempt = () =>
    new Attempt(
      new Call('op', () => undefined, undefined, undefined),
      1,
      new SignalSlot(undefined),
      Infinity,
      new AttemptScope(),
    );

  // A step that throws instead of rejecting (found in review: the timed run once called it outside its promise).
  it('answers a synchronous throw of what it runs with a rejection, and leaves no deadline to fire', async () => {
    const policy = new TimeoutPolicy({ timeoutMs: 100 });
    const boom = new Error('thrown synchronously');
    const abandoned: Promise<unknown>[] = [];
    const ctx = attempt().withOnAbandon((work) => abandoned.push(work));
    let result: Promise<unknown> | undefined;
    expect(() => {
      result = policy.run(ctx, () => {
        throw boom;
      });
    }).not.toThrow();
    await expect(result).rejects.toBe(boom);
    await vi.advanceTimersByTimeAsync(200);
    expect(abandoned).toEqual([]);
  });

  it('applies settle within the time budget: a settle slower than the budget times the run out', async () => {
    const policy = new TimeoutPolicy({ timeoutMs: 100 });
    const abandoned: Promise<unknown>[] = [];
    const ctx = attempt().withOnAbandon((work) => abandoned.push(work));
    let settleDone: (v: string) => void = () => {};
    const result = errorOf(
      policy.run(
        ctx,
        async () => 'raw',
        () => new Promise<string>((resolve) => (settleDone = resolve)),
      ),
    );
    await vi.advanceTimersByTimeAsync(100);
    expect(await result).toMatchObject({ scope: 'attempt', timeoutMs: 100 });
    expect(abandoned).toHaveLength(1);
    let ended = false;
    void abandoned[0]!.then(() => (ended = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(ended).toBe(false); // the settle still runs
    settleDone('primed');
    await vi.advanceTimersByTimeAsync(0);
    expect(ended).toBe(true);
  });

  it('rejects with what settle throws, and resolves with what it returns', async () => {
    const policy = new TimeoutPolicy({ timeoutMs: 100 });
    const bad = new Error('settle failed');
    await expect(
      policy.run(
        attempt(),
        async () => 'raw',
        () => {
          throw bad;
        },
      ),
    ).rejects.toBe(bad);
    await expect(
      policy.run(
        attempt(),
        async () => 'raw',
        (v) => `${v}!`,
      ),
    ).resolves.toBe('raw!');
    await expect(
      policy.run(
        attempt(),
        async () => 'raw',
        async (v) => `${v}?`,
      ),
    ).resolves.toBe('raw?');
  });
});

describe.each(CHAIN_MODES)('timeouts in a pipeline (%s)', (mode) => {
  useChainMode(mode);

  // A step that throws instead of rejecting (found in review: the timed run once called it outside its promise).
  it('a chaos fault function that throws under an attempt timeout fails the attempt (a rejection, retried), never the call synchronously', async () => {
    const boom = httpError(503);
    const pipeline = new ResiliencePipeline({
      attemptTimeoutMs: 1000,
      retry: { maxRetries: 1, baseDelayMs: 10, jitter: 'none' },
      chaos: throwsOnce(boom),
    });
    let result: Promise<unknown> | undefined;
    expect(() => {
      result = pipeline.execute(async () => 'ok');
    }).not.toThrow();
    const settled = result!.then(
      (v) => v,
      (e: unknown) => e,
    );
    await vi.advanceTimersByTimeAsync(10);
    expect(await settled).toBe('ok');
  });

  // A step that throws instead of rejecting (found in review: the timed run once called it outside its promise).
  it('a chaos fault function that throws under a total timeout rejects the call, never throws', async () => {
    const boom = httpError(400);
    const pipeline = new ResiliencePipeline({
      totalTimeoutMs: 1000,
      retry: false,
      chaos: {
        injectionRate: 1,
        fault: () => {
          throw boom;
        },
      },
    });
    let result: Promise<unknown> | undefined;
    expect(() => {
      result = pipeline.execute(async () => 'ok');
    }).not.toThrow();
    expect(await errorOf(result!)).toBe(boom);
  });

  it('attemptTimeoutMs bounds the wait for a stream’s first chunk; the abandoned stream keeps its bulkhead slot and is closed unread', async () => {
    const closed: number[] = [];
    const signals: AbortSignal[] = [];
    let calls = 0;
    const pipeline = new ResiliencePipeline({
      retry: { maxRetries: 1, baseDelayMs: 0 },
      attemptTimeoutMs: 50,
      bulkhead: { maxConcurrent: 2, maxQueue: 0 },
    });
    const result = pipeline.execute(async function* (ctx) {
      const me = ++calls;
      signals.push(ctx.signal);
      try {
        if (me === 1) await new Promise((r) => setTimeout(r, 200));
        yield me;
      } finally {
        closed.push(me);
      }
    });
    await vi.advanceTimersByTimeAsync(50);
    const stream = (await result) as AsyncIterable<number>;
    expect(signals[0]?.aborted).toBe(true);
    expect(signals[0]?.reason).toMatchObject({ scope: 'attempt' });
    expect(pipeline.bulkhead?.active).toBe(2); // the abandoned attempt still runs, and the stream read now
    expect(await drain(stream)).toEqual({ chunks: [2] });
    expect(pipeline.bulkhead?.active).toBe(1);
    await vi.advanceTimersByTimeAsync(150);
    expect(closed).toEqual([2, 1]);
    expect(pipeline.bulkhead?.active).toBe(0);
  });

  it('a plain result late after its attempt timed out frees the bulkhead slot when it comes, not before', async () => {
    const pipeline = new ResiliencePipeline({
      retry: false,
      attemptTimeoutMs: 50,
      bulkhead: { maxConcurrent: 1, maxQueue: 0 },
      stream: false,
    });
    const result = errorOf(pipeline.execute(() => new Promise((r) => setTimeout(() => r('late'), 120))));
    await vi.advanceTimersByTimeAsync(50);
    expect(await result).toBeInstanceOf(TimeoutError);
    expect(pipeline.bulkhead?.active).toBe(1);
    await expect(pipeline.execute(async () => 'x')).rejects.toMatchObject({ code: 'BULKHEAD_REJECTED' });
    await vi.advanceTimersByTimeAsync(70);
    expect(pipeline.bulkhead?.active).toBe(0);
    await expect(pipeline.execute(async () => 'x')).resolves.toBe('x');
  });

  it('a caller abort under an attempt timeout rejects with its reason, and the deadline fires nothing later', async () => {
    const timedOut: unknown[] = [];
    const breaker = new CircuitBreaker({ failureThreshold: 1, halfOpenAfterMs: 60_000 });
    const pipeline = new ResiliencePipeline({ retry: { maxRetries: 2 }, attemptTimeoutMs: 100, circuitBreaker: breaker });
    const controller = new AbortController();
    const signals: AbortSignal[] = [];
    const result = errorOf(
      pipeline.execute((ctx) => {
        signals.push(ctx.signal);
        ctx.signal.addEventListener('abort', () => timedOut.push(ctx.signal.reason));
        return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      }, controller.signal),
    );
    await vi.advanceTimersByTimeAsync(10);
    const reason = new Error('caller left');
    controller.abort(reason);
    expect(await result).toBe(reason);
    await vi.advanceTimersByTimeAsync(500);
    expect(timedOut).toEqual([reason]);
    expect(signals).toHaveLength(1);
    expect(breaker.state).toBe('closed');
  });

  it('a total timeout fires into a retried attempt: the call ends with the total TimeoutError and no attempt follows', async () => {
    let calls = 0;
    const pipeline = new ResiliencePipeline({
      totalTimeoutMs: 100,
      retry: { maxRetries: 10, baseDelayMs: 30, jitter: 'none' },
    });
    const signals: AbortSignal[] = [];
    const result = errorOf(
      pipeline.execute((ctx) => {
        calls++;
        signals.push(ctx.signal);
        if (calls === 1) throw httpError(503);
        return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      }),
    );
    await vi.advanceTimersByTimeAsync(100);
    expect(await result).toMatchObject({ scope: 'total', timeoutMs: 100 });
    expect(signals[1]?.reason).toMatchObject({ scope: 'total' });
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls).toBe(2);
  });

  // A step that throws instead of rejecting (found in review: the timed run once called it outside its promise).
  it('a chaos fault function that throws under an attempt timeout gives its bulkhead slot back', async () => {
    const pipeline = new ResiliencePipeline({
      retry: false,
      attemptTimeoutMs: 100,
      bulkhead: { maxConcurrent: 1, maxQueue: 0 },
      chaos: throwsOnce(httpError(503)),
    });
    try {
      await pipeline.execute(async () => 'first');
    } catch {
      // the injected fault
    }
    // Not advanced to the 100 ms deadline: since the regression the run is left in the
    // deadline queue, and its expiry rejects a promise nobody holds (an unhandled rejection).
    await vi.advanceTimersByTimeAsync(10);
    expect(pipeline.bulkhead?.active).toBe(0);
    await expect(pipeline.execute(async () => 'second')).resolves.toBe('second');
  });

  it('currentAttempt() is each attempt’s own under an attempt timeout, the abandoned one’s too', async () => {
    const seen: Array<[number, number | undefined, boolean | undefined]> = [];
    let calls = 0;
    const pipeline = new ResiliencePipeline({ retry: { maxRetries: 1, baseDelayMs: 0 }, attemptTimeoutMs: 50 });
    const result = pipeline.execute(async (ctx) => {
      const me = ++calls;
      seen.push([me, currentAttempt()?.attempt, currentAttempt()?.signal.aborted]);
      if (me === 1) await new Promise((r) => setTimeout(r, 100));
      seen.push([me, currentAttempt()?.attempt, currentAttempt()?.signal.aborted]);
      expect(currentAttempt()).toBe(ctx);
      return me;
    });
    await vi.advanceTimersByTimeAsync(50);
    expect(await result).toBe(2);
    await vi.advanceTimersByTimeAsync(50);
    expect(seen).toEqual([
      [1, 1, false],
      [2, 2, false],
      [2, 2, false],
      [1, 1, true],
    ]);
  });
});

describe('a throwing step without a timeout', () => {
  it('a chaos fault function that throws gives the bulkhead slot back and is retried', async () => {
    let calls = 0;
    const pipeline = new ResiliencePipeline({
      retry: { maxRetries: 1, baseDelayMs: 0 },
      bulkhead: { maxConcurrent: 1, maxQueue: 0 },
      chaos: throwsOnce(httpError(503)),
    });
    await expect(
      pipeline.execute(async () => {
        calls++;
        return 'second try';
      }),
    ).resolves.toBe('second try');
    expect(calls).toBe(1);
    expect(pipeline.bulkhead?.active).toBe(0);
  });
});
