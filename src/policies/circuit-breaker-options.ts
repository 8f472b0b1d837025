/**
 * The options of {@link CircuitBreaker} and the shapes its hooks and `isolate()` hand out.
 */
import type { BreakerWhy, CircuitState } from '../telemetry/events.js';
import type { CircuitBreakerStore } from './circuit-breaker-store.js';
import type { Clock } from './clock.js';
import type { BrokenCircuitError } from './errors.js';

/** Options of {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Name in events and errors (default `'circuit-breaker'`); name it after the dependency. */
  readonly name?: string;
  /**
   * Consecutive-failure mode (the default): open after this many failures in a row
   * (default 5). Not combinable with `failureRateThreshold`.
   */
  readonly failureThreshold?: number;
  /**
   * Failure-rate mode: open when, over the last `windowMs`, at least
   * `minimumThroughput` calls ran and this fraction (0, 1] of them failed
   * (resilience4j's time-based sliding window; Polly's FailureRatio).
   */
  readonly failureRateThreshold?: number;
  /**
   * Slow-call detection (resilience4j): a call taking at least this long, in ms, counts
   * as slow, successful or not. Needs `slowCallRateThreshold`.
   */
  readonly slowCallDurationMs?: number;
  /**
   * Open when, over the sliding window (with `minimumThroughput` calls), this fraction
   * (0, 1] of calls were slow. Works alongside either failure mode; a slow half-open
   * probe counts as failed.
   */
  readonly slowCallRateThreshold?: number;
  /** Failure-rate mode: calls needed in the window before the rate counts (default 10). */
  readonly minimumThroughput?: number;
  /** Failure-rate mode: length of the sliding window in ms (default 30000). */
  readonly windowMs?: number;
  /** How long the circuit stays open before admitting a probe, in ms (default 30000). */
  readonly halfOpenAfterMs?: number;
  /** Concurrent probe calls admitted while half-open (default 1). */
  readonly halfOpenMaxCalls?: number;
  /**
   * Longest a half-open probe may take, in ms (default 30000; `Infinity`: unbounded). A
   * probe still out after it counts as failed: the next call finds it overdue and
   * reopens the circuit (resilience4j's `maxWaitDurationInHalfOpenState`), so a probe
   * that never settles cannot hold the circuit half-open for ever.
   */
  readonly probeTimeoutMs?: number;
  /** Probe successes needed to close again (default 1). */
  readonly successThreshold?: number;
  /**
   * Whether an error counts as a failure of the dependency (default: every error but
   * an HTTP 4xx other than 408 and 429 — a 400 says nothing about the dependency's
   * health). Other errors count as successes. Never asked about the caller's abort or
   * a rejection by the SDK's own rate limiter or bulkhead, which are not recorded at all.
   */
  readonly isFailure?: (error: unknown) => boolean;
  /** Called once each time the circuit opens (from closed or half-open). Hook errors are ignored. */
  readonly onOpen?: (change: CircuitStateChange) => void;
  /** Called once each time the circuit moves to half-open to admit a probe. */
  readonly onHalfOpen?: (change: CircuitStateChange) => void;
  /** Called once each time the circuit closes (probes succeeded, `reset()`, an isolation released). */
  readonly onClose?: (change: CircuitStateChange) => void;
  /** Called once for each call the breaker rejects. */
  readonly onReject?: (rejection: BrokenCircuitError) => void;
  /**
   * Shares the state with breakers of the same `name` in other processes (a
   * `RedisCircuitBreakerStore` from `otel-resilience/redis`). Each process still counts
   * its own calls; when one opens, isolates, resets or closes the circuit, it publishes
   * that, and the others take it on — an open circuit for the time it has left — within
   * `syncIntervalMs`. Probes stay per process. While the store fails, each breaker works
   * on its own. Default: none (this process only).
   */
  readonly store?: CircuitBreakerStore;
  /**
   * How often, at most, a shared breaker reads the others' state, in ms (default 1000).
   * The call that finds a read due starts it and goes on; it never waits for the store.
   */
  readonly syncIntervalMs?: number;
  /** Clock for the window and the open period (default: the system clock). */
  readonly clock?: Clock;
}

/** A state change, as given to {@link CircuitBreaker.onStateChange} listeners. */
export interface CircuitStateChange {
  readonly breaker: string;
  readonly from: CircuitState;
  readonly to: CircuitState;
  /** Why: the reason and the numbers that decided it (failures and threshold, rates, the deciding call's duration). */
  readonly why: BreakerWhy;
}

/** Every key of {@link CircuitBreakerOptions}, for the unknown-key check. */
export const BREAKER_OPTIONS = [
  'name',
  'failureThreshold',
  'failureRateThreshold',
  'minimumThroughput',
  'windowMs',
  'halfOpenAfterMs',
  'halfOpenMaxCalls',
  'probeTimeoutMs',
  'successThreshold',
  'isFailure',
  'onOpen',
  'onHalfOpen',
  'onClose',
  'onReject',
  'slowCallDurationMs',
  'slowCallRateThreshold',
  'store',
  'syncIntervalMs',
  'clock',
];

/** A hold of {@link CircuitBreaker.isolate}; `release()` ends it (once; later calls do nothing). */
export interface CircuitIsolation {
  release(): void;
}
