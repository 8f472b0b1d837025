/**
 * Options that mean what they say: `false` turns each policy off (and does nothing
 * else), invalid values from the field reports fail at construction naming the option,
 * and `execute` takes a positional signal.
 */
import { describe, expect, it, vi } from 'vitest';
import {
  Bulkhead,
  CircuitBreaker,
  RateLimiter,
  type ResilienceOptions,
  ResiliencePipeline,
  RetryPolicy,
  TimeoutPolicy,
} from '../../src/index.js';
import { httpError, useFakeTimersAndTracing } from '../support/hooks.js';

const tracing = useFakeTimersAndTracing();

/** Runs `calls` concurrent calls of `work` through `pipeline`, moving fake time until they settle. */
async function runConcurrently(pipeline: ResiliencePipeline, calls: number, work: () => Promise<unknown>) {
  const results = Array.from({ length: calls }, () =>
    pipeline.execute(work).then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    ),
  );
  await vi.advanceTimersByTimeAsync(60_000);
  return Promise.all(results);
}

describe('false turns a policy off', () => {
  const slow = () => new Promise<string>((resolve) => setTimeout(() => resolve('ok'), 100));

  it.each<[string, ResilienceOptions, (pipeline: ResiliencePipeline) => Promise<void>]>([
    [
      'retry: false — a transient failure is not retried',
      { retry: false },
      async (pipeline) => {
        const work = vi.fn(() => Promise.reject(httpError(503)));
        await runConcurrently(pipeline, 1, work);
        expect(work).toHaveBeenCalledTimes(1);
      },
    ],
    [
      'circuitBreaker: false — ten failures never open anything',
      { retry: false, circuitBreaker: false },
      async (pipeline) => {
        const results = await runConcurrently(pipeline, 10, () => Promise.reject(httpError(503)));
        expect(results.every((r) => (r as { error: { status?: number } }).error.status === 503)).toBe(true);
      },
    ],
    [
      'hedging: false — the work runs once',
      { hedging: false },
      async (pipeline) => {
        const work = vi.fn(slow);
        await runConcurrently(pipeline, 1, work);
        expect(work).toHaveBeenCalledTimes(1);
      },
    ],
    [
      'bulkhead: false — 20 concurrent calls all run',
      { bulkhead: false },
      async (pipeline) => {
        const results = await runConcurrently(pipeline, 20, slow);
        expect(results).toEqual(Array(20).fill({ value: 'ok' }));
      },
    ],
    [
      'rateLimiter: false — 50 calls at once all run',
      { rateLimiter: false },
      async (pipeline) => {
        const results = await runConcurrently(pipeline, 50, slow);
        expect(results).toEqual(Array(50).fill({ value: 'ok' }));
      },
    ],
    [
      'fallback: false — the error reaches the caller',
      { retry: false, fallback: false },
      async (pipeline) => {
        const [result] = await runConcurrently(pipeline, 1, () => Promise.reject(httpError(400)));
        expect(result).toMatchObject({ error: { status: 400 } });
      },
    ],
    [
      'chaos: false — nothing injected',
      { chaos: false },
      async (pipeline) => {
        expect(await runConcurrently(pipeline, 5, slow)).toEqual(Array(5).fill({ value: 'ok' }));
      },
    ],
    [
      'attemptTimeoutMs: false and totalTimeoutMs: false — a 50 s call is waited for',
      { attemptTimeoutMs: false, totalTimeoutMs: false },
      async (pipeline) => {
        const [result] = await runConcurrently(
          pipeline,
          1,
          () => new Promise((resolve) => setTimeout(() => resolve('late'), 50_000)),
        );
        expect(result).toEqual({ value: 'late' });
      },
    ],
    [
      'attemptSpans: false — only the call span',
      { attemptSpans: false },
      async (pipeline) => {
        await runConcurrently(pipeline, 1, slow);
        expect(
          tracing()
            .spans()
            .map((s) => s.name),
        ).toEqual(['op']);
      },
    ],
  ])('%s', async (_, options, check) => {
    await check(new ResiliencePipeline({ name: 'op', ...options }));
  });

  it('is the same as leaving the option out (retry aside, which is on by default)', () => {
    const off = new ResiliencePipeline({
      circuitBreaker: false,
      hedging: false,
      bulkhead: false,
      rateLimiter: false,
      fallback: false,
      chaos: false,
    });
    expect([off.circuitBreaker, off.hedging, off.bulkhead, off.rateLimiter, off.fallback]).toEqual(Array(5).fill(undefined));
    expect(off.retry).toBeInstanceOf(RetryPolicy);
    expect(new ResiliencePipeline({ retry: false }).retry).toBeUndefined();
  });
});

