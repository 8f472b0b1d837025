/**
 * A virtual clock for properties: time moves only when the test runs the next timer,
 * timers fire in deadline order, and — like Node — a delay above 2^31−1 ms (or below
 * 1 ms) fires after 1 ms, so code that trusts one long timer is caught.
 */
import type { Clock } from '../../src/index.js';

const NODE_TIMEOUT_MAX = 2 ** 31 - 1;

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly callback: () => void;
}

/** Lets every pending promise continuation run (a real macrotask turn). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class VirtualClock implements Clock {
  private time: number;
  private seq = 0;
  private timers: Timer[] = [];

  constructor(start = 1_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, delayMs: number): unknown {
    const after = delayMs >= 1 && delayMs <= NODE_TIMEOUT_MAX ? delayMs : 1;
    const timer: Timer = { at: this.time + after, seq: this.seq++, callback };
    this.timers.push(timer);
    return timer;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t !== handle);
  }

  /** Pending timers. */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves to the earliest timer's deadline and fires it (and the continuations it starts); false when none is left. */
  async next(): Promise<boolean> {
    await settle();
    if (this.timers.length === 0) return false;
    const timer = this.timers.reduce((a, b) => (a.at < b.at || (a.at === b.at && a.seq < b.seq) ? a : b));
    this.timers = this.timers.filter((t) => t !== timer);
    this.time = Math.max(this.time, timer.at);
    timer.callback();
    await settle();
    return true;
  }

  /** Moves time forward by `ms` with no timer firing: synchronous work keeping the event loop busy. */
  busy(ms: number): void {
    this.time += ms;
  }

  /** Fires timers in order until none is left or `maxTimers` have fired. */
  async runAll(maxTimers = 10_000): Promise<void> {
    for (let i = 0; i < maxTimers && (await this.next()); i++);
  }

  /** Moves time forward by `ms`, firing the timers due on the way. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    await settle();
    while (this.timers.some((t) => t.at <= end)) await this.next();
    this.time = end;
    await settle();
  }
}
