/**
 * Every public options type, fuzzed: a valid options object constructs and runs; the
 * same object with one option made invalid (wrong type, NaN, out of range, not a
 * function or clock) or with an unknown key throws a TypeError/RangeError naming that
 * option, at construction.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Bulkhead,
  ChaosPolicy,
  CircuitBreaker,
  type Clock,
  FallbackPolicy,
  HedgingPolicy,
  RateLimiter,
  ResiliencePipeline,
  RetryPolicy,
  TimeoutPolicy,
} from '../../src/index.js';

/** A clock whose timers fire on the next real macrotask, moving its time to their deadline. */
function virtualClock(): Clock {
  let now = 1_000_000;
  return {
    now: () => now,
    setTimeout: (callback, delayMs) =>
      setTimeout(() => {
        now += delayMs;
        callback();
      }, 0),
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  };
}

type Schema = Record<string, { valid: fc.Arbitrary<unknown>; invalid: fc.Arbitrary<unknown> }>;

const notNumbers = [null, true, '5', {}, [], () => 1, 5n];
const ms = (min = 0, max = 5000) => fc.integer({ min, max });
const invalidDuration = fc.constantFrom(-1, -0.5, Number.NaN, Infinity, -Infinity, ...notNumbers);
const invalidDurationOrInfinity = fc.constantFrom(-1, Number.NaN, -Infinity, ...notNumbers);
const invalidCount = fc.constantFrom(0, -1, 1.5, Number.NaN, Infinity, ...notNumbers);
const invalidRatio = fc.constantFrom(0, -0.1, 1.01, Number.NaN, Infinity, ...notNumbers);
const invalidFunction = fc.constantFrom('fn', 1, {}, null, true, []);
const invalidClock = fc.constantFrom(
  null,
  'clock',
  {},
  { now: () => 1 },
  { now: 1, setTimeout: () => 1, clearTimeout: () => {} },
  { now: () => 1, setTimeout: () => 1, clearTimeout: () => {}, wallNow: 5 },
);
const invalidString = fc.constantFrom('', 1, null, {}, true);
const invalidBoolean = fc.constantFrom('yes', 1, 0, null, {});
const never = () => false;

const clockEntry = { valid: fc.constant(undefined), invalid: invalidClock };
const fn = { valid: fc.constant(never), invalid: invalidFunction };

const backoff: Schema = {
  backoff: { valid: fc.constantFrom('exponential', 'linear', 'constant', () => 0), invalid: fc.constantFrom('cubic', 1, null) },
  baseDelayMs: { valid: ms(0, 50), invalid: invalidDuration },
  maxDelayMs: { valid: ms(50, 100), invalid: invalidDuration },
  jitter: { valid: fc.constantFrom('full', 'equal', 'decorrelated', 'none'), invalid: fc.constantFrom('some', 0, null) },
};

