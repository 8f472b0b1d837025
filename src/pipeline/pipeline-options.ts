/**
 * The options of {@link ResiliencePipeline}, `@resilient` and `resilient(fn)`, and their names.
 */
import type { Bulkhead, BulkheadOptions } from '../policies/bulkhead.js';
import type { ChaosOptions, ChaosPolicy } from '../policies/chaos.js';
import type { CircuitBreaker } from '../policies/circuit-breaker.js';
import type { CircuitBreakerOptions } from '../policies/circuit-breaker-options.js';
import type { Clock, RandomSource } from '../policies/clock.js';
import type { FallbackOptions, FallbackPolicy, FallbackStep } from '../policies/fallback.js';
import type { HedgingOptions, HedgingPolicy } from '../policies/hedging.js';
import type { RateLimiter, RateLimiterOptions } from '../policies/rate-limiter.js';
import type { RetryOptions, RetryPolicy } from '../policies/retry.js';
import type { StreamOptions } from './stream.js';

/**
 * Options of {@link ResiliencePipeline}, `@resilient` and `resilient(fn)`. Every policy
 * option takes `false` for "off" (the same as leaving it out, except for `retry`, which
 * is on by default); anything else that is not a policy instance or its options is a
 * TypeError/RangeError naming the option, at construction.
 */
export interface ResilienceOptions {
  /** Span name of the call (default: `Class.method`, the function's name, or `'execute'`). */
  readonly name?: string;
  /**
   * Retry options, a shared {@link RetryPolicy}, or `false` for no retry.
   * Default: retry with its defaults (3 retries, exponential backoff, full jitter).
   */
  readonly retry?: RetryOptions | RetryPolicy | false;
  /**
   * A {@link CircuitBreaker} shared by every caller of the same dependency, or options
   * for one owned by this pipeline alone; `false`: none (the default).
   */
  readonly circuitBreaker?: CircuitBreaker | CircuitBreakerOptions | false;
  /**
   * Hedging instead of retry: a {@link HedgingPolicy} or its options; `false`: none (the
   * default). Cannot be combined with `retry` (unless `retry: false`).
   */
  readonly hedging?: HedgingPolicy | HedgingOptions | false;
  /**
   * A shared {@link Bulkhead} or options for one of this pipeline's own; `false`: none
   * (the default). It counts requests: every attempt and hedge takes a slot, held until
   * the work really ends (also when an attempt timeout abandoned it).
   */
  readonly bulkhead?: Bulkhead | BulkheadOptions | false;
  /**
   * A shared {@link RateLimiter} (one budget across methods) or its options; `false`: none
   * (the default). It counts requests: every attempt and hedge spends budget.
   */
  readonly rateLimiter?: RateLimiter | RateLimiterOptions<any, any> | false;
  /**
   * What to answer when everything else failed: a handler, a step, an ordered chain of
   * them, a {@link FallbackPolicy} or its options; `false`: none (the default).
   */
  readonly fallback?:
    | FallbackPolicy
    | FallbackOptions<any, any>
    | FallbackStep<any, any>
    | FallbackStep<any, any>['handler']
    | ReadonlyArray<FallbackStep<any, any> | FallbackStep<any, any>['handler']>
    | false;
  /** Chaos injection, innermost: a {@link ChaosPolicy}, its options, or several; `false`: none (the default). */
  readonly chaos?: ChaosPolicy | ChaosOptions | ReadonlyArray<ChaosPolicy | ChaosOptions> | false;
  /** Budget of each attempt in ms (>= 1); `false`: none (the default). */
  readonly attemptTimeoutMs?: number | false;
  /** Budget of the whole call across attempts and backoff, in ms (>= 1); `false`: none (the default). */
  readonly totalTimeoutMs?: number | false;
  /**
   * One child span per attempt (default: true when retry or hedging is on) — the shape
   * every trace of a retried call has, even when the first attempt succeeds. `false`
   * keeps only the call span and its events.
   */
  readonly attemptSpans?: boolean;
  /** Clock for the policies this pipeline creates (default: the system clock). */
  readonly clock?: Clock;
  /** Random source for jitter of the retry this pipeline creates (default `Math.random`). */
  readonly random?: RandomSource;
  /**
   * Streamed results (async iterables, `ReadableStream`, the AI SDK's `streamText`
   * result): their timeouts and replay ({@link StreamOptions}); default `{}` — an
   * attempt is retried until its first chunk, never replayed after it. `false` hands a
   * stream back untouched (the attempt ends when the stream is returned).
   */
  readonly stream?: StreamOptions | false;
}

/** The option names of {@link ResilienceOptions}. */
export const PIPELINE_OPTIONS: readonly string[] = [
  'name',
  'retry',
  'hedging',
  'bulkhead',
  'rateLimiter',
  'fallback',
  'chaos',
  'circuitBreaker',
  'attemptTimeoutMs',
  'totalTimeoutMs',
  'attemptSpans',
  'clock',
  'random',
  'stream',
];
