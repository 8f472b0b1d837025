import type { Clock } from './clock.js';
import { KeySlots } from './key-slots.js';

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
   * A wait longer than `maxWaitMs` (the limiter's `maxWaitMs`, or 0 in `'reject'` mode)
   * reserves nothing: the call will be rejected, and budget it held even for a moment
   * (until an undo reached a shared store) would turn away calls that fit.
   *
   * A key held (see `hold`) waits at least until the hold ends.
   *
   * @returns the wait in whole ms (rounded up) until every reservation is covered and the
   *   key's hold is over; 0 when admitted now; above `maxWaitMs`: nothing was reserved
   */
  reserve(
    limiter: string,
    key: string,
    limits: readonly BucketLimit[],
    amounts: readonly number[],
    maxWaitMs: number,
  ): number | Promise<number>;
  /** Gives `amounts[i]` back to bucket `i` (a negative amount charges more), capped at its capacity. */
  adjust(limiter: string, key: string, limits: readonly BucketLimit[], amounts: readonly number[]): void | Promise<void>;
  /**
   * Holds the key's calls for `holdMs` from now, on the store's clock (a longer hold
   * already set stays): what a provider's rate-limit headers or a 429's Retry-After said.
   * Needed by a limiter that learns (`RateLimiterOptions.learn`); in a shared store every
   * replica holds.
   */
  hold?(limiter: string, key: string, limits: readonly BucketLimit[], holdMs: number): void | Promise<void>;
}

/** Keys a limiter holds before the first sweep of idle full buckets. */
const SWEEP_FLOOR = 1024;

/**
 * The token buckets of one limiter: per key a slot in one flat array of
 * `[tokens, updatedAt]` pairs, one pair per budget — a key costs a table entry and a few
 * numbers, and a call touches its table entry, its key and its slot, at any number of
 * keys (see key-slots.ts for why not a `Map`). The few keys held (`learn`) are in a map
 * of their own, which a call reads only while it is not empty.
 */
class LimiterBuckets {
  readonly slots = new KeySlots();
  /** The key count at which the next sweep of idle full buckets runs. */
  private sweepAt = SWEEP_FLOOR;
  /** Numbers per slot: a pair per budget. */
  private readonly stride: number;
  /** `[tokens, updatedAt]` per budget per slot. */
  state = new Float64Array(64);
  /** When the hold of a held key ends (clock ms), by its index in `state`. */
  readonly holds = new Map<number, number>();

  constructor(private readonly limits: readonly BucketLimit[]) {
    this.stride = 2 * limits.length;
  }

  /** How long the key at `index` is still held, in whole ms (0: not held; a hold over is dropped). */
  heldFor(index: number, now: number): number {
    const until = this.holds.get(index);
    if (until === undefined) return 0;
    if (until > now) return Math.ceil(until - now);
    this.holds.delete(index);
    return 0;
  }

  /** Index in `state` of the first pair of `key`'s buckets (made full, for a new key). */
  indexOf(key: string, now: number): number {
    const slot = this.slots.get(key);
    return slot >= 0 ? slot * this.stride : this.insert(key, now);
  }

  /** Gives `key` a slot of full buckets, first forgetting idle full ones when the keys have doubled. */
  private insert(key: string, now: number): number {
    if (this.slots.size >= this.sweepAt) {
      this.sweep(now);
      this.sweepAt = Math.max(SWEEP_FLOOR, 2 * this.slots.size);
    }
    const index = this.slots.add(key) * this.stride;
    if (index + this.stride > this.state.length) {
      const grown = new Float64Array(Math.max(this.state.length * 2, index + this.stride));
      grown.set(this.state);
      this.state = grown;
    }
    for (let i = 0; i < this.limits.length; i++) {
      this.state[index + 2 * i] = this.limits[i]!.capacity;
      this.state[index + 2 * i + 1] = now;
    }
    return index;
  }

