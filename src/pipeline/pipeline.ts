import { AsyncResource } from 'node:async_hooks';
import { type Attributes, context, type Span, trace } from '@opentelemetry/api';
import { errorTypeOf } from '../classify/index.js';
import { usageOf } from '../classify/usage.js';
import { Bulkhead, type BulkheadOptions } from '../policies/bulkhead.js';
import { type ChaosOptions, ChaosPolicy } from '../policies/chaos.js';
import { endFailed, endSpan, failSpan, startSpan } from '../policies/child-span.js';
import { CircuitBreaker } from '../policies/circuit-breaker.js';
import type { CircuitBreakerOptions } from '../policies/circuit-breaker-options.js';
import { type Clock, type RandomSource, systemClock } from '../policies/clock.js';
import {
  Attempt,
  AttemptScope,
  Call,
  type ExecuteOptions,
  executeOptions,
  type InnerSteps,
  invoke,
  type Policy,
  raceCaller,
  SignalSlot,
  type Work,
} from '../policies/context.js';
import { HedgeLostError, isPolicyRejection } from '../policies/errors.js';
import { type FallbackOptions, FallbackPolicy, type FallbackStep } from '../policies/fallback.js';
import { type HedgingOptions, HedgingPolicy } from '../policies/hedging.js';
import { RateLimiter, type RateLimiterOptions } from '../policies/rate-limiter.js';
import { type RetryOptions, RetryPolicy } from '../policies/retry.js';
import { cancelStreamedResult } from '../policies/streamed-result.js';
import { TimeoutPolicy } from '../policies/timeout.js';
import { booleanOption, clockOption, functionOption, knownOptions, numberOption, stringOption } from '../policies/validate.js';
import { recordAttemptDuration } from '../telemetry/metrics.js';
import * as names from '../telemetry/names.js';
import { getTracer, tracingPropagatesContext } from '../telemetry/spans.js';
import { endHedgeSpan, startAttemptSpan } from './attempt-span.js';
import { ATTEMPT_KEY, publishing, withScope } from './current-attempt.js';
import { PIPELINE_OPTIONS, type ResilienceOptions } from './pipeline-options.js';
import { endAttempt, endAttemptSpan, guardOf, StreamSettings, streamingStep } from './stream.js';
import { callUsage, recordUsage } from './usage-tally.js';

type Step = (ctx: Attempt) => Promise<unknown>;

/** `policies[0]` outermost, ending in `last`; composed once, so a call allocates no chain. */
function compose(policies: readonly Policy[], last: Step): Step {
  return policies.reduceRight<Step>((next, policy) => (ctx) => policy.run(ctx, next), last);
}

/**
 * A policy option: `undefined` or `false` (off) → undefined, an instance of `type`
 * as is, an options object built with `build`.
 * @throws TypeError naming `option` for anything else
 */
function policyOf<P, O>(
  option: string,
  value: unknown,
  type: abstract new (...args: never[]) => P,
  build: (options: O) => P,
): P | undefined {
  if (value === undefined || value === false) return undefined;
  if (value instanceof type) return value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`Invalid option ${option}: expected false, a ${type.name} or its options, got ${String(value)}`);
  }
  return build(value as O);
}

/** The fallback option in any of its forms, as a policy. */
function fallbackOf(value: ResilienceOptions['fallback']): FallbackPolicy | undefined {
  if (value === undefined || value === false || value instanceof FallbackPolicy) return value || undefined;
  if (typeof value === 'function' || Array.isArray(value))
    return new FallbackPolicy({ steps: value as FallbackOptions['steps'] });
  return policyOf<FallbackPolicy, FallbackOptions | FallbackStep>('fallback', value, FallbackPolicy, (o) =>
    'handler' in o ? new FallbackPolicy({ steps: o as FallbackStep }) : new FallbackPolicy(o as FallbackOptions),
  );
}

/** A timeout option in ms (>= 1), or `false`/undefined for none. */
function timeoutOf(
  option: string,
  value: unknown,
  scope: 'attempt' | 'total',
  clock: Clock | undefined,
): TimeoutPolicy | undefined {
  if (value === undefined || value === false) return undefined;
  return new TimeoutPolicy({ timeoutMs: numberOption(option, value, 0, { min: 1 }), scope, clock });
}

