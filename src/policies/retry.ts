import { classifyError, type ErrorClassification } from '../classify/index.js';
import { spanClockNow } from '../telemetry/clock.js';
import type { GiveUpReason } from '../telemetry/events.js';
import { Backoff, type BackoffOptions, type DelaySequence } from './backoff.js';
import { type Clock, type RandomSource, sleep, systemClock, wallTime, yieldTurn } from './clock.js';
import { type Attempt, type InnerSteps, notify, StandalonePolicy } from './context.js';
import { isPolicyRejection, KEPT_ATTEMPT_ERRORS, RetriesExhaustedError } from './errors.js';
import { RetryBudget } from './retry-budget.js';
import { cancelStreamedResult } from './streamed-result.js';
import { booleanOption, clockOption, functionOption, knownOptions, numberOption } from './validate.js';

/** A retry about to be made, as given to {@link RetryOptions.onRetry}. */
export interface RetryInfo {
  /** The attempt that failed (1-based); the next one is `attempt + 1`. */
  readonly attempt: number;
  /** Its error (absent when `retryOnResult` asked to retry a result). */
  readonly error?: unknown;
  /** The result `retryOnResult` refused (absent for an error). */
  readonly result?: unknown;
  /** The wait before the next attempt, in ms. */
  readonly delayMs: number;
  /** Where the wait came from: the backoff, or the server's Retry-After. */
  readonly delaySource: 'backoff' | 'retry-after';
  /** The call's operation name. */
  readonly operation: string;
}

/** Why a retry policy stopped without a success, as given to {@link RetryOptions.onGiveUp}. */
export type RetryGiveUpReason = GiveUpReason | 'not-retryable';

/** The end of a call's retries without a success, as given to {@link RetryOptions.onGiveUp}. */
export interface GiveUpInfo {
  /** Attempts made. */
  readonly attempts: number;
  /** The failed attempts' errors, first to last: every one, or the last {@link KEPT_ATTEMPT_ERRORS}. */
  readonly errors: readonly unknown[];
  /** Why: `maxRetries` used up, a too-long Retry-After, the total timeout, or an error not worth retrying. */
  readonly reason: RetryGiveUpReason;
  /** What the caller gets: the last error, or (exhausted `retryOnResult`) the last result. */
  readonly error?: unknown;
  readonly result?: unknown;
  /** The call's operation name. */
  readonly operation: string;
}

/** Options of {@link RetryPolicy}. */
export interface RetryOptions extends BackoffOptions {
  /** Retries after the first attempt (default 3, so at most 4 attempts). `Infinity` allowed. */
  readonly maxRetries?: number;
  /**
   * Whether a failed attempt should be retried (default: `classifyError(error).retryable`
   * — unknown errors are transient; final are 4xx other than 408/425/429, programming
   * errors, the caller's abort and the SDK's own rejections). `attempt` is 1-based.
   */
  readonly retryOn?: (error: unknown, attempt: number) => boolean;
  /** Whether a successful result should be retried anyway (default: never). When retries run out, the last result is returned. */
  readonly retryOnResult?: (result: unknown, attempt: number) => boolean;
  /**
   * Longest server-advertised wait (Retry-After) to honour, in ms (default 60000). A longer
   * one makes the retry give up at once (reason `'retry-after-too-long'`) instead of waiting.
   */
  readonly maxRetryAfterMs?: number;
  /**
   * `true` to throw {@link RetriesExhaustedError} (the attempts' errors in `errors`, up
   * to the last {@link KEPT_ATTEMPT_ERRORS}; the last as `cause`) when retries run out. Default `false`: the last attempt's error is
   * thrown unchanged, so `instanceof` and `status` checks keep working.
   */
  readonly wrapErrors?: boolean;
  /**
   * A {@link RetryBudget} shared by every call to the dependency: a retry is made only
   * while it has tokens (else the call gives up with reason `'budget'`). Default: none.
   */
  readonly budget?: RetryBudget;
  /** Called once before each retry's wait. Its errors are ignored. */
  readonly onRetry?: (info: RetryInfo) => void;
  /** Called once when the call fails for good through this policy (not for the caller's abort). Its errors are ignored. */
  readonly onGiveUp?: (info: GiveUpInfo) => void;
  /** Clock for the waits; its wall time dates an HTTP-date Retry-After (default: the system clock). */
  readonly clock?: Clock;
  /** Random source for jitter (default `Math.random`). */
  readonly random?: RandomSource;
}

const RETRY_OPTIONS = [
  'maxRetries',
  'retryOn',
  'retryOnResult',
  'maxRetryAfterMs',
  'wrapErrors',
  'onRetry',
  'onGiveUp',
  'clock',
  'random',
  'budget',
  'backoff',
  'baseDelayMs',
  'maxDelayMs',
  'jitter',
];

