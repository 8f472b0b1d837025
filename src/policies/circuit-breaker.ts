import { classifyError } from '../classify/index.js';
import type { BreakerWhy, CircuitState } from '../telemetry/events.js';
import { watchState } from '../telemetry/metrics.js';
import type { CircuitBreakerStore, SharedCircuit, SharedCircuitState } from './circuit-breaker-store.js';
import { type Clock, systemClock } from './clock.js';
import { type Attempt, notify, StandalonePolicy } from './context.js';
import { BrokenCircuitError, isPolicyRejection } from './errors.js';
import {
  clockOption,
  countOption,
  functionOption,
  implementsOption,
  knownOptions,
  numberOption,
  ratioOption,
  stringOption,
} from './validate.js';

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

const BREAKER_OPTIONS = [
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

/** The default `isFailure`: every error but a client error (4xx other than 408 Request Timeout, 429 Too Many Requests). */
function isDependencyFailure(error: unknown): boolean {
  const status = classifyError(error).status;
  return status === undefined || status < 400 || status >= 500 || status === 408 || status === 429;
}

/** Number of buckets the failure-rate window is divided into. */
const BUCKETS = 10;

/** Calls and failures over a sliding time window, kept in fixed buckets. */
class SlidingWindow {
  private readonly bucketMs: number;
  private readonly ids = new Float64Array(BUCKETS).fill(-1);
  private readonly calls = new Uint32Array(BUCKETS);
  private readonly failures = new Uint32Array(BUCKETS);
  private readonly slow = new Uint32Array(BUCKETS);

  constructor(windowMs: number) {
    this.bucketMs = windowMs / BUCKETS;
  }

  record(now: number, failed: boolean, slow: boolean): void {
    const id = Math.floor(now / this.bucketMs);
    const slot = id % BUCKETS;
    if (this.ids[slot] !== id) {
      this.ids[slot] = id;
      this.calls[slot] = 0;
      this.failures[slot] = 0;
      this.slow[slot] = 0;
    }
    this.calls[slot]! += 1;
    if (failed) this.failures[slot]! += 1;
    if (slow) this.slow[slot]! += 1;
  }

  /** [calls, failures, slow calls] in the buckets that overlap the last `windowMs`. */
  totals(now: number): [number, number, number] {
    const newest = Math.floor(now / this.bucketMs);
    let calls = 0;
    let failures = 0;
    let slow = 0;
    for (let slot = 0; slot < BUCKETS; slot++) {
      if (this.ids[slot]! > newest - BUCKETS) {
        calls += this.calls[slot]!;
        failures += this.failures[slot]!;
        slow += this.slow[slot]!;
      }
    }
    return [calls, failures, slow];
  }

  clear(): void {
    this.ids.fill(-1);
  }
}

/**
 * A circuit breaker: stops calling a failing dependency for a while, then probes it.
 *
 * States (closed / open / half-open, plus isolated): closed admits every call and counts
 * failures — consecutive ones (`failureThreshold`) or a failure rate over a sliding
 * window (`failureRateThreshold`, `minimumThroughput`, `windowMs`) — and, optionally,
 * slow calls (`slowCallDurationMs`, `slowCallRateThreshold`, resilience4j semantics). When the threshold
 * is reached it opens and rejects calls with {@link BrokenCircuitError} (with
 * `retryAfterMs`) for `halfOpenAfterMs`; then the next call moves it to half-open, which
 * admits `halfOpenMaxCalls` probes: `successThreshold` probe successes close it, one
 * probe failure (or a probe out longer than `probeTimeoutMs`) opens it again. The
 * thresholds are evaluated on every recorded outcome, success or failure (resilience4j).
 * `isolate()` holds it open until its handle is released (or `reset()`).
 *
 * Share one instance between every method that calls the same dependency. Outcomes of
 * calls admitted before the latest state change are ignored (a slow call from before
 * the circuit opened cannot decide a probe's fate). Every transition is reported as a
 * `resilience.circuit_breaker.state_change` event on the span of the call that caused
 * it, to `onStateChange` listeners and to the `onOpen` / `onHalfOpen` / `onClose` hooks;
 * each rejection to `onReject`. With `store`, breakers of the same name in
 * other processes open, isolate and close together.
 *
 * @throws TypeError/RangeError naming the option, for invalid options
 */
export class CircuitBreaker extends StandalonePolicy {
  readonly name: string;
  readonly failureThreshold: number;
  readonly failureRateThreshold: number | undefined;
  readonly minimumThroughput: number;
  readonly windowMs: number;
  readonly halfOpenAfterMs: number;
  readonly halfOpenMaxCalls: number;
  readonly probeTimeoutMs: number;
  readonly successThreshold: number;
  readonly slowCallDurationMs: number | undefined;
  readonly slowCallRateThreshold: number | undefined;
  private readonly isFailure: (error: unknown) => boolean;
  private readonly hooks: Pick<CircuitBreakerOptions, 'onOpen' | 'onHalfOpen' | 'onClose' | 'onReject'>;
  private readonly clock: Clock;
  private readonly window: SlidingWindow | undefined;
  private readonly listeners = new Set<(change: CircuitStateChange) => void>();
  private readonly store: CircuitBreakerStore | undefined;
  private readonly syncIntervalMs: number;
  /** The newest shared change seen (published or read). */
  private sharedGeneration = 0;
  private nextSyncAt = 0;
  private syncing = false;

  private current: CircuitState = 'closed';
  /** Incremented on every transition; calls carry the generation that admitted them. */
  private generation = 0;
  private consecutiveFailures = 0;
  private openedAt = 0;
  /** Start times of the probes out now, oldest first. */
  private readonly probeStarts: number[] = [];
  /** Open isolation handles. */
  private isolations = 0;
  private probeSuccesses = 0;

  constructor(options: CircuitBreakerOptions = {}) {
    super();
    knownOptions('circuitBreaker.', options, BREAKER_OPTIONS);
    this.name = stringOption('circuitBreaker.name', options.name, 'circuit-breaker');
    this.failureRateThreshold = ratioOption('circuitBreaker.failureRateThreshold', options.failureRateThreshold);
    if (this.failureRateThreshold !== undefined && options.failureThreshold !== undefined) {
      throw new TypeError(
        `Invalid option circuitBreaker.failureThreshold: ${options.failureThreshold} cannot be combined with failureRateThreshold (${this.failureRateThreshold}); choose consecutive or failure-rate mode`,
      );
    }
    this.failureThreshold = countOption('circuitBreaker.failureThreshold', options.failureThreshold, 5);
    this.minimumThroughput = countOption('circuitBreaker.minimumThroughput', options.minimumThroughput, 10);
    this.windowMs = numberOption('circuitBreaker.windowMs', options.windowMs, 30000, { min: 1 });
    this.halfOpenAfterMs = numberOption('circuitBreaker.halfOpenAfterMs', options.halfOpenAfterMs, 30000);
    this.halfOpenMaxCalls = countOption('circuitBreaker.halfOpenMaxCalls', options.halfOpenMaxCalls, 1);
    this.probeTimeoutMs = numberOption('circuitBreaker.probeTimeoutMs', options.probeTimeoutMs, 30000, {
      min: 1,
      allowInfinity: true,
    });
    this.successThreshold = countOption('circuitBreaker.successThreshold', options.successThreshold, 1);
    this.isFailure = functionOption('circuitBreaker.isFailure', options.isFailure) ?? isDependencyFailure;
    this.hooks = {
      onOpen: functionOption('circuitBreaker.onOpen', options.onOpen),
      onHalfOpen: functionOption('circuitBreaker.onHalfOpen', options.onHalfOpen),
      onClose: functionOption('circuitBreaker.onClose', options.onClose),
      onReject: functionOption('circuitBreaker.onReject', options.onReject),
    };
    this.slowCallRateThreshold = ratioOption('circuitBreaker.slowCallRateThreshold', options.slowCallRateThreshold);
    this.slowCallDurationMs =
      options.slowCallDurationMs === undefined
        ? undefined
        : numberOption('circuitBreaker.slowCallDurationMs', options.slowCallDurationMs, 0, { min: 1 });
    if ((this.slowCallRateThreshold === undefined) !== (this.slowCallDurationMs === undefined)) {
      throw new TypeError(
        `Invalid circuit breaker options: slowCallDurationMs (${options.slowCallDurationMs}) and slowCallRateThreshold (${options.slowCallRateThreshold}) go together`,
      );
    }
    this.clock = clockOption('circuitBreaker.clock', options.clock, systemClock);
    this.window =
      this.failureRateThreshold === undefined && this.slowCallRateThreshold === undefined
        ? undefined
        : new SlidingWindow(this.windowMs);
    this.store = implementsOption<CircuitBreakerStore>('circuitBreaker.store', options.store, 'CircuitBreakerStore', [
      'publish',
      'read',
    ]);
    this.syncIntervalMs = numberOption('circuitBreaker.syncIntervalMs', options.syncIntervalMs, 1000);
    watchState(this);
  }

  /**
   * The current state. An open circuit whose `halfOpenAfterMs` has passed still reads
   * `'open'` until a call arrives to probe it.
   */
  get state(): CircuitState {
    return this.current;
  }

  /** Subscribes to state changes; returns the unsubscribe function. Listener errors are ignored. */
  onStateChange(listener: (change: CircuitStateChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Holds the circuit open (state `isolated`, every call rejected) until the returned
   * handle is released — then it closes, once every handle taken is released — or
   * until {@link CircuitBreaker.reset}.
   */
  isolate(): CircuitIsolation {
    this.isolations++;
    if (this.current !== 'isolated') this.transition('isolated', undefined, { reason: 'isolated' });
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        if (this.isolations > 0 && --this.isolations === 0 && this.current === 'isolated')
          this.transition('closed', undefined, { reason: 'released' });
      },
    };
  }

  /** Closes the circuit and forgets all counts (and every isolation). */
  reset(): void {
    this.isolations = 0;
    this.transition('closed', undefined, { reason: 'reset' });
  }

  run<T>(ctx: Attempt, next: (ctx: Attempt) => Promise<T>): Promise<T> {
    if (this.store !== undefined) this.syncIfDue(this.store);
    const rejection = this.admit(ctx);
    if (rejection !== undefined) {
      if (ctx.recording) ctx.report({ type: 'breaker-rejected', breaker: this.name, retryAfterMs: rejection.retryAfterMs });
      notify(this.hooks.onReject, rejection);
      return Promise.reject(rejection);
    }
    const generation = this.generation;
    const probe = this.current === 'half_open';
    const startedAt = probe
      ? this.probeStarts[this.probeStarts.length - 1]!
      : this.slowCallDurationMs === undefined
        ? 0
        : this.clock.now();
    return next(ctx).then(
      (value) => {
        this.settle(ctx, generation, probe, false, startedAt);
        return value;
      },
      (error: unknown) => {
        // The caller's own abort, and a rejection by an inner limiter or bulkhead, say nothing about the dependency.
        const ignored = (ctx.slot.aborted && error === ctx.slot.abortReason) || isPolicyRejection(error);
        this.settle(ctx, generation, probe, ignored ? undefined : this.failed(error), startedAt);
        throw error;
      },
    );
  }

  private failed(error: unknown): boolean {
    try {
      return this.isFailure(error);
    } catch {
      return true;
    }
  }

  /** Admits the call (possibly moving open → half-open) or returns the rejection. */
  private admit(ctx: Attempt): BrokenCircuitError | undefined {
    switch (this.current) {
      case 'closed':
        return undefined;
      case 'isolated':
        return new BrokenCircuitError(this.name, 'isolated');
      case 'open': {
        const now = this.clock.now();
        const waitMs = this.openedAt + this.halfOpenAfterMs - now;
        if (waitMs > 0) return new BrokenCircuitError(this.name, 'open', waitMs);
        this.transition('half_open', ctx, { reason: 'half-open-after' });
        this.probeStarts.push(now);
        return undefined;
      }
      case 'half_open': {
        const now = this.clock.now();
        if (this.probeStarts.length > 0 && now - this.probeStarts[0]! >= this.probeTimeoutMs) {
          // The oldest probe is overdue: it counts as failed.
          this.transition('open', ctx, { reason: 'probe-timeout' });
          return new BrokenCircuitError(this.name, 'open', this.halfOpenAfterMs);
        }
        if (this.probeStarts.length >= this.halfOpenMaxCalls) return new BrokenCircuitError(this.name, 'half_open');
        this.probeStarts.push(now);
        return undefined;
      }
    }
  }

  /** Records an outcome: `failed` true/false, or undefined for "ignore (caller aborted)". */
  private settle(ctx: Attempt, generation: number, probe: boolean, failed: boolean | undefined, startedAt: number): void {
    if (generation !== this.generation) return;
    const durationMs = this.slowCallDurationMs === undefined ? 0 : this.clock.now() - startedAt;
    const slow = this.slowCallDurationMs !== undefined && durationMs >= this.slowCallDurationMs;
    if (probe) {
      const slowProbe = slow && failed === false;
      if (slowProbe) failed = true;
      const index = this.probeStarts.indexOf(startedAt);
      if (index >= 0) this.probeStarts.splice(index, 1);
      if (failed === undefined) return;
      if (failed) {
        this.transition('open', ctx, this.timed({ reason: slowProbe ? 'probe-slow' : 'probe-failed' }, durationMs, slow));
      } else if (++this.probeSuccesses >= this.successThreshold) {
        this.transition('closed', ctx, this.timed({ reason: 'probes-succeeded' }, durationMs, slow));
      }
      return;
    }
    if (failed === undefined || this.current !== 'closed') return;
    if (this.failureRateThreshold === undefined) {
      this.consecutiveFailures = failed ? this.consecutiveFailures + 1 : 0;
      if (this.consecutiveFailures >= this.failureThreshold) {
        const failures = this.consecutiveFailures;
        const why: BreakerWhy = { reason: 'failure-threshold', failures, failureThreshold: this.failureThreshold };
        this.transition('open', ctx, this.timed(why, durationMs, slow));
        return;
      }
    }
    if (this.window === undefined) return;
    const now = this.clock.now();
    this.window.record(now, failed, slow);
    // Evaluated on every recorded outcome: a success can complete the minimum throughput.
    const [calls, failures, slowCalls] = this.window.totals(now);
    if (calls < this.minimumThroughput) return;
    const failureRateReached = this.failureRateThreshold !== undefined && failures / calls >= this.failureRateThreshold;
    const slowRateReached = this.slowCallRateThreshold !== undefined && slowCalls / calls >= this.slowCallRateThreshold;
    if (!failureRateReached && !slowRateReached) return;
    const why: BreakerWhy = {
      reason: failureRateReached ? 'failure-rate' : 'slow-call-rate',
      calls,
      ...(this.failureRateThreshold === undefined
        ? {}
        : { failureRate: failures / calls, failureRateThreshold: this.failureRateThreshold }),
      ...(this.slowCallRateThreshold === undefined
        ? {}
        : { slowCallRate: slowCalls / calls, slowCallRateThreshold: this.slowCallRateThreshold }),
    };
    this.transition('open', ctx, this.timed(why, durationMs, slow));
  }

  /**
   * `why` with, when slow-call detection is on, how long the deciding call took and
   * whether that was slow (built only for a transition, not for every call).
   */
  private timed(why: BreakerWhy, durationMs: number, slow: boolean): BreakerWhy {
    if (this.slowCallDurationMs === undefined) return why;
    return { ...why, callDurationMs: durationMs, callSlow: slow, slowCallDurationMs: this.slowCallDurationMs };
  }

  /** Starts reading the shared state when a read is due; the calling call does not wait for it. */
  private syncIfDue(store: CircuitBreakerStore): void {
    const now = this.clock.now();
    if (this.syncing || now < this.nextSyncAt) return;
    this.syncing = true;
    this.nextSyncAt = now + this.syncIntervalMs;
    let read: Promise<SharedCircuit | undefined>;
    try {
      read = store.read(this.name);
    } catch (error) {
      read = Promise.reject(error);
    }
    const generation = this.generation;
    read
      .then(
        (shared) => {
          // A change made here while the read was out is newer than what it brings.
          if (shared !== undefined && this.generation === generation) this.adopt(shared);
        },
        () => {}, // the store is down: this breaker goes on by its own counts
      )
      .finally(() => {
        this.syncing = false;
      });
  }

  /** Takes on a change another process published, if it is newer than what this one has seen. */
  private adopt(shared: SharedCircuit): void {
    if (shared.generation <= this.sharedGeneration) return;
    this.sharedGeneration = shared.generation;
    if (shared.state === this.current) return;
    this.transition(shared.state, undefined, { reason: 'shared' }, shared.openRemainingMs, false);
  }

  /**
   * Moves to `to`, for the reason `why` (reported on the causing call's span). An open
   * circuit has `openRemainingMs` left before probing (default: the whole
   * `halfOpenAfterMs`). A shared breaker publishes the change unless it adopted it.
   */
  private transition(
    to: CircuitState,
    ctx: Attempt | undefined,
    why: BreakerWhy,
    openRemainingMs = this.halfOpenAfterMs,
    publish = true,
  ): void {
    const from = this.current;
    this.current = to;
    this.generation++;
    this.consecutiveFailures = 0;
    this.probeStarts.length = 0;
    this.probeSuccesses = 0;
    if (to === 'open') this.openedAt = this.clock.now() - (this.halfOpenAfterMs - openRemainingMs);
    if (to === 'closed') this.window?.clear();
    if (publish && this.store !== undefined && to !== 'half_open') this.publish(this.store, to);
    if (from === to) return;
    const change: CircuitStateChange = { breaker: this.name, from, to, why };
    if (ctx?.recording) ctx.report({ type: 'breaker-state-change', ...change });
    notify(
      to === 'open'
        ? this.hooks.onOpen
        : to === 'half_open'
          ? this.hooks.onHalfOpen
          : to === 'closed'
            ? this.hooks.onClose
            : undefined,
      change,
    );
    for (const listener of this.listeners) notify(listener, change);
  }

  /** Tells the other processes; a failing store is ignored (this breaker goes on by itself). */
  private publish(store: CircuitBreakerStore, state: SharedCircuitState): void {
    try {
      store.publish(this.name, state, state === 'open' ? this.halfOpenAfterMs : 0).then(
        (generation) => {
          this.sharedGeneration = Math.max(this.sharedGeneration, generation);
        },
        () => {},
      );
    } catch {
      // As above.
    }
  }
}