  /** Refills budget `i` of the buckets at `index` to `now`; returns its tokens. */
  refill(index: number, i: number, now: number): number {
    const state = this.state;
    const at = index + 2 * i;
    if (now > state[at + 1]!) {
      state[at] = Math.min(this.limits[i]!.capacity, state[at]! + (now - state[at + 1]!) * this.limits[i]!.rate);
      state[at + 1] = now;
    }
    return state[at]!;
  }

  /** Forgets the keys whose buckets have all refilled and that are not held: they are the same as new ones. */
  private sweep(now: number): void {
    this.slots.removeWhere((slot) => {
      if (this.heldFor(slot * this.stride, now) > 0) return false;
      for (let i = 0; i < this.limits.length; i++) {
        if (this.refill(slot * this.stride, i, now) < this.limits[i]!.capacity) return false;
      }
      return true;
    });
  }
}

/**
 * Token buckets in this process's memory (the default store): answers synchronously.
 * Keys whose buckets have refilled (idle, full: the same as new ones) are forgotten by a
 * sweep that runs when a limiter's keys double since the last one — O(1) amortized per
 * call at any number of keys, memory bounded by about twice the keys in use.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  /** Buckets by limiter. */
  private readonly limiters = new Map<string, LimiterBuckets>();
  /** The limiter of the last call and its buckets: a store serving one limiter (a limiter's own) looks up nothing. */
  private lastLimiter: string | undefined;
  private last: LimiterBuckets | undefined;

  constructor(private readonly clock: Clock) {}

  reserve(limiter: string, key: string, limits: readonly BucketLimit[], amounts: readonly number[], maxWaitMs: number): number {
    const now = this.clock.now();
    const buckets = this.bucketsOf(limiter, limits);
    const index = buckets.indexOf(key, now);
    const state = buckets.state;
    let waitMs = buckets.holds.size === 0 ? 0 : buckets.heldFor(index, now);
    for (let i = 0; i < limits.length; i++) {
      const tokens = buckets.refill(index, i, now);
      // Whole ms until the amount is there, rounded up, as timers truncate.
      if (amounts[i]! > tokens) waitMs = Math.max(waitMs, Math.ceil((amounts[i]! - tokens) / limits[i]!.rate));
    }
    if (waitMs > maxWaitMs) return waitMs;
    for (let i = 0; i < limits.length; i++) {
      const at = index + 2 * i;
      const { capacity, rate } = limits[i]!;
      if (waitMs > 0) state[at]! -= Math.max(0, state[at]! + waitMs * rate - capacity);
      state[at] = Math.min(capacity, state[at]! - amounts[i]!);
    }
    return waitMs;
  }

  adjust(limiter: string, key: string, limits: readonly BucketLimit[], amounts: readonly number[]): void {
    const buckets = this.bucketsOf(limiter, limits);
    const index = buckets.indexOf(key, this.clock.now());
    const state = buckets.state;
    for (let i = 0; i < limits.length; i++) {
      state[index + 2 * i] = Math.min(limits[i]!.capacity, state[index + 2 * i]! + amounts[i]!);
    }
  }

  hold(limiter: string, key: string, limits: readonly BucketLimit[], holdMs: number): void {
    const now = this.clock.now();
    const buckets = this.bucketsOf(limiter, limits);
    const index = buckets.indexOf(key, now);
    buckets.holds.set(index, Math.max(buckets.holds.get(index) ?? 0, now + holdMs));
  }

  /** How many keys' buckets are held for `limiter` (idle full ones are forgotten by the next sweep). */
  keysHeld(limiter: string): number {
    return this.limiters.get(limiter)?.slots.size ?? 0;
  }

  private bucketsOf(limiter: string, limits: readonly BucketLimit[]): LimiterBuckets {
    if (limiter === this.lastLimiter) return this.last!;
    let buckets = this.limiters.get(limiter);
    if (buckets === undefined) this.limiters.set(limiter, (buckets = new LimiterBuckets(limits)));
    this.lastLimiter = limiter;
    this.last = buckets;
    return buckets;
  }
}