/** What a call's retries carry from one attempt to the next. */
interface RetryState {
  readonly errors: unknown[] | undefined;
  readonly delays: DelaySequence | undefined;
  /** Retries in a row that waited 0 ms, so ran without giving the event loop a turn. */
  readonly immediate: number;
  /** What the retry that led to this attempt took from the budget (0 without one). */
  readonly cost: number;
}

/**
 * Every this many 0 ms retries in a row, one gives the event loop a turn: otherwise
 * unbounded retries of an attempt that fails at once spin in promise callbacks, and no
 * timer (a total timeout, `AbortSignal.timeout`) or I/O gets to run and stop them.
 */
const IMMEDIATE_RETRIES_PER_TURN = 64;

/**
 * `classifyError` with the policy clock's wall time, against which an HTTP-date
 * Retry-After is read (`{ nowMs }`; the system clock's wall time is classifyError's own
 * default, so it is not passed).
 */
export function classifyOnClock(error: unknown, clock: Clock): ErrorClassification {
  return clock === systemClock ? classifyError(error) : classifyError(error, { nowMs: wallTime(clock) });
}

/**
 * Retries failed attempts with backoff and jitter, for errors worth retrying.
 *
 * Between attempts it waits the server's Retry-After (`retry-after-ms` or `Retry-After`,
 * found by {@link classifyError}, an HTTP-date read against the clock's wall time) when
 * present, otherwise the backoff delay (exponential with full jitter by default, AWS
 * Architecture Blog). It gives up when `maxRetries` is used up, when the advertised wait
 * exceeds `maxRetryAfterMs`, or when the wait would outlive the total timeout — and
 * then throws the last attempt's error unchanged (as Polly, cockatiel, p-retry and
 * tenacity do; `wrapErrors: true` throws {@link RetriesExhaustedError} instead). An
 * error not worth retrying is rethrown at once; the caller's abort stops retrying at
 * once; a rejection by the SDK's own breaker, rate limiter or bulkhead is not retried
 * by default. `onRetry` sees each attempt's error, `onGiveUp` the last {@link KEPT_ATTEMPT_ERRORS}. Each decision is
 * reported as a `resilience.retry` / `resilience.retry.exhausted` event (the retry event
 * with the planned delay, and `resilience.retry.retry_after_ignored` when an invalid
 * header was ignored); in a traced pipeline the next attempt's span has
 * `resilience.retry.slept_ms`, the time actually slept on the span clock.
 *
 * @throws TypeError/RangeError naming the option, for invalid options
 */
export class RetryPolicy extends StandalonePolicy {
  readonly maxRetries: number;
  readonly maxRetryAfterMs: number;
  readonly wrapErrors: boolean;
  readonly backoff: Backoff;
  readonly budget: RetryBudget | undefined;
  private readonly retryOn: ((error: unknown, attempt: number) => boolean) | undefined;
  private readonly retryOnResult: ((result: unknown, attempt: number) => boolean) | undefined;
  private readonly onRetry: ((info: RetryInfo) => void) | undefined;
  private readonly onGiveUp: ((info: GiveUpInfo) => void) | undefined;
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly sharedDelays: DelaySequence | undefined;

  constructor(options: RetryOptions = {}) {
    super();
    knownOptions('retry.', options, RETRY_OPTIONS);
    this.maxRetries = numberOption('retry.maxRetries', options.maxRetries, 3, { integer: true, allowInfinity: true });
    this.maxRetryAfterMs = numberOption('retry.maxRetryAfterMs', options.maxRetryAfterMs, 60000, {
      allowInfinity: true,
    });
    this.wrapErrors = booleanOption('retry.wrapErrors', options.wrapErrors, false);
    this.backoff = new Backoff(options, 'retry.');
    if (options.budget !== undefined && !(options.budget instanceof RetryBudget)) {
      throw new TypeError(`Invalid option retry.budget: expected a RetryBudget, got ${String(options.budget)}`);
    }
    this.budget = options.budget;
    this.retryOn = functionOption('retry.retryOn', options.retryOn);
    this.retryOnResult = functionOption('retry.retryOnResult', options.retryOnResult);
    this.onRetry = functionOption('retry.onRetry', options.onRetry);
    this.onGiveUp = functionOption('retry.onGiveUp', options.onGiveUp);
    this.clock = clockOption('retry.clock', options.clock, systemClock);
    this.random = functionOption<RandomSource>('retry.random', options.random) ?? Math.random;
    // Only decorrelated jitter remembers the previous delay; the other sequences can be shared by every call.
    this.sharedDelays = this.backoff.jitter === 'decorrelated' ? undefined : this.backoff.sequence(this.random);
  }