const schemas: Record<string, { prefix: string; schema: Schema; required?: Record<string, fc.Arbitrary<unknown>> }> = {
  retry: {
    prefix: 'retry.',
    schema: {
      ...backoff,
      maxRetries: {
        valid: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constant(Infinity)),
        invalid: fc.constantFrom(-1, 1.5, Number.NaN, -Infinity, ...notNumbers),
      },
      retryOn: fn,
      retryOnResult: fn,
      maxRetryAfterMs: { valid: fc.oneof(ms(), fc.constant(Infinity)), invalid: invalidDurationOrInfinity },
      wrapErrors: { valid: fc.boolean(), invalid: invalidBoolean },
      onRetry: fn,
      onGiveUp: fn,
      random: { valid: fc.constant(() => 0.5), invalid: invalidFunction },
      clock: clockEntry,
    },
  },
  circuitBreaker: {
    prefix: 'circuitBreaker.',
    schema: {
      name: { valid: fc.constantFrom('db', 'llm'), invalid: invalidString },
      failureThreshold: { valid: fc.integer({ min: 1, max: 10 }), invalid: invalidCount },
      failureRateThreshold: { valid: fc.double({ min: 0.01, max: 1, noNaN: true }), invalid: invalidRatio },
      slowCallDurationMs: { valid: ms(1), invalid: fc.constantFrom(0, -1, Number.NaN, Infinity, ...notNumbers) },
      slowCallRateThreshold: { valid: fc.double({ min: 0.01, max: 1, noNaN: true }), invalid: invalidRatio },
      minimumThroughput: { valid: fc.integer({ min: 1, max: 10 }), invalid: invalidCount },
      windowMs: { valid: ms(1), invalid: fc.constantFrom(0, -1, Number.NaN, Infinity, ...notNumbers) },
      halfOpenAfterMs: { valid: ms(), invalid: invalidDuration },
      halfOpenMaxCalls: { valid: fc.integer({ min: 1, max: 3 }), invalid: invalidCount },
      probeTimeoutMs: {
        valid: fc.oneof(ms(1), fc.constant(Infinity)),
        invalid: fc.constantFrom(0, -1, Number.NaN, ...notNumbers),
      },
      successThreshold: { valid: fc.integer({ min: 1, max: 3 }), invalid: invalidCount },
      isFailure: fn,
      onOpen: fn,
      onHalfOpen: fn,
      onClose: fn,
      onReject: fn,
      syncIntervalMs: { valid: ms(), invalid: invalidDuration },
      store: { valid: fc.constant(undefined), invalid: fc.constantFrom(null, 'redis', {}, { publish: () => {} }) },
      clock: clockEntry,
    },
  },
  bulkhead: {
    prefix: 'bulkhead.',
    schema: {
      name: { valid: fc.constant('pool'), invalid: invalidString },
      maxConcurrent: { valid: fc.integer({ min: 1, max: 20 }), invalid: invalidCount },
      maxQueue: {
        valid: fc.oneof(fc.nat(10), fc.constant(Infinity)),
        invalid: fc.constantFrom(-1, 1.5, Number.NaN, ...notNumbers),
      },
      queueTimeoutMs: { valid: fc.oneof(ms(), fc.constant(Infinity)), invalid: invalidDurationOrInfinity },
      clock: clockEntry,
    },
  },
  rateLimiter: {
    prefix: 'rateLimiter.',
    required: { limits: fc.record({ tokensPerInterval: fc.integer({ min: 1, max: 100 }), intervalMs: ms(1) }) },
    schema: {
      limits: {
        valid: fc.constant({
          requests: { tokensPerInterval: 5, intervalMs: 1000 },
          tokens: { tokensPerInterval: 100, intervalMs: 1000 },
        }),
        invalid: fc.constantFrom(
          null,
          5,
          [],
          {},
          { tokensPerInterval: 0, intervalMs: 1 },
          { tokensPerInterval: 1 },
          { tokensPerInterval: 1, intervalMs: Infinity },
          { rpm: { tokensPerInterval: 1, intervalMs: 1, refill: 1 } },
        ),
      },
      name: { valid: fc.constant('rpm'), invalid: invalidString },
      mode: { valid: fc.constantFrom('wait', 'reject'), invalid: fc.constantFrom('queue', 1, null) },
      maxWaitMs: { valid: fc.oneof(ms(), fc.constant(Infinity)), invalid: invalidDurationOrInfinity },
      key: { valid: fc.constant(() => 'k'), invalid: invalidFunction },
      cost: { valid: fc.constant(() => 1), invalid: invalidFunction },
      actualCost: { valid: fc.constant(() => 1), invalid: invalidFunction },
      store: { valid: fc.constant(undefined), invalid: fc.constantFrom(null, 'redis', {}, { reserve: () => 0 }) },
      clock: clockEntry,
    },
  },
  timeout: {
    prefix: 'timeout.',
    required: { timeoutMs: ms(1) },
    schema: {
      scope: { valid: fc.constantFrom('attempt', 'total'), invalid: fc.constantFrom('call', 1, null) },
      clock: clockEntry,
    },
  },
  hedging: {
    prefix: 'hedging.',
    schema: {
      maxHedgedAttempts: {
        valid: fc.integer({ min: 0, max: 3 }),
        invalid: fc.constantFrom(-1, 1.5, Number.NaN, Infinity, ...notNumbers),
      },
      delayMs: { valid: ms(), invalid: invalidDuration },
      shouldHedge: fn,
      clock: clockEntry,
    },
  },
  fallback: {
    prefix: 'fallback.',
    required: { steps: fc.constantFrom(() => 'fallback', [{ name: 'canned', handler: () => 'fallback' }]) },
    schema: { shouldFallback: fn },
  },
  chaos: {
    prefix: 'chaos.',
    required: {
      injectionRate: fc.double({ min: 0.01, max: 1, noNaN: true }),
      fault: fc.constant(new Error('chaos')),
    },
    schema: {
      name: { valid: fc.constant('fault'), invalid: invalidString },
      enabled: { valid: fc.constantFrom(true, false, () => true), invalid: fc.constantFrom('yes', 1, null) },
      random: { valid: fc.constant(() => 0.5), invalid: invalidFunction },
      clock: clockEntry,
    },
  },
};

