import type { TimeoutScope } from '../telemetry/events.js';
import { type Clock, systemClock } from './clock.js';
import { type Attempt, SignalSlot, StandalonePolicy } from './context.js';
import { type DeadlineEntry, DeadlineQueue } from './deadline-queue.js';
import { TimeoutError } from './errors.js';
import { cancelStreamedResult } from './streamed-result.js';
import { choiceOption, clockOption, knownOptions, numberOption } from './validate.js';

/** Options of {@link TimeoutPolicy}. */
export interface TimeoutOptions {
  /** The time budget in ms (>= 1; above 2^31−1 ms it is waited as chained timers). */
  readonly timeoutMs: number;
  /** `'attempt'` (default: one attempt's budget) or `'total'` (the whole call, across retries). */
  readonly scope?: TimeoutScope;
  /** Clock for the timer (default: the system clock). */
  readonly clock?: Clock;
}

/**
 * Bounds how long the work may take. When `timeoutMs` elapses it aborts the signal it
 * handed inwards (with the {@link TimeoutError} as reason) and rejects at once with that
 * `TimeoutError` — the work is abandoned, its promise no longer awaited — and reports a
 * `resilience.timeout` event. An enclosing bulkhead keeps the abandoned work's permit
 * until that work really settles. A total timeout also sets `ctx.deadline`, so retries never
 * wait past it. The caller's signal is honoured: when it aborts, the call rejects with
 * its reason.
 *
 * All calls through one policy share a single timer (a success costs no timer work),
 * and no timer keeps the process alive once no call is pending (an attempt timeout's
 * within 1 ms). An attempt timeout fires after `timeoutMs`, never before, and at most
 * 1 ms late while the event loop runs: attempts started within 1 ms of a clock read
 * share a later one instead of reading the clock each (`Date.now()` costs ~40 ns).
 *
 * @throws TypeError/RangeError naming the option, for invalid options
 */
export class TimeoutPolicy extends StandalonePolicy {
  readonly timeoutMs: number;
  readonly scope: TimeoutScope;
  private readonly clock: Clock;
  private readonly deadlines: DeadlineQueue;

  constructor(options: TimeoutOptions) {
    super();
    knownOptions('timeout.', options, ['timeoutMs', 'scope', 'clock']);
    this.scope = choiceOption('timeout.scope', options.scope, ['attempt', 'total'], 'attempt');
    if (options.timeoutMs === undefined)
      throw new TypeError('Invalid option timeout.timeoutMs: expected a number >= 1, got undefined');
    this.timeoutMs = numberOption('timeout.timeoutMs', options.timeoutMs, 0, { min: 1 });
    this.clock = clockOption('timeout.clock', options.clock, systemClock);
    this.deadlines = new DeadlineQueue(this.clock, this.timeoutMs);
  }

  /**
   * Runs `next` within the time budget. `settle`, if given, is applied to the work's
   * value before the deadline is cancelled — what needs the budget to cover it (the
   * pipeline reading a stream up to its first chunk) without a promise layer of its
   * own: it returns the value to resolve with, or a promise of it.
   */
  run<T>(ctx: Attempt, next: (ctx: Attempt) => Promise<T>, settle?: (value: T, ctx: Attempt) => unknown): Promise<T> {
    if (ctx.slot.aborted) return Promise.reject(ctx.slot.abortReason);
    const run = new TimedRun<T>(ctx.slot, this, this.deadlines, settle);
    // A total deadline is the call's, read by retry (no backoff past it): exact. An
    // attempt's is its own: in a burst of calls, stamped without a clock read each.
    const total = this.scope === 'total';
    if (total) run.at = this.clock.now() + this.timeoutMs;
    const inner = total ? ctx.withSlot(run, Math.min(run.at, ctx.deadline)) : ctx.withSlot(run);
    run.inner = inner;
    if (total) this.deadlines.insert(run);
    else this.deadlines.insertAfter(run);
    opening = run;
    const promise = new Promise<T>(openRun);
    let work: Promise<T>;
    try {
      work = next(inner);
    } catch (error) {
      // A step that throws instead of rejecting (a chaos fault function) fails the run all the same.
      run.finish(error, false);
      return promise;
    }
    work.then(
      (value) => run.succeeded(value),
      (error: unknown) => run.finish(error, false),
    );
    return promise;
  }
}

/** The run whose promise is being made: the executor below reads it at once (no closure per run). */
let opening: TimedRun<any> | undefined;

function openRun(resolve: (value: any) => void, reject: (reason: unknown) => void): void {
  opening!.resolve = resolve;
  opening!.reject = reject;
  opening = undefined;
}

/**
 * One timed run of the work, kept in one object (no closure per run): the cancellation
 * layer handed inwards, its entry in the policy's deadline queue, the promise handed
 * outwards, and what to do when either the work or the deadline comes first.
 */
class TimedRun<T> extends SignalSlot implements DeadlineEntry {
  prev: DeadlineEntry | undefined = undefined;
  next: DeadlineEntry | undefined = undefined;
  live = true;
  /** The context handed inwards (with this slot). */
  inner!: Attempt;
  // Set by the promise executor before anything can settle the run.
  resolve!: (value: T) => void;
  reject!: (reason: unknown) => void;
  /** Told when the work (and its `settle`) ended, once the run was abandoned. */
  private ended: (() => void) | undefined = undefined;

  /** When it expires (clock ms), set by the queue for an attempt's deadline. */
  at = Number.NaN;

  constructor(
    parent: SignalSlot,
    private readonly policy: TimeoutPolicy,
    private readonly queue: DeadlineQueue,
    private readonly settle: ((value: T, ctx: Attempt) => unknown) | undefined,
  ) {
    super(parent);
  }

  /** The work resolved: its value goes through `settle` (which may take more time) before the run ends. */
  succeeded(value: T): void {
    let settled: unknown = value;
    try {
      if (this.settle !== undefined) settled = this.settle(value, this.inner);
    } catch (error) {
      this.finish(error, false);
      return;
    }
    if (!(settled instanceof Promise)) {
      this.finish(settled, true);
      return;
    }
    settled.then(
      (primed: T) => this.finish(primed, true),
      (error: unknown) => this.finish(error, false),
    );
  }

  /** The run ended (after the deadline too: the promise is rejected already, and a late stream is closed unread). */
  finish(outcome: unknown, ok: boolean): void {
    // Still queued unless the deadline came first and took it out (`expire`).
    const expired = !this.live;
    this.queue.remove(this);
    this.dispose();
    this.ended?.();
    if (!ok) this.reject(outcome);
    else {
      if (expired) cancelStreamedResult(outcome);
      this.resolve(outcome as T);
    }
  }

  expire(): void {
    const { scope, timeoutMs } = this.policy;
    const error = new TimeoutError(scope, timeoutMs);
    const ctx = this.inner;
    if (ctx.recording) ctx.report({ type: 'timeout', scope, timeoutMs });
    this.abort(error);
    // The work is abandoned, not ended: what holds a permit for it keeps it until it settles.
    const onAbandon = ctx.onAbandon;
    if (onAbandon !== undefined) onAbandon(new Promise<void>((resolve) => (this.ended = resolve)));
    this.reject(error);
  }
}
