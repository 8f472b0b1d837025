import type { CircuitState, GiveUpReason, TimeoutScope } from '../telemetry/events.js';

/**
 * The errors the SDK itself throws. Each is an `Error` subclass with a stable `code`,
 * a `retryable` flag and, where known, `retryAfterMs` — never a plain object
 * (shared/REFERENCE.md: rate-limiter-flexible's plain-object rejections caused outages).
 */

/** Base class of every rejection made by a resilience policy. */
export class ResilienceError extends Error {
  /** Stable machine-readable code, e.g. `'BROKEN_CIRCUIT'`. */
  readonly code: string;
  /** Whether retrying the same call later may succeed. */
  readonly retryable: boolean;
  /** How long to wait before trying again, in milliseconds, when known. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, code: string, retryable: boolean, retryAfterMs?: number, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.retryable = retryable;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * Thrown instead of calling the dependency while its circuit breaker is open, isolated,
 * or half-open with all probe slots taken. `retryAfterMs` is the time until the breaker
 * lets a probe through (undefined when isolated or half-open). Not retryable: failing
 * fast is the breaker's purpose.
 */
export class BrokenCircuitError extends ResilienceError {
  /** Name of the breaker that rejected the call. */
  readonly breaker: string;
  /** The breaker's state when it rejected. */
  readonly state: CircuitState;

  constructor(breaker: string, state: CircuitState, retryAfterMs?: number) {
    const wait = retryAfterMs === undefined ? '' : `; next probe in ${Math.ceil(retryAfterMs)} ms`;
    super(`Circuit breaker "${breaker}" is ${state}${wait}`, 'BROKEN_CIRCUIT', false, retryAfterMs);
    this.breaker = breaker;
    this.state = state;
  }
}

/**
 * A timeout fired. An attempt timeout is retryable (the next attempt gets a fresh
 * budget), and so are a stream's `first_chunk` and `idle` timeouts; a total timeout is not.
 */
export class TimeoutError extends ResilienceError {
  /** `'attempt'`, `'total'`, `'first_chunk'` or `'idle'`. */
  readonly scope: TimeoutScope;
  /** The configured timeout, in milliseconds. */
  readonly timeoutMs: number;

  constructor(scope: TimeoutScope, timeoutMs: number) {
    super(`The ${scope} timeout of ${timeoutMs} ms elapsed`, 'TIMEOUT', scope !== 'total');
    this.scope = scope;
    this.timeoutMs = timeoutMs;
  }
}

/** How many attempts' errors a retry keeps for `onGiveUp` and `wrapErrors`: the last 100. */
export const KEPT_ATTEMPT_ERRORS = 100;

/**
 * Opt-in (`retry: { wrapErrors: true }`): retrying gave up. By default the caller gets
 * the last attempt's error itself, as every peer library rethrows it. `errors` holds the
 * failed attempts' errors in order (the last {@link KEPT_ATTEMPT_ERRORS} of them, so an
 * unbounded retry does not keep every error it met), `cause` the last one; `attempts` is
 * how many attempts ran; `reason` why no further attempt was made: `maxRetries` used up,
 * a Retry-After longer than `maxRetryAfterMs`, or a wait that would outlive the total
 * timeout.
 */
export class RetriesExhaustedError extends ResilienceError {
  /** The attempts' errors, first to last: every one, or the last {@link KEPT_ATTEMPT_ERRORS}. */
  readonly errors: readonly unknown[];
  /** Number of attempts made. */
  readonly attempts: number;
  /** Why retrying stopped. */
  readonly reason: GiveUpReason;

  /**
   * @param errors the attempts' errors, first to last (the last one is the `cause`)
   * @param attempts the attempts made (default `errors.length`; more when only the last errors were kept)
   */
  constructor(errors: readonly unknown[], reason: GiveUpReason, retryAfterMs?: number, attempts = errors.length) {
    const last = errors[errors.length - 1];
    const detail = last instanceof Error ? `: ${last.message}` : '';
    super(
      `Gave up after ${attempts} attempt${attempts === 1 ? '' : 's'} (${reason})${detail}`,
      'RETRIES_EXHAUSTED',
      false,
      retryAfterMs,
      { cause: last },
    );
    this.errors = errors;
    this.attempts = attempts;
    this.reason = reason;
  }
}

/**
 * A bulkhead turned the call away: all `maxConcurrent` slots busy and the queue full,
 * or the call waited `queueTimeoutMs` in the queue. Not retryable: the bulkhead sheds
 * load, and retrying would add it back (nor does it count against a circuit breaker).
 */
export class BulkheadRejectedError extends ResilienceError {
  /** Name of the bulkhead. */
  readonly bulkhead: string;
  /** `'queue-full'` or `'queue-timeout'`. */
  readonly reason: 'queue-full' | 'queue-timeout';

  constructor(bulkhead: string, reason: 'queue-full' | 'queue-timeout') {
    super(`Bulkhead "${bulkhead}" rejected the call (${reason})`, 'BULKHEAD_REJECTED', false);
    this.bulkhead = bulkhead;
    this.reason = reason;
  }
}

/**
 * A rate limiter refused the call: its budget is spent, and waiting `retryAfterMs`
 * would exceed `maxWaitMs` (or the limiter rejects instead of waiting). Retryable after
 * `retryAfterMs`.
 */
export class RateLimitedError extends ResilienceError {
  /** Name of the limiter. */
  readonly limiter: string;

  constructor(limiter: string, retryAfterMs: number) {
    super(`Rate limiter "${limiter}" has no budget; retry in ${Math.ceil(retryAfterMs)} ms`, 'RATE_LIMITED', true, retryAfterMs);
    this.limiter = limiter;
  }
}

/** The reason a hedged attempt is aborted with once another attempt won. */
export class HedgeLostError extends ResilienceError {
  constructor(winner: number) {
    super(`Another hedged attempt (${winner}) succeeded first`, 'HEDGE_LOST', false);
  }
}

const REJECTIONS = new Set(['BROKEN_CIRCUIT', 'BULKHEAD_REJECTED', 'RATE_LIMITED']);

/**
 * Whether `error` is a rejection by one of the SDK's policies (breaker, bulkhead, rate
 * limiter) — nothing was sent, so it is neither retried by default nor a failure of the
 * dependency for a breaker.
 */
export function isPolicyRejection(error: unknown): boolean {
  return error instanceof ResilienceError && REJECTIONS.has(error.code);
}
