import { type Attributes, type Context, context, type Span, trace } from '@opentelemetry/api';
import { CircuitBreaker, type CircuitBreakerOptions } from '../policies/circuit-breaker.js';
import { errorTypeOf } from '../policies/classify.js';
import type { Clock, RandomSource } from '../policies/clock.js';
import { type ExecuteOptions, type ExecutionContext, invoke, type Policy, rootContext, type Work } from '../policies/context.js';
import { ResilienceError } from '../policies/errors.js';
import { RetryPolicy, type RetryOptions } from '../policies/retry.js';
import { TimeoutPolicy } from '../policies/timeout.js';
import { knownOptions } from '../policies/validate.js';
import type { Reporter } from '../telemetry/events.js';
import * as names from '../telemetry/names.js';
import { getTracer, recordEvent, recordFailure } from '../telemetry/spans.js';
import { withAttempt } from './current-attempt.js';

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
  /** Budget of each attempt in ms (default: none). */
  readonly attemptTimeoutMs?: number;
  /** Budget of the whole call across attempts and backoff, in ms (default: none). */
  readonly totalTimeoutMs?: number;
  /**
   * One child span per attempt (default true) — the shape every trace of a retried call
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
  'circuitBreaker',
  'attemptTimeoutMs',
  'totalTimeoutMs',
  'attemptSpans',
  'clock',
  'random',
];

/** Per-call telemetry state. */
interface Call {
  readonly name: string;
  readonly span: Span | undefined;
  readonly spanContext: Context;
  attempts: number;
}

/** Starts a span, or returns undefined if the tracer fails (instrumentation never breaks a call). */
function startSpan(name: string, attributes: Attributes, parent: Context): Span | undefined {
  try {
    return getTracer().startSpan(name, { attributes }, parent);
  } catch {
    return undefined;
  }
}

function endSpan(span: Span | undefined): void {
  try {
    span?.end();
  } catch {
    // Instrumentation must never break the user's call.
  }
}

function runChain<T>(
  policies: readonly Policy[],
  index: number,
  ctx: ExecutionContext,
  last: (ctx: ExecutionContext) => Promise<T>,
): Promise<T> {
  if (index === policies.length) return last(ctx);
  return policies[index]!.run(ctx, (inner) => runChain(policies, index + 1, inner, last));
}

/** Whether an error is a rejection by a policy rather than a failure of the work. */
function isRejection(error: unknown): boolean {
  return error instanceof ResilienceError && error.code === 'BROKEN_CIRCUIT';
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
  readonly circuitBreaker: CircuitBreaker | undefined;
  private readonly outer: readonly Policy[];
  private readonly inner: readonly Policy[];
  private readonly attemptSpans: boolean;

  constructor(options: ResilienceOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Invalid resilience options: expected an object, got ${String(options)}`);
    }
    knownOptions('', options, PIPELINE_OPTIONS);
    const { clock, random } = options;
    this.name = options.name;
    this.retry =
      options.retry === false
        ? undefined
        : options.retry instanceof RetryPolicy
          ? options.retry
          : new RetryPolicy({ clock, random, ...options.retry });
    this.circuitBreaker =
      options.circuitBreaker === undefined || options.circuitBreaker instanceof CircuitBreaker
        ? options.circuitBreaker
        : new CircuitBreaker({ clock, ...options.circuitBreaker });
    const total =
      options.totalTimeoutMs === undefined
        ? undefined
        : new TimeoutPolicy({ timeoutMs: options.totalTimeoutMs, scope: 'total', clock });
    const attempt =
      options.attemptTimeoutMs === undefined
        ? undefined
        : new TimeoutPolicy({ timeoutMs: options.attemptTimeoutMs, scope: 'attempt', clock });
    this.outer = [total, this.retry].filter((p) => p !== undefined);
    this.inner = [this.circuitBreaker, attempt].filter((p) => p !== undefined);
    this.attemptSpans = options.attemptSpans ?? this.retry !== undefined;
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
    return this.call(options?.operation ?? this.name ?? 'execute', undefined, work, options?.signal);
  }

  /** Runs `work` as the call `name`, with extra call-span attributes. */
  call<T>(name: string, attributes: Attributes | undefined, work: Work<T>, signal?: AbortSignal): Promise<T> {
    const parent = context.active();
    const span = startSpan(name, { [names.ATTR_CODE_FUNCTION_NAME]: name, ...attributes }, parent);
    const call: Call = { name, span, spanContext: span ? trace.setSpan(parent, span) : parent, attempts: 0 };
    const report: Reporter = span ? (event) => recordEvent(span, event) : () => {};
    const ctx = rootContext({ signal, operation: name }, report);
    const attemptWork = (attemptCtx: ExecutionContext) => this.attempt(attemptCtx, call, work);
    const promise = context.with(call.spanContext, () => runChain(this.outer, 0, ctx, attemptWork));
    if (span === undefined) return promise;
    return promise.then(
      (value) => {
        this.finish(call, 'success');
        return value;
      },
      (error: unknown) => {
        recordFailure(span, error, errorTypeOf(error));
        this.finish(call, isRejection(error) ? 'rejected' : 'failure');
        throw error;
      },
    );
  }

  private finish(call: Call, outcome: string): void {
    try {
      call.span!.setAttribute(names.ATTR_ATTEMPTS, call.attempts);
      call.span!.setAttribute(names.ATTR_OUTCOME, outcome);
    } catch {
      // Instrumentation must never break the user's call.
    }
    endSpan(call.span);
  }

  private attempt<T>(ctx: ExecutionContext, call: Call, work: Work<T>): Promise<T> {
    if (ctx.attempt > call.attempts) call.attempts = ctx.attempt;
    const run = (inner: ExecutionContext) => withAttempt(inner, () => invoke(work, inner));
    const span =
      this.attemptSpans && call.span !== undefined
        ? startSpan(names.attemptSpanName(call.name, ctx.attempt), { [names.ATTR_ATTEMPT]: ctx.attempt }, call.spanContext)
        : undefined;
    if (span === undefined) return runChain(this.inner, 0, ctx, run);
    return context.with(trace.setSpan(call.spanContext, span), () => runChain(this.inner, 0, ctx, run)).then(
      (value) => {
        endSpan(span);
        return value;
      },
      (error: unknown) => {
        recordFailure(span, error, errorTypeOf(error));
        endSpan(span);
        throw error;
      },
    );
  }
}