  /**
   * Runs `next` until it succeeds or retrying ends. `inner`, if given, says what the
   * pipeline runs right inside this policy within its continuation, at no promise layer
   * of its own: the guard admitting each attempt (a circuit breaker), how the work's
   * value is made ready (a stream read to its first chunk), and what is told each
   * attempt's end (its span).
   */
  run<T>(ctx: Attempt, next: (ctx: Attempt) => Promise<T>, inner?: InnerSteps): Promise<T> {
    return this.attempt(ctx, next, ctx, undefined, inner);
  }

  /**
   * Runs attempt `actx.attempt`. Written as promise continuations rather than an async
   * loop: a success costs one derived promise, a retry no unhandled-rejection bookkeeping.
   */
  private attempt<T>(
    ctx: Attempt,
    next: (ctx: Attempt) => Promise<T>,
    actx: Attempt,
    state: RetryState | undefined,
    inner: InnerSteps | undefined,
  ): Promise<T> {
    if (inner === undefined && this.budget === undefined && this.retryOnResult === undefined) {
      return next(actx).then(undefined, (error: unknown) =>
        this.afterFailure(ctx, next, actx.attempt, state, error, false, inner),
      );
    }
    let ticket: unknown;
    try {
      ticket = inner?.guard?.enter(actx);
    } catch (rejection) {
      return Promise.reject(rejection).then(undefined, (error: unknown) =>
        this.afterFailure(ctx, next, actx.attempt, state, error, false, inner),
      );
    }
    const failed = (error: unknown) => {
      inner?.ended?.(actx, error, false);
      inner?.guard?.exit(actx, ticket, error, false);
      return this.afterFailure(ctx, next, actx.attempt, state, error, false, inner);
    };
    return next(actx).then((value) => {
      const settle = inner?.settle;
      const ready = settle === undefined ? value : settle(value, actx);
      if (ready instanceof Promise)
        return ready.then((primed: T) => this.afterSuccess(ctx, next, actx, state, inner, ticket, primed), failed);
      return this.afterSuccess(ctx, next, actx, state, inner, ticket, ready as T);
    }, failed);
  }

  /** An attempt's value, once ready: the guard told, `retryOnResult` asked, the budget credited. */
  private afterSuccess<T>(
    ctx: Attempt,
    next: (ctx: Attempt) => Promise<T>,
    actx: Attempt,
    state: RetryState | undefined,
    inner: InnerSteps | undefined,
    ticket: unknown,
    result: T,
  ): T | Promise<T> {
    inner?.ended?.(actx, result, true);
    inner?.guard?.exit(actx, ticket, result, true);
    if (this.retryOnResult?.(result, actx.attempt)) return this.afterFailure(ctx, next, actx.attempt, state, result, true, inner);
    this.budget?.succeeded(state?.cost ?? 0);
    return result;
  }

  /**
   * The classification of `error` when it is worth another attempt (for its
   * Retry-After), `null` when it is not; `undefined` when a custom `retryOn` said yes
   * without classifying.
   */
  private worthRetrying(error: unknown, attempt: number): ErrorClassification | null | undefined {
    if (this.retryOn !== undefined) return this.retryOn(error, attempt) ? undefined : null;
    if (isPolicyRejection(error)) return null;
    const classification = classifyOnClock(error, this.clock);
    return classification.retryable ? classification : null;
  }

