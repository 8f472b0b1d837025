import type { TimeoutScope } from '../telemetry/events.js';
import { type Clock, systemClock } from './clock.js';
import { type Attempt, SignalSlot, StandalonePolicy } from './context.js';
import { DeadlineQueue } from './deadline-queue.js';
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
    return new Promise<T>((resolve, reject) => {
      let work: Promise<T> | undefined;
      const deadline = this.deadlines.add(at, () => {
        const error = new TimeoutError(this.scope, this.timeoutMs);
        if (ctx.recording) ctx.report({ type: 'timeout', scope: this.scope, timeoutMs: this.timeoutMs });
        slot.abort(error);
        // The work is abandoned, not ended: what holds a permit for it keeps it until it settles.
        if (work !== undefined) ctx.onAbandon?.(work);
        reject(error);
      });
      work = next(inner);
      work.then(
        (value) => {
          deadline.cancel();
          slot.dispose();
          resolve(value);
        },
        (error: unknown) => {
          deadline.cancel();
          slot.dispose();
          reject(error);
        },
      );
    });
  }
}
