import { type Clock, sleep, systemClock } from './clock.js';
import { type Attempt, StandalonePolicy } from './context.js';
import { RateLimitedError } from './errors.js';
import { choiceOption, functionOption, knownOptions, numberOption, stringOption } from './validate.js';

/** One token bucket: `tokensPerInterval` refill every `intervalMs`, holding at most `burst`. */
export interface TokenBucketOptions {
  /** Tokens added per interval (> 0). */
  readonly tokensPerInterval: number;
  /** The interval, in ms (> 0). */
  readonly intervalMs: number;
  /** Bucket capacity: the most tokens one burst may spend (default `tokensPerInterval`). */
  readonly burst?: number;
}

/** Costs of one call against each named budget; a number applies to every budget. */
export type Cost = number | Readonly<Record<string, number>>;

/** Options of {@link RateLimiter}. */
export interface RateLimiterOptions<A extends unknown[] = unknown[], R = unknown> {
  /** Name in events and errors (default `'rate-limiter'`). */
  readonly name?: string;
  /**
   * The budgets, each a token bucket. One bucket, or several by name that a call must
   * all fit in — e.g. `{ requests: { tokensPerInterval: 500, intervalMs: 60_000 },
   * tokens: { tokensPerInterval: 200_000, intervalMs: 60_000 } }` for an LLM API's
   * requests-per-minute and tokens-per-minute limits.
   */
  readonly limits: TokenBucketOptions | Readonly<Record<string, TokenBucketOptions>>;
  /** `'wait'` (default) for budget up to `maxWaitMs`, or `'reject'` at once. */
  readonly mode?: 'wait' | 'reject';
  /** Longest wait for budget in `'wait'` mode, in ms (default 1000). */
  readonly maxWaitMs?: number;
  /** The budget key of a call from its arguments, e.g. the tenant or model (default: one shared budget). */
  readonly key?: (args: A) => string;
  /** The estimated cost of a call from its arguments (default 1 against every budget). */
  readonly cost?: (args: A) => Cost;
  /**
   * The actual cost once the call succeeded — e.g. `usage.total_tokens` of an LLM
   * response; the difference to the estimate is charged or refunded.
   */
  readonly actualCost?: (result: R, args: A) => Cost;
  /** Clock for refills and waits (default: the system clock). */
  readonly clock?: Clock;
}

const SINGLE = 'default';

class Bucket {
  tokens: number;
  updatedAt: number;

  constructor(
    readonly capacity: number,
    /** Tokens per ms. */
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

  /** Whole ms until `cost` tokens are there (0 if they are now); rounded up, as timers truncate. */
  waitFor(cost: number): number {
    return cost <= this.tokens ? 0 : Math.ceil((cost - this.tokens) / this.rate);
  }
}

function bucketOptions(prefix: string, value: TokenBucketOptions): { capacity: number; rate: number } {
  knownOptions(prefix, value, ['tokensPerInterval', 'intervalMs', 'burst']);
  for (const required of ['tokensPerInterval', 'intervalMs'] as const) {
    if (value[required] === undefined) throw new TypeError(`Invalid option ${prefix}${required}: expected a number > 0, got undefined`);
  }
  const tokens = numberOption(`${prefix}tokensPerInterval`, value.tokensPerInterval, 0, { min: Number.MIN_VALUE });
  const interval = numberOption(`${prefix}intervalMs`, value.intervalMs, 0, { min: Number.MIN_VALUE });
  const capacity = numberOption(`${prefix}burst`, value.burst, tokens, { min: Number.MIN_VALUE });
  return { capacity, rate: tokens / interval };
}

/**
 * A token-bucket rate limiter with one or several budgets, per key.
 *
 * A call takes its cost from every budget of its key. Budget that is not there yet is
 * reserved (the bucket goes negative, so later calls queue behind it in order): in
 * `'wait'` mode the call waits for it when that takes at most `maxWaitMs` and reports
 * `resilience.rate_limiter.waited`; otherwise the reservation is undone and the call
 * is rejected with {@link RateLimitedError} carrying `retryAfterMs`, reported as
 * `resilience.rate_limiter.rejected`. With `actualCost`, the difference between the
 * estimate and the real cost is settled after the call. A cancelled wait returns its
 * reservation.
 *
 * @throws TypeError/RangeError naming the option, for invalid options
 */
export class RateLimiter extends StandalonePolicy {
  readonly name: string;
  readonly mode: 'wait' | 'reject';
  readonly maxWaitMs: number;
  private readonly limits: ReadonlyArray<readonly [string, { capacity: number; rate: number }]>;
  private readonly key: ((args: unknown[]) => string) | undefined;
  private readonly cost: ((args: unknown[]) => Cost) | undefined;
  private readonly actualCost: ((result: unknown, args: unknown[]) => Cost) | undefined;
  private readonly clock: Clock;
  private readonly buckets = new Map<string, Bucket[]>();

