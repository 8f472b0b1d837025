import { classifyError, errorTypeOf } from '../classify/index.js';
import { Backoff, type BackoffOptions, type DelaySequence } from './backoff.js';
import { type Clock, type RandomSource, sleep, systemClock } from './clock.js';
import { type Attempt, StandalonePolicy } from './context.js';
import { RetriesExhaustedError } from './errors.js';
import { functionOption, knownOptions, numberOption } from './validate.js';

/** Options of {@link RetryPolicy}. */
export interface RetryOptions extends BackoffOptions {
  /** Retries after the first attempt (default 3, so at most 4 attempts). `Infinity` allowed. */
  readonly maxRetries?: number;
  /**
   * Whether a failed attempt should be retried (default: `classifyError(error).retryable`,
   * i.e. transient, rate-limited and timeout errors only). `attempt` is 1-based.
   */
  readonly retryOn?: (error: unknown, attempt: number) => boolean;
  /** Whether a successful result should be retried anyway (default: never). */
  readonly retryOnResult?: (result: unknown, attempt: number) => boolean;
  /**
   * Longest server-advertised wait (Retry-After) to honour, in ms (default 60000). A longer
   * one makes the retry give up at once with `RetriesExhaustedError` (reason
   * `'retry-after-too-long'`) instead of waiting.
   */
  readonly maxRetryAfterMs?: number;
  /** Clock for the waits (default: the system clock). */
  readonly clock?: Clock;
  /** Random source for jitter (default `Math.random`). */
  readonly random?: RandomSource;
}

const RETRY_OPTIONS = [
  'maxRetries',
  'retryOn',
  'retryOnResult',
  'maxRetryAfterMs',
  'clock',
  'random',
  'backoff',
  'baseDelayMs',
  'maxDelayMs',
  'jitter',
];

/** What a call's retries carry from one attempt to the next. */
interface RetryState {
  readonly errors: unknown[];
  readonly delays: DelaySequence | undefined;
}

const defaultRetryOn = (error: unknown) => classifyError(error).retryable;

/**
 * Retries failed attempts with backoff and jitter, only for errors worth retrying.
 *
 * Between attempts it waits the server's Retry-After (`retry-after-ms` or `Retry-After`,
 * found by {@link classifyError}) when present, otherwise the backoff delay
 * (exponential with full jitter by default, AWS Architecture Blog). It gives up —
 * throwing {@link RetriesExhaustedError} with every attempt's error in `errors` and the
 * last as `cause` — when `maxRetries` is used up, when the advertised wait exceeds
 * `maxRetryAfterMs`, or when the wait would outlive the total timeout. A non-retryable
 * error is rethrown unchanged at once; the caller's abort stops retrying at once.
 * Each decision is reported as a `resilience.retry` / `resilience.retry.exhausted` event.
 *
 * @throws TypeError/RangeError naming the option, for invalid options
 */
export class RetryPolicy extends StandalonePolicy {
  readonly maxRetries: number;
  readonly maxRetryAfterMs: number;
  readonly backoff: Backoff;
  private readonly retryOn: (error: unknown, attempt: number) => boolean;
  private readonly retryOnResult: ((result: unknown, attempt: number) => boolean) | undefined;
  private readonly clock: Clock;
  private readonly random: RandomSource;

  constructor(options: RetryOptions = {}) {
    super();
    knownOptions('retry.', options, RETRY_OPTIONS);
    this.maxRetries = numberOption('retry.maxRetries', options.maxRetries, 3, { integer: true, allowInfinity: true });
    this.maxRetryAfterMs = numberOption('retry.maxRetryAfterMs', options.maxRetryAfterMs, 60000, {
      allowInfinity: true,
    });
    this.backoff = new Backoff(options, 'retry.');
    this.retryOn = functionOption('retry.retryOn', options.retryOn) ?? defaultRetryOn;
    this.retryOnResult = functionOption('retry.retryOnResult', options.retryOnResult);
    this.clock = options.clock ?? systemClock;
    this.random = functionOption<RandomSource>('retry.random', options.random) ?? Math.random;
  }

