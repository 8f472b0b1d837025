import { type Attributes, context, type Span, trace } from '@opentelemetry/api';
import { errorTypeOf } from '../classify/index.js';
import { Bulkhead, type BulkheadOptions } from '../policies/bulkhead.js';
import { type ChaosOptions, ChaosPolicy } from '../policies/chaos.js';
import { endSpan, endWhenSettled, startChildSpan, startSpan } from '../policies/child-span.js';
import { CircuitBreaker, type CircuitBreakerOptions } from '../policies/circuit-breaker.js';
import type { Clock, RandomSource } from '../policies/clock.js';
import {
  Attempt,
  AttemptScope,
  Call,
  type ExecuteOptions,
  invoke,
  type Policy,
  raceCaller,
  SignalSlot,
  type Work,
} from '../policies/context.js';
import { HedgeLostError, ResilienceError } from '../policies/errors.js';
import { type FallbackOptions, FallbackPolicy, type FallbackStep } from '../policies/fallback.js';
import { type HedgingOptions, HedgingPolicy } from '../policies/hedging.js';
import { RateLimiter, type RateLimiterOptions } from '../policies/rate-limiter.js';
import { type RetryOptions, RetryPolicy } from '../policies/retry.js';
import { TimeoutPolicy } from '../policies/timeout.js';
import { knownOptions } from '../policies/validate.js';
import { recordAttemptDuration } from '../telemetry/metrics.js';
import * as names from '../telemetry/names.js';
import { getTracer, recordFailure, tracingPropagatesContext } from '../telemetry/spans.js';
import { ATTEMPT_KEY, withScope } from './current-attempt.js';

/** Options of {@link ResiliencePipeline}, `@resilient` and `resilient(fn)`. */
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
   * for one owned by this pipeline alone. Default: none.
   */
  readonly circuitBreaker?: CircuitBreaker | CircuitBreakerOptions;
  /**
   * Hedging instead of retry: a {@link HedgingPolicy} or its options. Default: none.
   * Cannot be combined with `retry`.
   */
  readonly hedging?: HedgingPolicy | HedgingOptions;
  /** A shared {@link Bulkhead} or options for one of this pipeline's own. Default: none. */
  readonly bulkhead?: Bulkhead | BulkheadOptions;
  /** A shared {@link RateLimiter} (one budget across methods) or its options. Default: none. */
  readonly rateLimiter?: RateLimiter | RateLimiterOptions<any, any>;
  /**
   * What to answer when everything else failed: a handler, a step, an ordered chain of
   * them, a {@link FallbackPolicy} or its options. Default: none.
   */
  readonly fallback?:
    | FallbackPolicy
    | FallbackOptions<any, any>
    | FallbackStep<any, any>
    | FallbackStep<any, any>['handler']
    | ReadonlyArray<FallbackStep<any, any> | FallbackStep<any, any>['handler']>;
  /** Chaos injection, innermost: a {@link ChaosPolicy}, its options, or several. Default: none. */
  readonly chaos?: ChaosPolicy | ChaosOptions | ReadonlyArray<ChaosPolicy | ChaosOptions>;
  /** Budget of each attempt in ms (default: none). */
  readonly attemptTimeoutMs?: number;
  /** Budget of the whole call across attempts and backoff, in ms (default: none). */
  readonly totalTimeoutMs?: number;
  /**
   * One child span per attempt (default: true when retry is on) — the shape every trace of a retried call
   * has, even when the first attempt succeeds. `false` keeps only the call span and its
   * events.
   */
  readonly attemptSpans?: boolean;
  /** Clock for the policies this pipeline creates (default: the system clock). */
  readonly clock?: Clock;
  /** Random source for jitter of the retry this pipeline creates (default `Math.random`). */
  readonly random?: RandomSource;
}

const PIPELINE_OPTIONS = [
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
];

type Step = (ctx: Attempt) => Promise<unknown>;

/** `policies[0]` outermost, ending in `last`; composed once, so a call allocates no chain. */
function compose(policies: readonly Policy[], last: Step): Step {
  return policies.reduceRight<Step>((next, policy) => (ctx) => policy.run(ctx, next), last);
}

