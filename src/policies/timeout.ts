import type { TimeoutScope } from '../telemetry/events.js';
import { type Clock, systemClock } from './clock.js';
import { type Attempt, SignalSlot, StandalonePolicy } from './context.js';
import { DeadlineEntry, DeadlineQueue } from './deadline-queue.js';
import { TimeoutError } from './errors.js';
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

  run<T>(ctx: Attempt, next: (ctx: Attempt) => Promise<T>): Promise<T> {
    if (ctx.slot.aborted) return Promise.reject(ctx.slot.abortReason);
    const slot = new SignalSlot(ctx.slot);
    const at = this.clock.now() + this.timeoutMs;
    const inner = ctx.withSlot(slot, this.scope === 'total' && at < ctx.deadline ? at : ctx.deadline);
    const race = this.deadlines.insert(new TimedRun<T>(this.deadlines, at, this, ctx, slot));
    const promise = new Promise<T>((resolve, reject) => {
      race.resolve = resolve;
      race.reject = reject;
    });
    const work = next(inner);
    race.work = work;
    work.then(
      (value) => race.settle(value, true),
      (error: unknown) => race.settle(error, false),
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
  work: Promise<T> | undefined = undefined;
  // Set by the promise executor before anything can settle the run.
  resolve!: (value: T) => void;
  reject!: (reason: unknown) => void;

  constructor(
    queue: DeadlineQueue,
    at: number,
    private readonly policy: TimeoutPolicy,
    private readonly ctx: Attempt,
    private readonly slot: SignalSlot,
  ) {
    super(queue, at);
  }

  /** The work settled first (or after the deadline: then the promise is already rejected). */
  settle(outcome: unknown, ok: boolean): void {
    this.cancel();
    this.slot.dispose();
    if (ok) this.resolve(outcome as T);
    else this.reject(outcome);
  }

  expire(): void {
    const { scope, timeoutMs } = this.policy;
    const error = new TimeoutError(scope, timeoutMs);
    if (this.ctx.recording) this.ctx.report({ type: 'timeout', scope, timeoutMs });
    this.slot.abort(error);
    // The work is abandoned, not ended: what holds a permit for it keeps it until it settles.
    if (this.work !== undefined) this.ctx.onAbandon?.(this.work);
    this.reject(error);
  }
}
