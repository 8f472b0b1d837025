import * as names from '../telemetry/names.js';
import { endWaitSpan, startChildSpan } from './child-span.js';
import { type Clock, systemClock } from './clock.js';
import { type Attempt, StandalonePolicy } from './context.js';
import { DeadlineQueue } from './deadline-queue.js';
import { BulkheadRejectedError } from './errors.js';
import { isStreamedResult, ON_STREAM_END } from './streamed-result.js';
import { clockOption, countOption, knownOptions, numberOption, stringOption } from './validate.js';

/** Options of {@link Bulkhead}. */
export interface BulkheadOptions {
  /** Name in events and errors (default `'bulkhead'`). */
  readonly name?: string;
  /** Calls allowed to run at once (default 10). */
  readonly maxConcurrent?: number;
  /** Calls allowed to wait for a slot (default 0: reject at once when all slots are busy). */
  readonly maxQueue?: number;
  /** Longest wait in the queue, in ms (default `Infinity`). */
  readonly queueTimeoutMs?: number;
  /** Clock for queue timeouts and waited time (default: the system clock). */
  readonly clock?: Clock;
}

interface Waiter {
  /** Takes the waiter's call out of the queue and lets it run. */
  readonly admit: () => void;
}

/**
 * A bulkhead: at most `maxConcurrent` calls run at once — counted at the dependency: in
 * a pipeline every attempt and hedge takes a slot, and an attempt abandoned by its
 * attempt timeout keeps its slot until its work really settles; up to `maxQueue` more wait in
 * arrival order for a slot, each for at most `queueTimeoutMs`; any other call is
 * rejected at once with {@link BulkheadRejectedError}. A wait in the queue is a child
 * span of the call (`bulkhead wait`, `resilience.bulkhead.waited_ms`) and a
 * `resilience.bulkhead.queued` event with the time it waited; a rejection reports
 * `resilience.bulkhead.rejected`. Share one instance to bound the calls to one
 * dependency across methods.
 *
 * @throws TypeError/RangeError naming the option, for invalid options
 */
export class Bulkhead extends StandalonePolicy {
  readonly name: string;
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  readonly queueTimeoutMs: number;
  private readonly clock: Clock;
  private readonly deadlines: DeadlineQueue;
  private readonly queue: Waiter[] = [];
  private running = 0;

  constructor(options: BulkheadOptions = {}) {
    super();
    knownOptions('bulkhead.', options, ['name', 'maxConcurrent', 'maxQueue', 'queueTimeoutMs', 'clock']);
    this.name = stringOption('bulkhead.name', options.name, 'bulkhead');
    this.maxConcurrent = countOption('bulkhead.maxConcurrent', options.maxConcurrent, 10);
    this.maxQueue = numberOption('bulkhead.maxQueue', options.maxQueue, 0, { integer: true, allowInfinity: true });
    this.queueTimeoutMs = numberOption('bulkhead.queueTimeoutMs', options.queueTimeoutMs, Infinity, {
      allowInfinity: true,
    });
    this.clock = clockOption('bulkhead.clock', options.clock, systemClock);
    this.deadlines = new DeadlineQueue(this.clock);
  }

  /** Calls running now. */
  get active(): number {
    return this.running;
  }

  /** Calls waiting for a slot now. */
  get queued(): number {
    return this.queue.length;
  }

  run<T>(ctx: Attempt, next: (ctx: Attempt) => Promise<T>): Promise<T> {
    if (this.running < this.maxConcurrent) {
      this.running++;
      return this.guard(ctx, next);
    }
    if (this.queue.length >= this.maxQueue) return Promise.reject(this.rejection(ctx, 'queue-full'));
    const enqueuedAt = this.clock.now();
    // The wait is a child span of the call, visible in the timeline.
    const span = startChildSpan(ctx.call, names.SPAN_BULKHEAD_WAIT, {
      [names.ATTR_BULKHEAD_NAME]: this.name,
    });
    const waited = (extra?: { [names.ATTR_REJECT_REASON]: string }) =>
      endWaitSpan(span, names.ATTR_BULKHEAD_WAITED_MS, this.clock.now() - enqueuedAt, extra);
    return new Promise<void>((resolve, reject) => {
      // The attempt's signal follows the caller's and a total timeout's: a waiter whose
      // call was given up leaves the queue at once, freeing its place.
      const signal = ctx.signal;
      const leave = () => {
        this.queue.splice(this.queue.indexOf(waiter), 1);
        signal.removeEventListener('abort', onAbort);
        deadline?.cancel();
      };
      const onAbort = () => {
        leave();
        waited();
        reject(signal.reason);
      };
      const waiter: Waiter = {
        admit: () => {
          leave();
          waited();
          resolve();
        },
      };
      const deadline =
        this.queueTimeoutMs === Infinity
          ? undefined
          : this.deadlines.add(enqueuedAt + this.queueTimeoutMs, () => {
              leave();
              waited({ [names.ATTR_REJECT_REASON]: 'queue-timeout' });
              reject(this.rejection(ctx, 'queue-timeout'));
            });
      signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    }).then(() => {
      if (ctx.recording) ctx.report({ type: 'bulkhead-queued', bulkhead: this.name, waitedMs: this.clock.now() - enqueuedAt });
      return this.guard(ctx, next);
    });
  }

  private rejection(ctx: Attempt, reason: 'queue-full' | 'queue-timeout'): BulkheadRejectedError {
    if (ctx.recording) ctx.report({ type: 'bulkhead-rejected', bulkhead: this.name, reason });
    return new BulkheadRejectedError(this.name, reason);
  }

  /**
   * Runs `next` in a held slot and frees the slot when it settles — or, when an inner
   * attempt timeout abandoned the work, when the work itself settles: abandoned work
   * still runs against the dependency. A streamed result holds its slot until its
   * stream ends (read to the end, failed, or cancelled by the reader).
   */
  private guard<T>(ctx: Attempt, next: (ctx: Attempt) => Promise<T>): Promise<T> {
    let abandoned: Promise<unknown> | undefined;
    const settle = () => {
      if (abandoned === undefined) this.release();
      else abandoned.then(this.releaseOne, this.releaseOne);
    };
    let work: Promise<T>;
    try {
      work = next(ctx.withOnAbandon((work) => (abandoned = work)));
    } catch (error) {
      settle(); // a step that throws instead of rejecting must not keep the slot
      return Promise.reject(error);
    }
    return work.then(
      (value) => {
        // A stream still runs against the dependency after its first chunk: its slot is held until it ends.
        if (isStreamedResult(value)) value[ON_STREAM_END](settle);
        else settle();
        return value;
      },
      (error: unknown) => {
        settle();
        throw error;
      },
    );
  }

  private readonly releaseOne = () => this.release();

  /** Frees a slot, handing it to the first waiter (those given up have left the queue). */
  private release(): void {
    this.running--;
    if (this.queue.length > 0) {
      this.running++;
      this.queue[0]!.admit();
    }
  }
}