describe('invalid options fail at construction, naming the option', () => {
  it.each<[string, () => unknown, RegExp, ErrorConstructor]>([
    ['retry: 0', () => new ResiliencePipeline({ retry: 0 as never }), /option retry: .*got 0/, TypeError],
    ['retry: null', () => new ResiliencePipeline({ retry: null as never }), /option retry: .*got null/, TypeError],
    ['bulkhead: true', () => new ResiliencePipeline({ bulkhead: true as never }), /option bulkhead: /, TypeError],
    [
      'circuitBreaker: "on"',
      () => new ResiliencePipeline({ circuitBreaker: 'on' as never }),
      /option circuitBreaker: /,
      TypeError,
    ],
    [
      'attemptTimeoutMs: 0',
      () => new ResiliencePipeline({ attemptTimeoutMs: 0 }),
      /option attemptTimeoutMs: .*got 0/,
      RangeError,
    ],
    [
      'totalTimeoutMs: NaN',
      () => new ResiliencePipeline({ totalTimeoutMs: Number.NaN }),
      /option totalTimeoutMs: .*NaN/,
      RangeError,
    ],
    ['a misspelt option', () => new ResiliencePipeline({ retries: 3 } as never), /Unknown option retries/, TypeError],
    ['clock: Date', () => new ResiliencePipeline({ clock: Date as never }), /option clock: expected a Clock/, TypeError],
    ['retry.clock: {}', () => new RetryPolicy({ clock: {} as never }), /option retry\.clock/, TypeError],
    ['TimeoutPolicy({})', () => new TimeoutPolicy({} as never), /option timeout\.timeoutMs: .*undefined/, TypeError],
    ['options not an object', () => new Bulkhead(5 as never), /option bulkhead: expected an options object/, TypeError],
    ['store: null', () => new CircuitBreaker({ store: null as never }), /option circuitBreaker\.store/, TypeError],
    [
      'a burst below one call',
      () => new RateLimiter({ limits: { tokensPerInterval: 0.5, intervalMs: 1000 } }),
      /option rateLimiter\.limits\.burst: expected >= 1/,
      RangeError,
    ],
    ['maxRetries: 2.5', () => new RetryPolicy({ maxRetries: 2.5 }), /option retry\.maxRetries: .*2\.5/, RangeError],
  ])('%s', (_, construct, message, type) => {
    expect(construct).toThrow(type);
    expect(construct).toThrow(message);
  });
});

describe('execute arguments', () => {
  it('takes the caller signal positionally, as execute(fn, signal)', async () => {
    const controller = new AbortController();
    const pipeline = new ResiliencePipeline({ retry: false });
    const result = pipeline.execute(
      (ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('stopped')))),
      controller.signal,
    );
    controller.abort(new Error('user cancelled'));
    await expect(result).rejects.toThrow('user cancelled');
    const policy = new RetryPolicy();
    const aborted = AbortSignal.abort(new Error('already'));
    await expect(policy.execute(() => 'never', aborted)).rejects.toThrow('already');
  });

  it('rejects anything else as a TypeError naming it', () => {
    const pipeline = new ResiliencePipeline();
    expect(() => pipeline.execute(() => 1, 'signal' as never)).toThrow(/option execute: expected an options object/);
    expect(() => pipeline.execute(() => 1, { signal: {} } as never)).toThrow(/option execute\.signal: expected an AbortSignal/);
    expect(() => pipeline.execute(() => 1, { singal: undefined } as never)).toThrow(/Unknown option execute\.singal/);
    expect(() => pipeline.execute('work' as never)).toThrow(/argument work of execute: expected a function/);
    expect(() => new RetryPolicy().execute(() => 1, 5 as never)).toThrow(TypeError);
  });
});

describe('decorator options', () => {
  it('resilient() and traced() check their own options at wrapping time', async () => {
    const { resilient, traced } = await import('../../src/index.js');
    const fn = async () => 1;
    expect(() => resilient(fn, { signal: 'abort' as never })).toThrow(/option signal: expected a function/);
    expect(() => resilient(fn, { attributes: {} as never })).toThrow(/option attributes: expected a function/);
    expect(() => resilient(fn, { retires: 1 } as never)).toThrow(/Unknown option retires/);
    expect(() => traced(fn, { name: '' })).toThrow(/option name: expected a non-empty string/);
    expect(() => traced(fn, { kind: 9 as never })).toThrow(RangeError);
    expect(() => traced(fn, { resultAttributes: 1 as never })).toThrow(/option resultAttributes/);
    expect(() => traced(fn, { attribute: () => ({}) } as never)).toThrow(/Unknown option attribute/);
    expect(() => traced(fn, null as never)).toThrow(TypeError);
  });
});