  /** Decides what follows a failed attempt (an error, or a result `retryOnResult` rejected). */
  private afterFailure<T>(
    ctx: Attempt,
    next: (ctx: Attempt) => Promise<T>,
    attempt: number,
    state: RetryState | undefined,
    failure: unknown,
    isResult: boolean,
    inner: InnerSteps | undefined,
  ): T | Promise<T> {
    // Every attempt's error is kept only for those who can read them (onGiveUp, wrapErrors).
    const errors = state?.errors ?? (this.onGiveUp === undefined && !this.wrapErrors ? undefined : []);
    let classification: ErrorClassification | undefined;
    if (!isResult) {
      if (ctx.slot.aborted) throw failure;
      if (errors !== undefined) {
        if (errors.length === KEPT_ATTEMPT_ERRORS) errors.shift();
        errors.push(failure);
      }
      const verdict = this.worthRetrying(failure, attempt);
      if (verdict === null) return this.giveUp(ctx, attempt, errors, 'not-retryable', failure, isResult);
      classification = verdict;
    }
    if (attempt > this.maxRetries) return this.giveUp(ctx, attempt, errors, 'max-retries', failure, isResult);
    const classified = isResult ? undefined : (classification ?? classifyOnClock(failure, this.clock));
    const retryAfterMs = classified?.retryAfterMs;
    let delayMs: number;
    let delays = state?.delays;
    if (retryAfterMs !== undefined) {
      if (retryAfterMs > this.maxRetryAfterMs) {
        return this.giveUp(ctx, attempt, errors, 'retry-after-too-long', failure, isResult, retryAfterMs);
      }
      delayMs = retryAfterMs;
    } else {
      delays ??= this.sharedDelays ?? this.backoff.sequence(this.random);
      delayMs = Math.round(delays.next(attempt, failure));
    }
    if (ctx.deadline !== Infinity && this.clock.now() + delayMs >= ctx.deadline) {
      return this.giveUp(ctx, attempt, errors, 'deadline', failure, isResult, retryAfterMs);
    }
    const immediate = delayMs <= 0 ? (state?.immediate ?? 0) + 1 : 0;
    if (this.budget !== undefined) {
      const budget = this.budget;
      const cost = isResult ? budget.retryCost : budget.costOf(failure);
      const granted = budget.acquire(cost);
      const go = (ok: boolean) =>
        ok
          ? this.retryAfter(
              ctx,
              next,
              attempt,
              { errors, delays, immediate, cost },
              failure,
              isResult,
              delayMs,
              classified,
              inner,
            )
          : this.giveUp<T>(ctx, attempt, errors, 'budget', failure, isResult, retryAfterMs);
      return typeof granted === 'boolean' ? go(granted) : granted.then(go);
    }
    return this.retryAfter(
      ctx,
      next,
      attempt,
      { errors, delays, immediate, cost: 0 },
      failure,
      isResult,
      delayMs,
      classified,
      inner,
    );
  }

  /** Reports the retry, tells `onRetry`, waits `delayMs` and runs the next attempt. */
  private retryAfter<T>(
    ctx: Attempt,
    next: (ctx: Attempt) => Promise<T>,
    attempt: number,
    nextState: RetryState,
    failure: unknown,
    isResult: boolean,
    delayMs: number,
    classified: ErrorClassification | undefined,
    inner: InnerSteps | undefined,
  ): Promise<T> {
    const delaySource = classified?.retryAfterMs === undefined ? 'backoff' : 'retry-after';
    if (ctx.recording) {
      // The classification already made for this failure carries its error.type.
      const errorType = isResult ? 'result' : classified!.errorType;
      ctx.report({ type: 'retry', attempt, delayMs, delaySource, errorType, retryAfterIgnored: classified?.retryAfterIgnored });
    }
    if (this.onRetry !== undefined) {
      const outcome = isResult ? { result: failure } : { error: failure };
      notify(this.onRetry, { attempt, ...outcome, delayMs, delaySource, operation: ctx.operation });
    }
    // A streamed result turned down by `retryOnResult` is never read: its stream (and a bulkhead slot it holds) ends now.
    if (isResult) cancelStreamedResult(failure);
    const again = () => {
      if (ctx.slot.aborted) throw ctx.slot.abortReason;
      return this.attempt(ctx, next, ctx.withAttempt(attempt + 1), nextState, inner);
    };
    // A 0 ms delay does not wait on a timer, but now and then yields a turn to the event loop.
    if (delayMs <= 0)
      return nextState.immediate % IMMEDIATE_RETRIES_PER_TURN === 0 ? yieldTurn(ctx.signal, this.clock).then(again) : again();
    if (ctx.call.span === undefined) return sleep(delayMs, ctx.signal, this.clock).then(again);
    // What the next attempt's span shows as slept, on the clock of the spans themselves.
    const sleptFrom = spanClockNow();
    return sleep(delayMs, ctx.signal, this.clock).then(() => {
      ctx.call.sleptMs = Math.round((spanClockNow() - sleptFrom) * 10) / 10;
      return again();
    });
  }

  /**
   * Ends the call without a success: reports it, tells `onGiveUp`, and returns the last
   * result (exhausted `retryOnResult`) or throws the last error (wrapped when `wrapErrors`).
   */
  private giveUp<T>(
    ctx: Attempt,
    attempts: number,
    errors: unknown[] | undefined,
    reason: RetryGiveUpReason,
    failure: unknown,
    isResult: boolean,
    retryAfterMs?: number,
  ): T {
    if (reason !== 'not-retryable' && ctx.recording) ctx.report({ type: 'retry-exhausted', attempts, reason });
    if (this.onGiveUp !== undefined) {
      const outcome = isResult ? { result: failure } : { error: failure };
      notify(this.onGiveUp, { attempts, errors: errors?.slice() ?? [], reason, ...outcome, operation: ctx.operation });
    }
    if (isResult) return failure as T;
    if (this.wrapErrors && reason !== 'not-retryable')
      throw new RetriesExhaustedError(errors ?? [failure], reason, retryAfterMs, attempts);
    throw failure;
  }
}
