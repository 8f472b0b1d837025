import type { Clock } from '../policies/clock.js';

/** How {@link retryStoreOp} keeps trying. */
export interface StoreRetry {
  readonly clock: Clock;
  /** Gives up once this many attempts failed (default: no limit but `until`). */
  readonly attempts?: number;
  /** Gives up once the clock passes this time, in ms (default: no limit but `attempts`). */
  readonly until?: () => number;
  /** First wait, in ms (default 25); doubled per failure up to `maxDelayMs`. */
  readonly baseDelayMs?: number;
  /** Longest wait, in ms (default 1000). */
  readonly maxDelayMs?: number;
  /** Told of every failed attempt (to trace it) before the wait. */
  readonly onFailure?: (error: unknown, attempt: number) => void;
  /** Errors not worth retrying: thrown at once. */
  readonly isFinal?: (error: unknown) => boolean;
  /** Lets the process exit during a wait (background retries; not for a caller awaiting the result). */
  readonly unref?: boolean;
}

/**
 * Runs a bookkeeping operation of the SDK's own (a store write, a lease renewal) until
 * it succeeds, with exponential backoff, bounded by `attempts` and/or `until`. Throws
 * the last error when the bound is reached. No jitter: these retries are per record,
 * not a herd on one key.
 */
export async function retryStoreOp<T>(op: () => Promise<T>, retry: StoreRetry): Promise<T> {
  const { clock, attempts = Number.POSITIVE_INFINITY } = retry;
  let delay = retry.baseDelayMs ?? 25;
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (error) {
      if (retry.isFinal?.(error) || attempt >= attempts) throw error;
      const until = retry.until?.() ?? Number.POSITIVE_INFINITY;
      const wait = Math.min(delay, until - clock.now());
      if (wait <= 0) throw error;
      retry.onFailure?.(error, attempt);
      await new Promise<void>((resolve) => {
        const timer = clock.setTimeout(resolve, wait);
        if (retry.unref) (timer as { unref?: () => void } | undefined)?.unref?.();
      });
      delay = Math.min(delay * 2, retry.maxDelayMs ?? 1000);
    }
  }
}