const build: Record<string, (options: Record<string, unknown>) => { execute(work: () => unknown): Promise<unknown> }> = {
  retry: (o) => new RetryPolicy(o),
  circuitBreaker: (o) => new CircuitBreaker(o),
  bulkhead: (o) => new Bulkhead(o),
  rateLimiter: (o) => new RateLimiter(o as never),
  timeout: (o) => new TimeoutPolicy(o as never),
  hedging: (o) => new HedgingPolicy(o),
  fallback: (o) => new FallbackPolicy(o as never),
  chaos: (o) => new ChaosPolicy(o as never),
};

/** Valid options of one type: the required ones and any subset of the optional ones. */
function validOptions(type: string): fc.Arbitrary<Record<string, unknown>> {
  const { schema, required = {} } = schemas[type]!;
  const optional = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, v.valid]));
  return fc.tuple(fc.record(required), fc.record(optional, { requiredKeys: [] }), fc.boolean()).map(([req, opt, clock]) => {
    const options: Record<string, unknown> = { ...req, ...opt };
    for (const [k, v] of Object.entries(options)) if (v === undefined) delete options[k];
    if ('clock' in schema && clock) options.clock = virtualClock();
    if (type === 'retry' && (options.baseDelayMs as number) > ((options.maxDelayMs as number) ?? 10000)) {
      options.maxDelayMs = options.baseDelayMs;
    }
    if (type === 'retry' && options.baseDelayMs === undefined && options.maxDelayMs !== undefined) options.baseDelayMs = 0;
    if (type === 'circuitBreaker') {
      // Consecutive or failure-rate mode, not both; the slow-call options go together.
      if (options.failureRateThreshold !== undefined) delete options.failureThreshold;
      if ((options.slowCallDurationMs === undefined) !== (options.slowCallRateThreshold === undefined)) {
        options.slowCallDurationMs ??= 100;
        options.slowCallRateThreshold ??= 0.5;
      }
    }
    return options;
  });
}

/** Valid options with one option made invalid (or an unknown key added), and the name the error must carry. */
function invalidOptions(type: string): fc.Arbitrary<[Record<string, unknown>, string]> {
  const { prefix, schema } = schemas[type]!;
  const keys = Object.keys(schema);
  return fc.tuple(validOptions(type), fc.constantFrom(...keys, 'bogusOption')).chain(([options, key]) => {
    if (key === 'bogusOption')
      return fc.constant([{ ...options, bogusOption: 1 }, `${prefix}bogusOption`] as [Record<string, unknown>, string]);
    return schema[key]!.invalid.map(
      (value) => [{ ...options, [key]: value }, `${prefix}${key}`] as [Record<string, unknown>, string],
    );
  });
}

function expectNamedError(construct: () => unknown, option: string): void {
  let thrown: unknown;
  try {
    construct();
  } catch (error) {
    thrown = error;
  }
  expect(thrown instanceof TypeError || thrown instanceof RangeError, `expected a TypeError/RangeError for ${option}`).toBe(true);
  expect((thrown as Error).message).toContain(option);
}

