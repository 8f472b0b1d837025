import type { Clock } from './clock.js';

/** One budget of a rate limiter as a store sees it: a token bucket. */
export interface BucketLimit {
  /** The budget's name (`'default'` for a single bucket). */
  readonly name: string;
  /** Most tokens the bucket holds (its burst). */
  readonly capacity: number;
  /** Refill, in tokens per ms. */
  readonly rate: number;
}

/**
 * Where a rate limiter's token buckets live: this process's memory (the default), or a
 * store shared by replicas (`RedisRateLimitStore` in `otel-resilience/redis`). Each
 * method is one atomic step on the buckets of (`limiter`, `key`); a store shared by
 * several limiters keeps their buckets apart by `limiter`. Buckets start full.
 */
export interface RateLimitStore {
  /**
   * Refills the buckets to now, then takes `amounts[i]` from bucket `i` — reserving what
   * is not there yet, so the bucket goes negative and later calls queue behind it. When
   * the call must wait, the tokens a bucket would lose to its capacity while it waits
   * are charged too, so that no window admits more than `capacity + rate × window`.
   *
   * @returns the wait in whole ms (rounded up) until every reservation is covered; 0 when admitted now
   */
  reserve(limiter: string, key: string, limits: readonly BucketLimit[], amounts: readonly number[]): number | Promise<number>;
  /** Gives `amounts[i]` back to bucket `i` (a negative amount charges more), capped at its capacity. */
  adjust(limiter: string, key: string, limits: readonly BucketLimit[], amounts: readonly number[]): void | Promise<void>;
}

class Bucket {
  tokens: number;
  updatedAt: number;

  constructor(
    readonly capacity: number,
    readonly rate: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.updatedAt = now;
  }

  refill(now: number): void {
    if (now > this.updatedAt) {
      this.tokens = Math.min(this.capacity, this.tokens + (now - this.updatedAt) * this.rate);
      this.updatedAt = now;
    }
  }

  /** Whole ms until `amount` tokens are there (0 if they are now); rounded up, as timers truncate. */
  waitFor(amount: number): number {
    return amount <= this.tokens ? 0 : Math.ceil((amount - this.tokens) / this.rate);
  }
}

/** Keys a limiter holds before the first sweep of idle full buckets. */
const SWEEP_FLOOR = 1024;

/**
 * Token buckets in this process's memory (the default store): answers synchronously.
 * Keys whose buckets have refilled (idle, full: the same as new ones) are forgotten by a
 * sweep that runs when a limiter's keys double since the last one — O(1) amortized per
 * call at any number of keys, memory bounded by about twice the keys in use.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  /** Buckets by limiter, then by key. */
  private readonly limiters = new Map<string, Map<string, Bucket[]>>();
  /** Per limiter, the key count at which the next sweep runs. */
  private readonly sweepAt = new Map<string, number>();

  constructor(private readonly clock: Clock) {}

  reserve(limiter: string, key: string, limits: readonly BucketLimit[], amounts: readonly number[]): number {
    const now = this.clock.now();
    const buckets = this.bucketsOf(limiter, key, limits, now);
    let waitMs = 0;
    buckets.forEach((bucket, i) => {
      bucket.refill(now);
      waitMs = Math.max(waitMs, bucket.waitFor(amounts[i]!));
    });
    if (waitMs > 0) {
      for (const bucket of buckets) bucket.tokens -= Math.max(0, bucket.tokens + waitMs * bucket.rate - bucket.capacity);
    }
    buckets.forEach((bucket, i) => {
      bucket.tokens = Math.min(bucket.capacity, bucket.tokens - amounts[i]!);
    });
    return waitMs;
  }

  adjust(limiter: string, key: string, limits: readonly BucketLimit[], amounts: readonly number[]): void {
    this.bucketsOf(limiter, key, limits, this.clock.now()).forEach((bucket, i) => {
      bucket.tokens = Math.min(bucket.capacity, bucket.tokens + amounts[i]!);
    });
  }

  private bucketsOf(limiter: string, key: string, limits: readonly BucketLimit[], now: number): Bucket[] {
    let keys = this.limiters.get(limiter);
    if (keys === undefined) this.limiters.set(limiter, (keys = new Map()));
    let buckets = keys.get(key);
    if (buckets === undefined) {
      if (keys.size >= (this.sweepAt.get(limiter) ?? SWEEP_FLOOR)) {
        forgetFullBuckets(keys, now);
        this.sweepAt.set(limiter, Math.max(SWEEP_FLOOR, 2 * keys.size));
      }
      buckets = limits.map((limit) => new Bucket(limit.capacity, limit.rate, now));
      keys.set(key, buckets);
    }
    return buckets;
  }
}

/** Drops keys whose buckets have refilled: they are the same as new ones. */
function forgetFullBuckets(keys: Map<string, Bucket[]>, now: number): void {
  for (const [key, buckets] of keys) {
    if (buckets.every((bucket) => (bucket.refill(now), bucket.tokens >= bucket.capacity))) keys.delete(key);
  }
}
