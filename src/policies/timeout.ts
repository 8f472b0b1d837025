import type { TimeoutScope } from '../telemetry/events.js';
import { type Clock, systemClock } from './clock.js';
import { type Attempt, SignalSlot, StandalonePolicy } from './context.js';
import { DeadlineEntry, DeadlineQueue } from './deadline-queue.js';
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
 * and no timer keeps the process alive once no call is pending.
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
    this.deadlines = new DeadlineQueue(this.clock);
  }

  /**
   * Runs `next` within the time budget. `settle`, if given, is applied to the work's
   * value before the deadline is cancelled — what needs the budget to cover it (the
   * pipeline reading a stream up to its first chunk) without a promise layer of its
   * own: it returns the value to resolve with, or a promise of it.
   */
  run<T>(ctx: Attempt, next: (ctx: Attempt) => Promise<T>, settle?: (value: T, ctx: Attempt) => unknown): Promise<T> {
    if (ctx.slot.aborted) return Promise.reject(ctx.slot.abortReason);
    const slot = new SignalSlot(ctx.slot);
    const at = this.clock.now() + this.timeoutMs;
    const inner = ctx.withSlot(slot, this.scope === 'total' && at < ctx.deadline ? at : ctx.deadline);
    const run = this.deadlines.insert(new TimedRun<T>(this.deadlines, at, this, ctx, inner, slot, settle));
    const promise = new Promise<T>((resolve, reject) => {
      run.resolve = resolve;
      run.reject = reject;
    });
    next(inner).then(
      (value) => run.succeeded(value),
      (error: unknown) => run.finish(error, false),
    );
    return promise;
  }
}

/**
 * One timed run of the work: its deadline in the policy's queue, the promise handed
 * outwards, and what to do when either the work or the deadline comes first — kept in
 * one object, so a run allocates no closure for its deadline.
 */
class TimedRun<T> extends DeadlineEntry {
  /** Told when the work (and its `settle`) ended, once the run was abandoned. */
  private ended: (() => void) | undefined = undefined;
  // Set by the promise executor before anything can settle the run.
  resolve!: (value: T) => void;
  reject!: (reason: unknown) => void;
  private expired = false;

  constructor(
    queue: DeadlineQueue,
    at: number,
    private readonly policy: TimeoutPolicy,
    private readonly ctx: Attempt,
    private readonly inner: Attempt,
    private readonly slot: SignalSlot,
    private readonly settle: ((value: T, ctx: Attempt) => unknown) | undefined,
  ) {
    super(queue, at);
  }

  /** The work resolved: its value goes through `settle` (which may take more time) before the run ends. */
  succeeded(value: T): void {
    if (this.settle === undefined) return this.finish(value, true);
    let settled: unknown;
    try {
      settled = this.settle(value, this.inner);
    } catch (error) {
      return this.finish(error, false);
    }
    if (!(settled instanceof Promise)) return this.finish(settled, true);
    settled.then(
      (primed: T) => this.finish(primed, true),
      (error: unknown) => this.finish(error, false),
    );
  }

  /** The run ended (after the deadline too: the promise is rejected already, and a late stream is closed unread). */
  finish(outcome: unknown, ok: boolean): void {
    this.cancel();
    this.slot.dispose();
    this.ended?.();
    if (!ok) return this.reject(outcome);
    if (this.expired) cancelStreamedResult(outcome);
    this.resolve(outcome as T);
  }

  expire(): void {
    this.expired = true;
    const { scope, timeoutMs } = this.policy;
    const error = new TimeoutError(scope, timeoutMs);
    if (this.ctx.recording) this.ctx.report({ type: 'timeout', scope, timeoutMs });
    this.slot.abort(error);
    // The work is abandoned, not ended: what holds a permit for it keeps it until it settles.
    const onAbandon = this.ctx.onAbandon;
    if (onAbandon !== undefined) onAbandon(new Promise<void>((resolve) => (this.ended = resolve)));
    this.reject(error);
  }
}