describe('options (property)', () => {
  for (const type of Object.keys(schemas)) {
    it(`${type}: valid options construct and run`, async () => {
      await fc.assert(
        fc.asyncProperty(validOptions(type), async (options) => {
          const policy = build[type]!(options);
          const outcome = await policy
            .execute(() => 'ok')
            .then(
              (value) => value,
              (error: unknown) => error,
            );
          if (type === 'chaos') expect(['ok', options.fault]).toContain(outcome);
          else expect(outcome).toBe('ok');
        }),
        { numRuns: 150 },
      );
    });

    it(`${type}: one invalid option is a TypeError/RangeError naming it`, () => {
      fc.assert(
        fc.property(invalidOptions(type), ([options, option]) => {
          expectNamedError(() => build[type]!(options), option);
        }),
        { numRuns: 300 },
      );
    });
  }

  const policyOptions = ['retry', 'circuitBreaker', 'bulkhead', 'rateLimiter', 'hedging', 'fallback', 'chaos'] as const;
  const pipelineValid = fc
    .record(
      {
        name: fc.constantFrom('op', 'Svc.call'),
        retry: fc.oneof(fc.constant(false), validOptions('retry')),
        circuitBreaker: fc.oneof(fc.constant(false), validOptions('circuitBreaker')),
        bulkhead: fc.oneof(fc.constant(false), validOptions('bulkhead')),
        rateLimiter: fc.oneof(fc.constant(false), validOptions('rateLimiter')),
        hedging: fc.oneof(fc.constant(false), validOptions('hedging')),
        fallback: fc.oneof(fc.constant(false), validOptions('fallback')),
        chaos: fc.oneof(fc.constant(false), validOptions('chaos')),
        attemptTimeoutMs: fc.oneof(fc.constant(false), ms(1)),
        totalTimeoutMs: fc.oneof(fc.constant(false), ms(1)),
        attemptSpans: fc.boolean(),
        random: fc.constant(() => 0.5),
      },
      { requiredKeys: [] },
    )
    .map((options) => {
      // Hedging takes the place of retry: keep one of them.
      if (options.hedging && options.retry !== undefined && options.retry !== false) delete options.hedging;
      // Unbounded retries of a fault chaos always injects never end (as they should; with a
      // 0 ms backoff not even a total timeout stops them, as no timer gets a turn): bound them.
      const retry = options.retry as { maxRetries?: number } | false | undefined;
      if (options.chaos && retry && retry.maxRetries === Infinity) options.retry = { ...retry, maxRetries: 20 };
      return options as Record<string, unknown>;
    });

  it('ResiliencePipeline: valid options construct and run', async () => {
    await fc.assert(
      fc.asyncProperty(pipelineValid, async (options) => {
        const pipeline = new ResiliencePipeline({ ...options, clock: virtualClock() });
        const outcome = await pipeline
          .execute(() => 'ok')
          .then(
            (value) => value,
            (error: unknown) => error,
          );
        if (!options.chaos) expect(outcome).toBe('ok');
        else expect(outcome === 'ok' || outcome === 'fallback' || outcome instanceof Error).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('ResiliencePipeline: one invalid option, at any depth, is a TypeError/RangeError naming it', () => {
    const top: Schema = {
      name: { valid: fc.constant('op'), invalid: invalidString },
      attemptTimeoutMs: { valid: ms(1), invalid: fc.constantFrom(0, true, null, Number.NaN, Infinity, '5') },
      totalTimeoutMs: { valid: ms(1), invalid: fc.constantFrom(0, true, null, Number.NaN, Infinity, '5') },
      attemptSpans: { valid: fc.boolean(), invalid: invalidBoolean },
      clock: clockEntry,
      random: { valid: fc.constant(() => 0.5), invalid: invalidFunction },
      ...Object.fromEntries(
        policyOptions.map((p) => [p, { valid: fc.constant(false), invalid: fc.constantFrom(true, null, 0, 'on', [1]) }]),
      ),
    };
    const topLevel = fc
      .tuple(pipelineValid, fc.constantFrom(...Object.keys(top), 'bogusOption'))
      .chain(([options, key]) =>
        key === 'bogusOption'
          ? fc.constant([{ ...options, bogusOption: 1 }, 'bogusOption'] as const)
          : top[key]!.invalid.map((value) => [{ ...options, [key]: value }, key] as const),
      );
    const nested = fc
      .constantFrom(...policyOptions)
      .chain((type) =>
        invalidOptions(type).map(
          ([options, option]) => [type === 'hedging' ? { hedging: options, retry: false } : { [type]: options }, option] as const,
        ),
      );
    fc.assert(
      fc.property(fc.oneof(topLevel, nested), ([options, option]) => {
        expectNamedError(() => new ResiliencePipeline(options as never), option);
      }),
      { numRuns: 600 },
    );
  });
});