/** Runs the call's work, publishing its context for `currentAttempt()`. */
const runWork: Step = (ctx) => {
  ctx.scope.current = ctx;
  return invoke(ctx.call.work, ctx);
};

/** Ends the span of the attempt that just ended (the call's last one started), from retry's continuation. */
const endAttemptOf = (ctx: Attempt, outcome: unknown, ok: boolean): void => {
  const span = ctx.call.lastAttemptSpan;
  if (span !== undefined) endAttempt(span, ctx.call, outcome, ok);
};

/** Operation names whose call-span attributes a pipeline keeps (more are built per call). */
const MAX_CACHED_OPERATIONS = 256;

/**
 * The policies composed in one fixed order (outermost first; shared/DESIGN.md,
 * "Execution model"):
 * fallback → total timeout → retry (or hedging) → circuit breaker → rate limiter →
 * bulkhead → attempt timeout → chaos → your function.
 * The rate limiter and bulkhead guard the dependency, so they count requests — every
 * attempt and hedge — and a bulkhead slot is held until abandoned work really ends; an
 * open breaker rejects before a token is spent.
 *
 * Each `execute` is one traced call: a span named after the operation with
 * `code.function.name`, one child span per attempt (`<name> attempt`, the number in
 * `resilience.attempt`), waits in a bulkhead queue or for rate-limit budget as child
 * spans, the policies' decisions as span events on the call span
 * (`resilience.retry`, `resilience.circuit_breaker.state_change`, `resilience.timeout`,
 * …), and `resilience.attempts` / `resilience.outcome` (`success`, `failure`,
 * `fallback`, `rejected`) on the call span. A retried failure is an error on its
 * attempt span only; the final failure is the call span's error, its exception recorded
 * there only when no attempt or fallback span recorded it (the stack is written once),
 * `exception.type` the class name and `error.type` the classification's. With no OpenTelemetry
 * SDK registered, spans are no-ops and only the policies cost anything.
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
  /** Whether a stream failing after its first chunk runs the call again (`stream.replay`). */
  private readonly replay: boolean;
  /** Whether an attempt can still run when the next starts (hedging; an attempt timeout abandons it). */
  private readonly overlappingAttempts: boolean;
  private readonly chain: Step;
  /** The chain run with the call's scope in async-local storage (for `currentAttempt()`). */
  private readonly scopedChain: Step = (ctx) => withScope(ctx.scope, this.chain, ctx);
  /** The chain of a call that records nothing (no SDK, no meter provider): fewer promise layers where it can. */
  private readonly bareChain: Step;
  private readonly scopedBareChain: Step;
  /** Whether an attempt's span ends in retry's continuation (`InnerSteps.ended`) rather than a promise layer of its own. */
  private readonly spansEndInRetry: boolean;
  /** Call-span attributes per operation name, built once (for the first {@link MAX_CACHED_OPERATIONS} names). */
  private readonly callAttributes = new Map<string, Attributes>();
  /** The operation of the last call and its attributes: a pipeline serving one method looks up nothing. */
  private lastName: string | undefined;
  private lastAttributes: Attributes | undefined;

  constructor(options: ResilienceOptions = {}) {
    knownOptions('', options, PIPELINE_OPTIONS);
    const clock = options.clock === undefined ? undefined : clockOption('clock', options.clock, systemClock);
    const random = functionOption<RandomSource>('random', options.random);
    const hedging = policyOf<HedgingPolicy, HedgingOptions>(
      'hedging',
      options.hedging,
      HedgingPolicy,
      (o) => new HedgingPolicy({ clock, ...o }),
    );
    if (hedging !== undefined && options.retry !== undefined && options.retry !== false) {
      throw new TypeError(
        'Invalid option hedging: hedging takes the place of retry; set one of them (or retry: false), not both',
      );
    }
    this.name = options.name === undefined ? undefined : stringOption('name', options.name, '');
    this.hedging = hedging;
    this.retry =
      hedging === undefined
        ? policyOf<RetryPolicy, RetryOptions>(
            'retry',
            options.retry === undefined ? {} : options.retry,
            RetryPolicy,
            (o) => new RetryPolicy({ clock, random, ...o }),
          )
        : undefined;
    this.circuitBreaker = policyOf<CircuitBreaker, CircuitBreakerOptions>(
      'circuitBreaker',
      options.circuitBreaker,
      CircuitBreaker,
      (o) => new CircuitBreaker({ clock, ...o }),
    );
    this.bulkhead = policyOf<Bulkhead, BulkheadOptions>(
      'bulkhead',
      options.bulkhead,
      Bulkhead,
      (o) => new Bulkhead({ clock, ...o }),
    );
    this.rateLimiter = policyOf<RateLimiter, RateLimiterOptions>(
      'rateLimiter',
      options.rateLimiter,
      RateLimiter,
      (o) => new RateLimiter({ clock, ...o }),
    );
    this.fallback = fallbackOf(options.fallback);
    const chaosList: unknown[] = Array.isArray(options.chaos) ? options.chaos : [options.chaos];
    const chaos = chaosList.map((c, i) =>
      policyOf<ChaosPolicy, ChaosOptions>(
        Array.isArray(options.chaos) ? `chaos[${i}]` : 'chaos',
        c,
        ChaosPolicy,
        (o) => new ChaosPolicy({ clock, ...o }),
      ),
    );
    const total = timeoutOf('totalTimeoutMs', options.totalTimeoutMs, 'total', clock);
    const attempt = timeoutOf('attemptTimeoutMs', options.attemptTimeoutMs, 'attempt', clock);
    const repeater = this.retry ?? this.hedging;
    this.attemptSpans = booleanOption('attemptSpans', options.attemptSpans, repeater !== undefined);
    this.overlappingAttempts = this.hedging !== undefined || (attempt !== undefined && this.retry !== undefined);
    const present = (policies: Array<Policy | undefined>) => policies.filter((p) => p !== undefined);
    // The DESIGN order. The rate limiter and bulkhead sit inside retry and hedging, so
    // they admit requests (every attempt and hedge), and inside the breaker, so an open
    // circuit rejects before a token is spent.
    // The attempt (its span, its count) starts once they admitted it: a rejection sent
    // nothing, so it is an event on the call span with no attempt span.
    // fallback → total timeout → retry|hedging → breaker → rate limiter → bulkhead → [attempt] → attempt timeout → chaos
    const streams = options.stream === false ? undefined : new StreamSettings(options.stream ?? {}, clock ?? systemClock);
    this.replay = streams?.replay ?? false;
    const innermost = present(chaos);
    // Streams the policy right outside the work can prime in its own continuation: no chaos in between, no stream timeouts.
    const primable = innermost.length === 0 && streams !== undefined && !streams.timed ? streams : undefined;
    // An attempt timeout right outside the work primes its stream in the continuation it has anyway (one promise layer less).
    const inner =
      attempt !== undefined && primable !== undefined
        ? (ctx: Attempt) => attempt.run(ctx, runWork, primable.prime)
        : compose(present([attempt, ...innermost]), streams === undefined ? runWork : streamingStep(streams));
    // What runs right inside retry within the retry's continuation (a promise layer less each):
    // the breaker, and the stream priming where nothing else lies between retry and the work.
    const { retry, circuitBreaker, rateLimiter, bulkhead } = this;
    const outer = present([this.fallback, total]);
    // Only the SDK's own run methods take part: a subclass that overrides `run` is composed as it is.
    const fusable =
      retry !== undefined &&
      retry.run === RetryPolicy.prototype.run &&
      (circuitBreaker === undefined || circuitBreaker.run === CircuitBreaker.prototype.run);
    const retrying = (steps: InnerSteps): Policy[] => {
      if (!fusable || (steps.guard === undefined && steps.settle === undefined && steps.ended === undefined)) {
        return present([repeater, circuitBreaker]);
      }
      return [{ run: (ctx, next) => retry.run(ctx, next, steps) }];
    };
    // With the attempt right inside retry, its span ends in the retry's continuation too.
    this.spansEndInRetry = fusable && this.attemptSpans && rateLimiter === undefined && bulkhead === undefined;
    const ended = this.spansEndInRetry ? endAttemptOf : undefined;
    this.chain = compose([...outer, ...retrying({ guard: circuitBreaker, ended }), ...present([rateLimiter, bulkhead])], (ctx) =>
      this.attempt(ctx, inner),
    );
    // Recording nothing (no SDK, no meter provider), an attempt is no layer of its own: with
    // only the breaker between retry and the work, retry primes the stream itself.
    const bare = fusable && rateLimiter === undefined && bulkhead === undefined && attempt === undefined;
    this.bareChain =
      bare && primable !== undefined
        ? compose([...outer, ...retrying({ guard: circuitBreaker, settle: primable.prime })], (ctx) => this.attempt(ctx, runWork))
        : this.chain;
    this.scopedBareChain = (ctx) => withScope(ctx.scope, this.bareChain, ctx);
  }

  /**
   * Runs `work` as one traced, resilient call. `work` receives the attempt's context
   * (`attempt`, `signal`, …), also reachable as `currentAttempt()`. `options` is
   * `{ signal, operation }`, or the caller's `AbortSignal` itself.
   *
   * @returns the work's result, or rejects with its final error: the last attempt's
   *   error unchanged (`RetriesExhaustedError` with `retry.wrapErrors`),
   *   `BrokenCircuitError`, `RateLimitedError`, `BulkheadRejectedError`, a total
   *   `TimeoutError`, or the caller's abort reason
   * @throws TypeError when `work` is not a function or `options` is neither
   */
  execute<T>(work: Work<T>, options?: ExecuteOptions | AbortSignal): Promise<T> {
    const opts = executeOptions(work, options);
    return this.call(opts?.operation ?? this.name ?? 'execute', work, { signal: opts?.signal });
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
      const call = new Call(name, work, undefined, undefined, args, self);
      const ctx = new Attempt(call, 1, slot, Infinity, scope);
      const bare = call.metrics === undefined;
      // With overlapping attempts each attempt stores its own scope; else the call does, once.
      const run = this.overlappingAttempts
        ? bare
          ? this.bareChain
          : this.chain
        : bare
          ? this.scopedBareChain
          : this.scopedChain;
      const promise = raceCaller(run(ctx), signal, slot) as Promise<T>;
      if (!this.replay) return promise;
      return promise.then((value) => {
        const guard = guardOf(value);
        if (guard !== undefined) guard.restart = this.replayer(ctx, run);
        return value;
      });
    }
    const parent = context.active();
    const span = startSpan(name, this.attributesOf(name, attributes), parent, tracer);
    let otelContext = span === undefined ? parent : trace.setSpan(parent, span);
    const propagates = tracingPropagatesContext();
    // Overlapping attempts publish each their own scope (runAttempt); the call's would go unread.
    if (propagates && !this.overlappingAttempts && publishing()) otelContext = otelContext.setValue(ATTEMPT_KEY, scope);
    const call = new Call(name, work, span?.isRecording() ? span : undefined, otelContext, args, self);
    const ctx = new Attempt(call, 1, slot, Infinity, scope);
    const run = propagates || this.overlappingAttempts ? this.chain : this.scopedChain;
    const promise = raceCaller(context.with(otelContext, run, undefined, ctx) as Promise<T>, signal, slot);
    if (span === undefined) return promise;
    return promise.then(
      (value) => {
        const guard = guardOf(value);
        if (guard !== undefined) {
          if (this.replay) guard.restart = this.replayer(ctx, (c) => context.with(otelContext, run, undefined, c));
          guard.onEnd = (failure) => {
            // The attempt span recorded the exception; the call span records it only if it is another error.
            if (failure !== undefined) failSpan(span, failure.error, call.recordedError?.error !== failure.error);
            this.finish(span, call, failure === undefined ? (call.outcome ?? 'success') : 'failure');
          };
          return value;
        }
        this.finish(span, call, call.outcome ?? 'success', value);
        return value;
      },
      (error: unknown) => {
        // The exception is recorded once: not again when an attempt or fallback span recorded it.
        failSpan(span, error, call.recordedError === undefined || call.recordedError.error !== error);
        this.finish(span, call, isPolicyRejection(error) ? 'rejected' : 'failure');
        throw error;
      },
    );
  }

  /** Runs the call again from its next attempt (a stream's `replay`), while retries are left. */
  private replayer(ctx: Attempt, run: (ctx: Attempt) => Promise<unknown>): () => Promise<unknown> {
    // Made in the call's continuation: the replay runs in the caller's async context, not the reader's
    // (an AsyncResource: ~60 ns, where AsyncResource.bind costs ~3 µs).
    const caller = new AsyncResource('otel-resilience.replay');
    const replay = () =>
      ctx.call.attempts > (this.retry?.maxRetries ?? 0)
        ? Promise.reject(new RangeError('no retries left to replay the stream'))
        : run(ctx.withAttempt(ctx.call.attempts + 1));
    return () => caller.runInAsyncScope(replay);
  }

  private attributesOf(name: string, extra: Attributes | undefined): Attributes {
    if (extra !== undefined) return { [names.ATTR_CODE_FUNCTION_NAME]: name, ...extra };
    if (name === this.lastName) return this.lastAttributes!;
    let attributes = this.callAttributes.get(name);
    if (attributes === undefined) {
      attributes = Object.freeze({ [names.ATTR_CODE_FUNCTION_NAME]: name });
      // Operation names made per call (`execute(work, { operation: url })`) must not grow the cache without bound.
      if (this.callAttributes.size < MAX_CACHED_OPERATIONS) this.callAttributes.set(name, attributes);
    }
    this.lastName = name;
    this.lastAttributes = attributes;
    return attributes;
  }

  private finish(span: Span, call: Call, outcome: string, value?: unknown): void {
    recordUsage(span, callUsage(call) ?? (this.attemptSpans ? undefined : usageOf(value)));
    try {
      span.setAttribute(names.ATTR_ATTEMPTS, call.attempts);
      span.setAttribute(names.ATTR_OUTCOME, outcome);
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
    // Without otel-resilience/context loaded nothing reads an attempt's scope: none is made.
    const ownScope = this.overlappingAttempts && publishing();
    // The first attempt publishes the call's own scope, which nothing else publishes when attempts overlap.
    const scoped = !ownScope || ctx.attempt === 1 ? ctx : ctx.withScope(new AttemptScope());
    if (span === undefined) return ownScope ? withScope(scoped.scope, inner, scoped) : inner(ctx);
    let attemptContext = trace.setSpan(call.otelContext!, span);
    let promise: Promise<unknown>;
    if (!ownScope) {
      promise = context.with(attemptContext, inner, undefined, ctx);
    } else if (tracingPropagatesContext()) {
      attemptContext = attemptContext.setValue(ATTEMPT_KEY, scoped.scope);
      promise = context.with(attemptContext, inner, undefined, scoped);
    } else {
      promise = context.with(attemptContext, () => withScope(scoped.scope, inner, scoped));
    }
    if (this.hedging !== undefined) return this.endHedgedAttempt(span, ctx, promise);
    return this.spansEndInRetry ? promise : endAttemptSpan(span, call, promise);
  }

  /**
   * A hedged attempt's span ends when it settles or loses, marked `won` or `lost`. A
   * loser's span ends the moment the winner aborts it — synchronously, before the
   * winner's value travels out to end the call span — so it lies within the call span.
   */
  private endHedgedAttempt(span: Span, ctx: Attempt, promise: Promise<unknown>): Promise<unknown> {
    let ended = false;
    let rejectLost: (reason: unknown) => void = () => {};
    const lost = new Promise<never>((_, reject) => {
      rejectLost = reject;
    });
    ctx.slot.onAbort((reason) => {
      if (ended || !(reason instanceof HedgeLostError)) return;
      ended = true;
      endHedgeSpan(span, 'lost');
      promise.then(cancelStreamedResult, () => {}); // a stream that arrives after losing is never read
      rejectLost(reason);
    });
    return Promise.race([promise, lost]).then(
      (value) => {
        ended = true;
        endHedgeSpan(span, 'won');
        return value;
      },
      (error: unknown) => {
        if (!ended) {
          ended = true;
          endFailed(span, error, ctx.call);
        }
        throw error;
      },
    );
  }
}
