import { type Clock, systemClock } from './clock.js';
import { type Attempt, SignalSlot, StandalonePolicy } from './context.js';
import { type Deadline, DeadlineQueue } from './deadline-queue.js';
import { HedgeLostError, isPolicyRejection } from './errors.js';
import { classifyOnClock } from './retry.js';
import { cancelStreamedResult } from './streamed-result.js';
import { clockOption, functionOption, knownOptions, numberOption } from './validate.js';

/** Options of {@link HedgingPolicy}. */
export interface HedgingOptions {
  /** Extra attempts beyond the first (default 1). */
  readonly maxHedgedAttempts?: number;
  /** Wait before launching the next attempt while none has answered, in ms (default 2000; 0 launches all at once). */
  readonly delayMs?: number;
  /**
   * Whether a failed attempt may be hedged past (default: `classifyError(error).retryable`,
   * never for a rejection by the SDK's own breaker, rate limiter or bulkhead).
   */
  readonly shouldHedge?: (error: unknown) => boolean;
  /** Clock for the delays (default: the system clock). */
  readonly clock?: Clock;
}

/**
 * Hedging (Polly v8): starts an attempt, and while none has answered launches another
 * every `delayMs`, up to `maxHedgedAttempts` extra ones; a failure worth hedging launches
 * the next at once. The first success wins: the other attempts are aborted with
 * {@link HedgeLostError} as their signal's reason, and their spans end marked `lost`.
 * A failure not worth hedging ends the call at once with that error; when every attempt
 * failed, the last one's error is thrown unchanged. Each launch (counted by an inner
 * rate limiter and bulkhead like any request) after the first
 * is reported as a `resilience.hedge` event. Takes the place of retry in a pipeline.
 *
 * @throws TypeError/RangeError naming the option, for invalid options
 */
export class HedgingPolicy extends StandalonePolicy {
  readonly maxHedgedAttempts: number;
  readonly delayMs: number;
  private readonly shouldHedge: (error: unknown) => boolean;
  private readonly deadlines: DeadlineQueue;
  private readonly clock: Clock;

  constructor(options: HedgingOptions = {}) {
    super();
    knownOptions('hedging.', options, ['maxHedgedAttempts', 'delayMs', 'shouldHedge', 'clock']);
    this.maxHedgedAttempts = numberOption('hedging.maxHedgedAttempts', options.maxHedgedAttempts, 1, { integer: true });
    this.delayMs = numberOption('hedging.delayMs', options.delayMs, 2000);
    this.clock = clockOption('hedging.clock', options.clock, systemClock);
    this.shouldHedge =
      functionOption('hedging.shouldHedge', options.shouldHedge) ??
      ((error) => !isPolicyRejection(error) && classifyOnClock(error, this.clock).retryable);
    this.deadlines = new DeadlineQueue(this.clock);
  }

  run<T>(ctx: Attempt, next: (ctx: Attempt) => Promise<T>): Promise<T> {
    const total = this.maxHedgedAttempts + 1;
    return new Promise<T>((resolve, reject) => {
      const slots: SignalSlot[] = [];
      let failures = 0;
      let pending = 0;
      let done = false;
      let timer: Deadline | undefined;

      const finish = (winner: number) => {
        done = true;
        timer?.cancel();
        slots.forEach((slot, i) => {
          if (i + 1 !== winner) slot.abort(new HedgeLostError(winner));
        });
      };
      const launch = (): void => {
        timer = undefined;
        if (done || slots.length >= total) return;
        const attempt = slots.length + 1;
        const slot = new SignalSlot(ctx.slot);
        slots.push(slot);
        pending++;
        if (attempt > 1 && ctx.recording) ctx.report({ type: 'hedge', attempt });
        if (slots.length < total) {
          if (this.delayMs === 0) queueMicrotask(launch);
          else timer = this.deadlines.add(this.clock.now() + this.delayMs, launch);
        }
        next(ctx.withAttempt(attempt).withSlot(slot)).then(
          (value) => {
            pending--;
            if (done) {
              cancelStreamedResult(value); // a losing hedge's stream: nobody will read it
              return;
            }
            finish(attempt);
            resolve(value);
          },
          (error: unknown) => {
            pending--;
            if (done) return;
            if (ctx.slot.aborted || !this.shouldHedge(error)) {
              finish(0);
              reject(error);
              return;
            }
            failures++;
            if (slots.length < total) {
              timer?.cancel();
              launch();
            } else if (pending === 0) {
              finish(0);
              if (ctx.recording) ctx.report({ type: 'retry-exhausted', attempts: failures, reason: 'max-retries' });
              reject(error);
            }
          },
        );
      };
      launch();
    });
  }
}
