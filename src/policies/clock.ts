/**
 * Time and randomness as injectable services, so every policy can be driven by fake
 * timers or a hand-moved clock in tests.
 */

/** A source of time and timers. Milliseconds throughout. */
export interface Clock {
  /** Current time in milliseconds: what durations, windows and deadlines are measured on (default `Date.now()`). */
  now(): number;
  /**
   * Wall-clock time in ms since the Unix epoch, for what is dated in calendar time (an
   * HTTP-date in `Retry-After`). Optional: without it, `now()` is taken as wall time.
   */
  wallNow?(): number;
  /**
   * Schedules `callback` after `delayMs`; returns a handle for {@link Clock.clearTimeout}.
   * The SDK never asks for more than {@link MAX_TIMER_MS} at once: longer waits are
   * chained timers.
   */
  setTimeout(callback: () => void, delayMs: number): unknown;
  /** Cancels a timer made by {@link Clock.setTimeout}. */
  clearTimeout(handle: unknown): void;
}

/**
 * The longest delay one timer is set for: 2^31−1 ms (about 24.8 days). Node (and
 * browsers) fire a longer timer after 1 ms; the SDK waits longer durations really, as a
 * chain of timers of at most this length.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The process clock: `Date.now()` and the global timers, looked up at call time so
 * test frameworks' fake timers (vitest `vi.useFakeTimers()`) take effect.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  wallNow: () => Date.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** The clock's wall time: `wallNow()` where it has one, else `now()`. */
export function wallTime(clock: Clock): number {
  return clock.wallNow === undefined ? clock.now() : clock.wallNow();
}

/** A random source returning a float in [0, 1), like `Math.random`. */
export type RandomSource = () => number;

/**
 * Waits `delayMs` on `clock`, or rejects with the signal's reason as soon as `signal`
 * aborts. A delay of 0 or less resolves without touching a timer; one above
 * {@link MAX_TIMER_MS} is waited as a chain of timers; `Infinity` waits until the signal aborts.
 */
export function sleep(delayMs: number, signal: AbortSignal, clock: Clock): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  if (delayMs <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    let remaining = delayMs;
    let handle: unknown;
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(signal.reason);
    };
    const arm = () => {
      const step = Math.min(remaining, MAX_TIMER_MS);
      remaining -= step;
      handle = clock.setTimeout(() => {
        if (remaining > 0) return arm();
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, step);
    };
    arm();
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
