import type { TimeoutScope } from '../telemetry/events.js';
import { reportToActiveSpan } from '../telemetry/spans.js';
import { type Clock, systemClock } from './clock.js';
import { type ExecuteOptions, type ExecutionContext, invoke, type Policy, rootContext, type Work } from './context.js';
import { TimeoutError } from './errors.js';
import { choiceOption, numberOption } from './validate.js';

/** Options of {@link TimeoutPolicy}. */
export interface TimeoutOptions {
  /** The time budget in ms (>= 1). */
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
 * `resilience.timeout` event. The caller's signal is honoured the same way: when it
 * aborts, the inner signal aborts and the call rejects with the caller's reason.
 * A total timeout also sets `ctx.deadline`, so retries never wait past it.
 *
 * @throws TypeError/RangeError naming the option, for invalid options
 */
export class TimeoutPolicy implements Policy {
  readonly timeoutMs: number;
  readonly scope: TimeoutScope;
  private readonly clock: Clock;

  constructor(options: TimeoutOptions) {
    this.scope = choiceOption('timeout.scope', options?.scope, ['attempt', 'total'], 'attempt');
    const option = this.scope === 'total' ? 'totalTimeoutMs' : 'attemptTimeoutMs';
    if (options?.timeoutMs === undefined) throw new TypeError(`Invalid option ${option}: expected a number >= 1, got undefined`);
    this.timeoutMs = numberOption(option, options.timeoutMs, 0, { min: 1 });
    this.clock = options.clock ?? systemClock;
  }

  /** Runs `work` under the timeout. See the class documentation. */
  execute<T>(work: Work<T>, options?: ExecuteOptions): Promise<T> {
    return this.run(rootContext(options, reportToActiveSpan), (ctx) => invoke(work, ctx));
  }

  run<T>(ctx: ExecutionContext, next: (ctx: ExecutionContext) => Promise<T>): Promise<T> {
    const parent = ctx.signal;
    if (parent.aborted) return Promise.reject(parent.reason);
    const controller = new AbortController();
    const deadline = this.scope === 'total' ? Math.min(ctx.deadline, this.clock.now() + this.timeoutMs) : ctx.deadline;
    return new Promise<T>((resolve, reject) => {
      const onParentAbort = () => {
        this.clock.clearTimeout(timer);
        controller.abort(parent.reason);
        reject(parent.reason);
      };
      const timer = this.clock.setTimeout(() => {
        parent.removeEventListener('abort', onParentAbort);
        const error = new TimeoutError(this.scope, this.timeoutMs);
        ctx.report({ type: 'timeout', scope: this.scope, timeoutMs: this.timeoutMs });
        controller.abort(error);
        reject(error);
      }, this.timeoutMs);
      parent.addEventListener('abort', onParentAbort, { once: true });
      next({ ...ctx, signal: controller.signal, deadline }).then(
        (value) => {
          this.clock.clearTimeout(timer);
          parent.removeEventListener('abort', onParentAbort);
          resolve(value);
        },
        (error: unknown) => {
          this.clock.clearTimeout(timer);
          parent.removeEventListener('abort', onParentAbort);
          reject(error);
        },
      );
    });
  }
}
