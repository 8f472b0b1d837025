/**
 * Time and randomness as injectable services, so every policy can be driven by fake
 * timers or a hand-moved clock in tests.
 */

/** A source of time and timers. Milliseconds throughout. */
export interface Clock {
  /** Current time in milliseconds (wall clock by default, `Date.now()`). */
  now(): number;
  /** Schedules `callback` after `delayMs`; returns a handle for {@link Clock.clearTimeout}. */
  setTimeout(callback: () => void, delayMs: number): unknown;
  /** Cancels a timer made by {@link Clock.setTimeout}. */
  clearTimeout(handle: unknown): void;
}

/**
 * The process clock: `Date.now()` and the global timers, looked up at call time so
 * test frameworks' fake timers (vitest `vi.useFakeTimers()`) take effect.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** A random source returning a float in [0, 1), like `Math.random`. */
export type RandomSource = () => number;

/**
 * Waits `delayMs` on `clock`, or rejects with the signal's reason as soon as `signal`
 * aborts. A delay of 0 or less resolves without touching a timer.
 */
export function sleep(delayMs: number, signal: AbortSignal, clock: Clock): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  if (delayMs <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(signal.reason);
    };
    const handle = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, delayMs);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