  run<T>(ctx: Attempt, next: (ctx: Attempt) => Promise<T>): Promise<T> {
    return this.attempt(ctx, next, ctx, undefined);
  }

  /**
   * Runs attempt `actx.attempt`. Written as promise continuations rather than an async
   * loop: a success costs one derived promise, a retry no unhandled-rejection bookkeeping.
   */
  private attempt<T>(ctx: Attempt, next: (ctx: Attempt) => Promise<T>, actx: Attempt, state: RetryState | undefined): Promise<T> {
    const onError = (error: unknown) => this.afterFailure(ctx, next, actx.attempt, state, error, false);
    const retryOnResult = this.retryOnResult;
    if (retryOnResult === undefined) return next(actx).then(undefined, onError);
    return next(actx).then(
      (result) =>
        retryOnResult(result, actx.attempt) ? this.afterFailure(ctx, next, actx.attempt, state, result, true) : result,
      onError,
    );
  }

  /** Decides what follows a failed attempt (an error, or a result `retryOnResult` rejected). */
  private afterFailure<T>(
    ctx: Attempt,
    next: (ctx: Attempt) => Promise<T>,
    attempt: number,
    state: RetryState | undefined,
    failure: unknown,
    isResult: boolean,
  ): T | Promise<T> {
    // The default retryOn classifies the error; the same classification gives Retry-After.
    const classification = isResult || this.retryOn !== defaultRetryOn ? undefined : classifyError(failure);
    if (!isResult && (ctx.slot.aborted || !(classification?.retryable ?? this.retryOn(failure, attempt)))) throw failure;
    const errors = state?.errors ?? [];
    if (!isResult) errors.push(failure);
    if (attempt > this.maxRetries) {
      if (!isResult) throw this.giveUp(ctx, attempt, errors, 'max-retries');
      if (ctx.recording) ctx.report({ type: 'retry-exhausted', attempts: attempt, reason: 'max-retries' });
      return failure as T;
    }
    const retryAfterMs = isResult ? undefined : (classification ?? classifyError(failure)).retryAfterMs;
    let delayMs: number;
    let delays = state?.delays;
    if (retryAfterMs !== undefined) {
      if (retryAfterMs > this.maxRetryAfterMs) throw this.giveUp(ctx, attempt, errors, 'retry-after-too-long', retryAfterMs);
      delayMs = retryAfterMs;
    } else {
      delays ??= this.backoff.sequence(this.random);
      delayMs = Math.round(delays.next(attempt, failure));
    }
    if (ctx.deadline !== Infinity && this.clock.now() + delayMs >= ctx.deadline) {
      if (isResult) return failure as T;
      throw this.giveUp(ctx, attempt, errors, 'deadline', retryAfterMs);
    }
    if (ctx.recording) {
      ctx.report({
        type: 'retry',
        attempt,
        delayMs,
        delaySource: retryAfterMs === undefined ? 'backoff' : 'retry-after',
        errorType: isResult ? 'result' : errorTypeOf(failure),
      });
    }
    const nextState: RetryState = { errors, delays };
    const again = () => {
      if (ctx.slot.aborted) throw ctx.slot.abortReason;
      return this.attempt(ctx, next, ctx.withAttempt(attempt + 1), nextState);
    };
    // A 0 ms delay does not wait on a timer.
    return delayMs > 0 ? sleep(delayMs, ctx.signal, this.clock).then(again) : again();
  }

  private giveUp(
    ctx: Attempt,
    attempts: number,
    errors: unknown[],
    reason: RetriesExhaustedError['reason'],
    retryAfterMs?: number,
  ): RetriesExhaustedError {
    if (ctx.recording) ctx.report({ type: 'retry-exhausted', attempts, reason });
    return new RetriesExhaustedError(errors, reason, retryAfterMs);
  }
}