const REJECTIONS = new Set(['BROKEN_CIRCUIT', 'BULKHEAD_REJECTED', 'RATE_LIMITED']);

/** Whether an error is a rejection by a policy rather than a failure of the work. */
function isRejection(error: unknown): boolean {
  return error instanceof ResilienceError && REJECTIONS.has(error.code);
}

/** A policy given as an instance, or options to build one; undefined stays undefined. */
function policyOf<P, O>(
  value: P | O | undefined,
  type: new (options: O) => P,
  build: (options: O) => P = (o) => new type(o),
): P | undefined {
  if (value === undefined) return undefined;
  return value instanceof type ? value : build(value as O);
}

/** The fallback option in any of its forms, as a policy. */
function fallbackOf(value: ResilienceOptions['fallback']): FallbackPolicy | undefined {
  if (value === undefined || value instanceof FallbackPolicy) return value;
  if (typeof value === 'function' || Array.isArray(value) || 'handler' in (value as object)) {
    return new FallbackPolicy({ steps: value as FallbackOptions['steps'] });
  }
  return new FallbackPolicy(value as FallbackOptions);
}

/** Runs the call's work, publishing its context for `currentAttempt()`. */
const runWork: Step = (ctx) => {
  ctx.scope.current = ctx;
  return invoke(ctx.call.work, ctx);
};

/**
 * The span of attempt `attempt`. Its `resilience.attempt` is set after the start: a
 * child span's sampling follows its parent, and attributes given at the start cost the
 * SDK about four times as much (they are validated twice).
 */
function startAttemptSpan(call: Call, attempt: number): Span | undefined {
  const span = startChildSpan(call, names.attemptSpanName(call.operation, attempt));
  try {
    span?.setAttribute(names.ATTR_ATTEMPT, attempt);
  } catch {
    // Instrumentation must never break the user's call.
  }
  return span;
}

/**
 * Retry, circuit breaker and timeouts composed in the standard order (outermost first,
 * after Polly v8's standard HTTP resilience pipeline):
 * total timeout → retry → circuit breaker → attempt timeout → your function.
 *
 * Each `execute` is one traced call: a span named after the operation with
 * `code.function.name`, one child span per attempt (`<name> attempt N`, attribute
 * `resilience.attempt`), the policies' decisions as span events on the call span
 * (`resilience.retry`, `resilience.circuit_breaker.state_change`, `resilience.timeout`,
 * …), and `resilience.attempts` / `resilience.outcome` (`success`, `failure`,
 * `rejected`) on the call span. A retried failure is an error on its attempt span only;
 * the final failure is the call span's error. With no OpenTelemetry SDK registered,
 * spans are no-ops and only the policies cost anything.
 *
 * @throws TypeError/RangeError naming the option, for invalid options
 */
export class ResiliencePipeline {
  readonly name: string | undefined;
  readonly retry: RetryPolicy | undefined;
  readonly hedging: HedgingPolicy | undefined;
  readonly circuitBreaker: CircuitBreaker | undefined;
  readonly bulkhead: Bulkhead | undefined;
  readonly rateLimiter: RateLimiter | undefined;
  readonly fallback: FallbackPolicy | undefined;
  private readonly attemptSpans: boolean;
  /** Whether an attempt can still run when the next starts (hedging; an attempt timeout abandons it). */
  private readonly overlappingAttempts: boolean;
  private readonly chain: Step;
  /** Call-span attributes per operation name, built once. */
  private readonly callAttributes = new Map<string, Attributes>();