  constructor(options: RateLimiterOptions<any, any>) {
    super();
    knownOptions('rateLimiter.', options ?? {}, ['name', 'limits', 'mode', 'maxWaitMs', 'key', 'cost', 'actualCost', 'clock']);
    this.name = stringOption('rateLimiter.name', options?.name, 'rate-limiter');
    const limits = options?.limits;
    if (typeof limits !== 'object' || limits === null) {
      throw new TypeError(`Invalid option rateLimiter.limits: expected a token bucket or named token buckets, got ${String(limits)}`);
    }
    this.limits =
      'tokensPerInterval' in limits
        ? [[SINGLE, bucketOptions('rateLimiter.limits.', limits as TokenBucketOptions)]]
        : Object.entries(limits as Record<string, TokenBucketOptions>).map(
            ([name, value]) => [name, bucketOptions(`rateLimiter.limits.${name}.`, value)] as const,
          );
    if (this.limits.length === 0) throw new TypeError('Invalid option rateLimiter.limits: expected at least one budget');
    this.mode = choiceOption('rateLimiter.mode', options.mode, ['wait', 'reject'], 'wait');
    this.maxWaitMs = numberOption('rateLimiter.maxWaitMs', options.maxWaitMs, 1000, { allowInfinity: true });
    this.key = functionOption('rateLimiter.key', options.key);
    this.cost = functionOption('rateLimiter.cost', options.cost);
    this.actualCost = functionOption('rateLimiter.actualCost', options.actualCost);
    this.clock = options.clock ?? systemClock;
  }


  /**
   * Takes `cost` from the budgets of `key` now (reserving what is not there yet).
   * @returns the wait in ms until the reservation is covered (0: admitted now)
   * @throws RangeError when the cost exceeds a budget's burst: it could never be admitted
   */
  reserve(key: string, cost: Cost): number {
    const buckets = this.bucketsOf(key);
    const now = this.clock.now();
    let waitMs = 0;
    this.limits.forEach(([name, limit], i) => {
      const amount = this.amount(cost, name);
      if (amount > limit.capacity) {
        throw new RangeError(`Cost ${amount} for budget "${name}" exceeds its burst ${limit.capacity}: it can never be admitted`);
      }
      const bucket = buckets[i]!;
      bucket.refill(now);
      waitMs = Math.max(waitMs, bucket.waitFor(amount));
    });
    // A waiting call is admitted at now + waitMs. Tokens a real bucket would have lost to
    // its capacity by then (it fills while the call waits, the wait being rounded up to
    // whole ms) are charged too, so no window ever admits more than burst + rate × window.
    if (waitMs > 0) {
      buckets.forEach((bucket) => {
        bucket.tokens -= Math.max(0, bucket.tokens + waitMs * bucket.rate - bucket.capacity);
      });
    }
    this.charge(buckets, cost, 1);
    return waitMs;
  }

  /** Gives back (`sign` -1) or charges more (`sign` 1) of `cost` on `key`'s budgets. */
  adjust(key: string, cost: Cost, sign: 1 | -1): void {
    this.charge(this.bucketsOf(key), cost, sign);
  }

  run<T>(ctx: Attempt, next: (ctx: Attempt) => Promise<T>): Promise<T> {
    try {
      return this.admit(ctx, next);
    } catch (error) {
      return Promise.reject(error); // a bad cost or key function rejects the call; it never throws
    }
  }

  private admit<T>(ctx: Attempt, next: (ctx: Attempt) => Promise<T>): Promise<T> {
    const args = ctx.call.args;
    const key = this.key === undefined ? SINGLE : this.key(args);
    const cost = this.cost === undefined ? 1 : this.cost(args);
    const waitMs = this.reserve(key, cost);
    if (waitMs > 0 && (this.mode === 'reject' || waitMs > this.maxWaitMs)) {
      this.adjust(key, cost, -1);
      if (ctx.recording) ctx.report({ type: 'rate-limiter-rejected', limiter: this.name, retryAfterMs: waitMs });
      return Promise.reject(new RateLimitedError(this.name, waitMs));
    }
    const settle = (value: T) => {
      if (this.actualCost !== undefined) {
        const actual = this.actualCost(value, args);
        this.adjust(key, cost, -1);
        this.adjust(key, actual, 1);
      }
      return value;
    };
    if (waitMs === 0) return next(ctx).then(settle);
    if (ctx.recording) ctx.report({ type: 'rate-limiter-waited', limiter: this.name, waitedMs: waitMs });
    return sleep(waitMs, ctx.signal, this.clock).then(
      () => next(ctx).then(settle),
      (reason: unknown) => {
        this.adjust(key, cost, -1);
        throw reason;
      },
    );
  }

  private amount(cost: Cost, budget: string): number {
    const value = typeof cost === 'number' ? cost : (cost[budget] ?? 0);
    if (!(value >= 0) || !Number.isFinite(value)) {
      throw new RangeError(`Invalid cost for budget "${budget}" of rate limiter "${this.name}": ${value}`);
    }
    return value;
  }

  private charge(buckets: Bucket[], cost: Cost, sign: 1 | -1): void {
    this.limits.forEach(([name, limit], i) => {
      const bucket = buckets[i]!;
      bucket.tokens = Math.min(limit.capacity, bucket.tokens - sign * this.amount(cost, name));
    });
  }

  private bucketsOf(key: string): Bucket[] {
    let buckets = this.buckets.get(key);
    if (buckets === undefined) {
      const now = this.clock.now();
      if (this.buckets.size >= 1024) this.forgetFullBuckets(now);
      buckets = this.limits.map(([, limit]) => new Bucket(limit.capacity, limit.rate, now));
      this.buckets.set(key, buckets);
    }
    return buckets;
  }

  /** Drops keys whose buckets have refilled: they are the same as new ones. */
  private forgetFullBuckets(now: number): void {
    for (const [key, buckets] of this.buckets) {
      if (buckets.every((bucket) => (bucket.refill(now), bucket.tokens >= bucket.capacity))) this.buckets.delete(key);
    }
  }
}
