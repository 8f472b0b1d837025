import { classifyError } from '../classify/index.js';
import type { BreakerWhy, CircuitState } from '../telemetry/events.js';
import { watchState } from '../telemetry/metrics.js';
import {
  BREAKER_OPTIONS,
  type CircuitBreakerOptions,
  type CircuitIsolation,
  type CircuitStateChange,
} from './circuit-breaker-options.js';
import type { CircuitBreakerStore, SharedCircuit, SharedCircuitState } from './circuit-breaker-store.js';
import { type Clock, systemClock } from './clock.js';
import { type Attempt, type AttemptGuard, notify, StandalonePolicy } from './context.js';
import { BrokenCircuitError, isPolicyRejection } from './errors.js';
import { SlidingWindow } from './sliding-window.js';
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

/** An admitted probe's or timed call's ticket: a closed circuit's plain call has its generation alone. */
class Admission {
  constructor(
    readonly generation: number,
    readonly probe: boolean,
    /** When it started (clock ms): a probe's entry in the probe starts, a timed call's duration origin. */
    readonly startedAt: number,
  ) {}
}

/** The default `isFailure`: every error but a client error (4xx other than 408 Request Timeout, 429 Too Many Requests). */
function isDependencyFailure(error: unknown): boolean {
  const status = classifyError(error).status;
  return status === undefined || status < 400 || status >= 500 || status === 408 || status === 429;
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
export class CircuitBreaker extends StandalonePolicy implements AttemptGuard {
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
    let ticket: unknown;
    try {
      ticket = this.enter(ctx);
    } catch (rejection) {
      return Promise.reject(rejection);
    }
    return next(ctx).then(
      (value) => {
        this.exit(ctx, ticket, value, true);
        return value;
      },
      (error: unknown) => {
        this.exit(ctx, ticket, error, false);
        throw error;
      },
    );
  }

  /**
   * Admits the attempt ({@link AttemptGuard}): returns its ticket — the generation it
   * was admitted in, with its start time where a probe or slow-call detection needs it
   * — or throws the {@link BrokenCircuitError} it is rejected with (reported, `onReject` told).
   */
  enter(ctx: Attempt): unknown {
    if (this.store !== undefined) this.syncIfDue(this.store);
    const rejection = this.admit(ctx);
    if (rejection !== undefined) {
      if (ctx.recording) ctx.report({ type: 'breaker-rejected', breaker: this.name, retryAfterMs: rejection.retryAfterMs });
      notify(this.hooks.onReject, rejection);
      throw rejection;
    }
    if (this.current === 'half_open') return new Admission(this.generation, true, this.probeStarts[this.probeStarts.length - 1]!);
    if (this.slowCallDurationMs !== undefined) return new Admission(this.generation, false, this.clock.now());
    return this.generation;
  }

  /** Records the outcome of an attempt admitted with `ticket` ({@link AttemptGuard}). */
  exit(ctx: Attempt, ticket: unknown, outcome: unknown, ok: boolean): void {
    // The caller's own abort, and a rejection by an inner limiter or bulkhead, say nothing about the dependency.
    const ignored = !ok && ((ctx.slot.aborted && outcome === ctx.slot.abortReason) || isPolicyRejection(outcome));
    const failed = ok ? false : ignored ? undefined : this.failed(outcome);
    if (typeof ticket === 'number') this.settle(ctx, ticket, false, failed, 0);
    else {
      const { generation, probe, startedAt } = ticket as Admission;
      this.settle(ctx, generation, probe, failed, startedAt);
    }
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