  constructor(options: ResilienceOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Invalid resilience options: expected an object, got ${String(options)}`);
    }
    knownOptions('', options, PIPELINE_OPTIONS);
    const { clock, random } = options;
    if (options.hedging !== undefined && options.retry !== undefined && options.retry !== false) {
      throw new TypeError('Invalid resilience options: hedging takes the place of retry; set one of them, not both');
    }
    this.name = options.name;
    this.hedging = policyOf(options.hedging, HedgingPolicy, (o) => new HedgingPolicy({ clock, ...o }));
    this.retry =
      options.retry === false || this.hedging !== undefined
        ? undefined
        : policyOf(options.retry ?? {}, RetryPolicy, (o) => new RetryPolicy({ clock, random, ...o }));
    this.circuitBreaker = policyOf(options.circuitBreaker, CircuitBreaker, (o) => new CircuitBreaker({ clock, ...o }));
    this.bulkhead = policyOf(options.bulkhead, Bulkhead, (o) => new Bulkhead({ clock, ...o }));
    this.rateLimiter = policyOf(options.rateLimiter, RateLimiter, (o) => new RateLimiter({ clock, ...o }));
    this.fallback = fallbackOf(options.fallback);
    const chaos = (Array.isArray(options.chaos) ? options.chaos : options.chaos === undefined ? [] : [options.chaos]).map(
      (c: ChaosPolicy | ChaosOptions) => policyOf(c, ChaosPolicy, (o) => new ChaosPolicy({ clock, ...o }))!,
    );
    const total =
      options.totalTimeoutMs === undefined
        ? undefined
        : new TimeoutPolicy({ timeoutMs: options.totalTimeoutMs, scope: 'total', clock });
    const attempt =
      options.attemptTimeoutMs === undefined
        ? undefined
        : new TimeoutPolicy({ timeoutMs: options.attemptTimeoutMs, scope: 'attempt', clock });
    const repeater = this.retry ?? this.hedging;
    this.attemptSpans = options.attemptSpans ?? repeater !== undefined;
    this.overlappingAttempts = this.hedging !== undefined || (attempt !== undefined && this.retry !== undefined);
    const present = (policies: Array<Policy | undefined>) => policies.filter((p) => p !== undefined);
    // fallback → rate limiter → total timeout → retry|hedging → [attempt] → breaker → bulkhead → attempt timeout → chaos
    const inner = compose(present([this.circuitBreaker, this.bulkhead, attempt, ...chaos]), runWork);
    this.chain = compose(present([this.fallback, this.rateLimiter, total, repeater]), (ctx) => this.attempt(ctx, inner));
  }

  /**
   * Runs `work` as one traced, resilient call. `work` receives the attempt's context
   * (`attempt`, `signal`, …), also reachable as `currentAttempt()`.
   *
   * @returns the work's result, or rejects with its final error (a non-retryable error
   *   unchanged, `RetriesExhaustedError`, `BrokenCircuitError`, `TimeoutError`, or the
   *   caller's abort reason)
   */
  execute<T>(work: Work<T>, options?: ExecuteOptions): Promise<T> {
    return this.call(options?.operation ?? this.name ?? 'execute', work, { signal: options?.signal });
  }

  /**
   * Runs `work` as the call `name`: with extra call-span attributes, the caller's signal,
   * and the wrapped function's arguments and `this` (for rate-limit keys and fallbacks).
   */
  call<T>(
    name: string,
    work: Work<T>,
    { attributes, signal, args, self }: { attributes?: Attributes; signal?: AbortSignal; args?: unknown[]; self?: unknown } = {},
  ): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const slot = new SignalSlot(undefined, signal);
    const scope = new AttemptScope();
    const tracer = getTracer();
    if (tracer === undefined) {
      // No SDK registered: no spans, no OpenTelemetry context — only the policies run.
      const ctx = new Attempt(new Call(name, work, undefined, undefined, args, self), 1, slot, Infinity, scope);
      // With overlapping attempts each attempt stores its own scope; else the call does, once.
      const promise = this.overlappingAttempts ? this.chain(ctx) : withScope(scope, this.chain, ctx);
      return raceCaller(promise as Promise<T>, signal, slot);
    }
    const parent = context.active();
    const span = startSpan(name, this.attributesOf(name, attributes), parent, tracer);
    let otelContext = span === undefined ? parent : trace.setSpan(parent, span);
    const propagates = tracingPropagatesContext();
    // Overlapping attempts publish each their own scope (runAttempt); the call's would go unread.
    if (propagates && !this.overlappingAttempts) otelContext = otelContext.setValue(ATTEMPT_KEY, scope);
    const call = new Call(name, work, span?.isRecording() ? span : undefined, otelContext, args, self);
    const ctx = new Attempt(call, 1, slot, Infinity, scope);
    const run = propagates || this.overlappingAttempts ? this.chain : (c: Attempt) => withScope(scope, this.chain, c);
    const promise = raceCaller(context.with(otelContext, run, undefined, ctx) as Promise<T>, signal, slot);
    if (span === undefined) return promise;
    return promise.then(
      (value) => {
        this.finish(span, call, call.outcome ?? 'success');
        return value;
      },
      (error: unknown) => {
        recordFailure(span, error, errorTypeOf(error));
        this.finish(span, call, isRejection(error) ? 'rejected' : 'failure');
        throw error;
      },
    );
  }

  private attributesOf(name: string, extra: Attributes | undefined): Attributes {
    if (extra !== undefined) return { [names.ATTR_CODE_FUNCTION_NAME]: name, ...extra };
    let attributes = this.callAttributes.get(name);
    if (attributes === undefined) {
      attributes = Object.freeze({ [names.ATTR_CODE_FUNCTION_NAME]: name });
      this.callAttributes.set(name, attributes);
    }
    return attributes;
  }

  private finish(span: Span, call: Call, outcome: string): void {
    try {
      span.setAttributes({ [names.ATTR_ATTEMPTS]: call.attempts, [names.ATTR_OUTCOME]: outcome });
    } catch {
      // Instrumentation must never break the user's call.
    }
    endSpan(span);
  }

  /** One attempt, its duration measured when a meter provider is registered. */
  private attempt(ctx: Attempt, inner: Step): Promise<unknown> {
    const call = ctx.call;
    if (ctx.attempt > call.attempts) call.attempts = ctx.attempt;
    const metrics = call.metrics;
    if (metrics === undefined) return this.runAttempt(ctx, inner);
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    return this.runAttempt(ctx, inner).then(
      (value) => {
        recordAttemptDuration(metrics, seconds(), call.operation);
        return value;
      },
      (error: unknown) => {
        recordAttemptDuration(metrics, seconds(), call.operation, errorTypeOf(error));
        throw error;
      },
    );
  }

  /** One attempt: its own scope where attempts can overlap, its span when tracing, then the inner policies. */
  private runAttempt(ctx: Attempt, inner: Step): Promise<unknown> {
    const call = ctx.call;
    const span = this.attemptSpans && call.span !== undefined ? startAttemptSpan(call, ctx.attempt) : undefined;
    if (span === undefined) {
      if (!this.overlappingAttempts) return inner(ctx);
      const scope = new AttemptScope();
      return withScope(scope, inner, ctx.withScope(scope));
    }
    let attemptContext = trace.setSpan(call.otelContext!, span);
    let promise: Promise<unknown>;
    if (!this.overlappingAttempts) {
      promise = context.with(attemptContext, inner, undefined, ctx);
    } else {
      const scope = new AttemptScope();
      const scoped = ctx.withScope(scope);
      if (tracingPropagatesContext()) {
        attemptContext = attemptContext.setValue(ATTEMPT_KEY, scope);
        promise = context.with(attemptContext, inner, undefined, scoped);
      } else {
        promise = context.with(attemptContext, () => withScope(scope, inner, scoped));
      }
    }
    if (this.hedging === undefined) return endWhenSettled(span, promise);
    return this.endHedgedAttempt(span, ctx, promise);
  }

  /** A hedged attempt's span ends when it settles or loses, marked `won` or `lost`. */
  private endHedgedAttempt(span: Span, ctx: Attempt, promise: Promise<unknown>): Promise<unknown> {
    const lost = new Promise<never>((_, reject) => ctx.slot.onAbort(reject));
    return Promise.race([promise, lost]).then(
      (value) => {
        span.setAttribute(names.ATTR_HEDGE_OUTCOME, 'won');
        endSpan(span);
        return value;
      },
      (error: unknown) => {
        if (error instanceof HedgeLostError) {
          span.setAttribute(names.ATTR_HEDGE_OUTCOME, 'lost');
          endSpan(span);
          throw error;
        }
        return endWhenSettled(span, Promise.reject(error));
      },
    );
  }
}
