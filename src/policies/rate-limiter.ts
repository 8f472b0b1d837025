import { classifyError, errorTypeOf } from '../classify/index.js';
import { rateLimitPauseMs } from '../classify/rate-limit-headers.js';
import type { TokenUsage } from '../classify/usage.js';
import * as names from '../telemetry/names.js';
import { endWaitSpan, startChildSpan } from './child-span.js';
import { type Clock, MAX_TIMER_MS, sleep, systemClock, wallTime } from './clock.js';
import { type Attempt, StandalonePolicy } from './context.js';
import { RateLimitedError } from './errors.js';
import { type BucketLimit, MemoryRateLimitStore, type RateLimitStore } from './rate-limit-store.js';
import { whenUsage } from './streamed-result.js';
import {
  booleanOption,
  choiceOption,
  clockOption,
  functionOption,
  implementsOption,
  knownOptions,
  numberOption,
  stringOption,
} from './validate.js';

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
  /**
   * The budget that counts LLM tokens: once a call's result (or its stream, when it
   * ends) reports token usage, that budget is charged input + output tokens instead of
   * the estimate — no `actualCost` needed. Default: the budget named `tokens`, if any;
   * `false`: none. Ignored when `actualCost` is given.
   */
  readonly usageBudget?: string | false;
  /**
   * `true` to follow the provider: when a response's rate-limit headers say a budget is
   * exhausted (OpenAI `x-ratelimit-remaining-*` / `x-ratelimit-reset-*`, Anthropic
   * `anthropic-ratelimit-*-remaining` / `-reset`) or a 429 carries Retry-After, this
   * limiter holds the key's further calls until the reset — before the provider says
   * no — waiting (within `maxWaitMs`) or rejecting as its `mode` says. The hold is kept
   * in `store`: with a shared one, every replica holds. Default `false`.
   */
  readonly learn?: boolean;
  /**
   * Where the buckets live (default: this process's memory). A shared store
   * (`RedisRateLimitStore` from `otel-resilience/redis`) makes replicas share one budget;
   * while it fails, each process limits with its own buckets and reports
   * `resilience.rate_limiter.store_failed`.
   */
  readonly store?: RateLimitStore;
  /** Clock for refills and waits (default: the system clock). */
  readonly clock?: Clock;
}

const SINGLE = 'default';

/** Runs a store write the call does not wait for; its failure, thrown or rejected, is dropped (each caller says why that is safe). */
function withoutWaiting(write: () => void | Promise<void> | undefined): void {
  try {
    write()?.catch(() => {});
  } catch {
    // As above.
  }
}

function bucketOptions(name: string, prefix: string, value: TokenBucketOptions): BucketLimit {
  knownOptions(prefix, value, ['tokensPerInterval', 'intervalMs', 'burst']);
  for (const required of ['tokensPerInterval', 'intervalMs'] as const) {
    if (value[required] === undefined)
      throw new TypeError(`Invalid option ${prefix}${required}: expected a number > 0, got undefined`);
  }
  const tokens = numberOption(`${prefix}tokensPerInterval`, value.tokensPerInterval, 0, { min: Number.MIN_VALUE });
  const interval = numberOption(`${prefix}intervalMs`, value.intervalMs, 0, { min: Number.MIN_VALUE });
  const capacity = numberOption(`${prefix}burst`, value.burst, tokens, { min: Number.MIN_VALUE });
  return { name, capacity, rate: tokens / interval };
}

/**
 * A token-bucket rate limiter with one or several budgets, per key.
 *
 * A call takes its cost from every budget of its key. Budget that is not there yet is
 * reserved (the bucket goes negative, so later calls queue behind it in order): in
 * `'wait'` mode the call waits for it when that takes at most `maxWaitMs` and reports
 * `resilience.rate_limiter.waited` (and, traced in a pipeline, a child span
 * `rate limiter wait` with `resilience.rate_limiter.waited_ms`, the time actually
 * waited); otherwise nothing is reserved (not even for a
 * moment, which in a shared store would turn away calls that fit) and the call
 * is rejected with {@link RateLimitedError} carrying `retryAfterMs`, reported as
 * `resilience.rate_limiter.rejected`. With `actualCost`, the difference between the
 * estimate and the real cost is settled after the call. A cancelled wait keeps its
 * reservation (a refund would let the calls queued behind it exceed the budget). In a
 * pipeline the limiter sits inside retry and hedging: every attempt and hedge is a
 * request and spends budget. Buckets live in `store`: memory by default, Redis to share a budget
 * across replicas (an LLM API's limits are per account, not per process).
 *
 * @throws TypeError/RangeError naming the option, for invalid options
 */
export class RateLimiter extends StandalonePolicy {
  readonly name: string;
  readonly mode: 'wait' | 'reject';
  readonly maxWaitMs: number;
  /** The longest wait a reservation is made for: `maxWaitMs`, 0 in `'reject'` mode. */
  private readonly reservesUpToMs: number;
  private readonly limits: readonly BucketLimit[];
  /** The amounts of a call without a `cost` function (1 against every budget), built once. */
  private readonly unitAmounts: readonly number[];
  private readonly key: ((args: unknown[]) => string) | undefined;
  private readonly cost: ((args: unknown[]) => Cost) | undefined;
  private readonly actualCost: ((result: unknown, args: unknown[]) => Cost) | undefined;
  /** Index in `limits` of the budget reconciled from token usage, or -1. */
  private readonly usageIndex: number;
  private readonly learn: boolean;
  /** Whether a call's outcome matters after it: to learn from, or to settle its actual cost. */
  private readonly settles: boolean;
  private readonly clock: Clock;
  private readonly store: RateLimitStore;
  /** This process's buckets, used while a shared store fails. */
  private local: MemoryRateLimitStore | undefined;

  constructor(options: RateLimiterOptions<any, any>) {
    super();
    knownOptions('rateLimiter.', options ?? {}, [
      'name',
      'limits',
      'mode',
      'maxWaitMs',
      'key',
      'cost',
      'actualCost',
      'usageBudget',
      'learn',
      'store',
      'clock',
    ]);
    this.name = stringOption('rateLimiter.name', options?.name, 'rate-limiter');
    const limits = options?.limits;
    if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) {
      throw new TypeError(
        `Invalid option rateLimiter.limits: expected a token bucket or named token buckets, got ${String(limits)}`,
      );
    }
    this.limits =
      'tokensPerInterval' in limits || 'intervalMs' in limits || 'burst' in limits
        ? [bucketOptions(SINGLE, 'rateLimiter.limits.', limits as TokenBucketOptions)]
        : Object.entries(limits as Record<string, TokenBucketOptions>).map(([name, value]) =>
            bucketOptions(name, `rateLimiter.limits.${name}.`, value),
          );
    if (this.limits.length === 0) throw new TypeError('Invalid option rateLimiter.limits: expected at least one budget');
    this.mode = choiceOption('rateLimiter.mode', options.mode, ['wait', 'reject'], 'wait');
    this.maxWaitMs = numberOption('rateLimiter.maxWaitMs', options.maxWaitMs, 1000, { allowInfinity: true });
    this.reservesUpToMs = this.mode === 'reject' ? 0 : this.maxWaitMs;
    this.key = functionOption('rateLimiter.key', options.key);
    this.cost = functionOption('rateLimiter.cost', options.cost);
    this.actualCost = functionOption('rateLimiter.actualCost', options.actualCost);
    // Without a cost function every call costs 1: a burst below that could never admit one.
    if (this.cost === undefined) {
      const small = this.limits.find((limit) => limit.capacity < 1);
      if (small !== undefined) {
        const option = small.name === SINGLE ? 'rateLimiter.limits.burst' : `rateLimiter.limits.${small.name}.burst`;
        throw new RangeError(
          `Invalid option ${option}: expected >= 1 (every call costs 1 without a cost function), got ${small.capacity}`,
        );
      }
    }
    this.unitAmounts = this.cost === undefined ? this.amounts(1) : [];
    const usageBudget =
      options.usageBudget === false ? undefined : stringOption('rateLimiter.usageBudget', options.usageBudget, 'tokens');
    this.usageIndex = usageBudget === undefined ? -1 : this.limits.findIndex((limit) => limit.name === usageBudget);
    if (options.usageBudget !== undefined && options.usageBudget !== false && this.usageIndex < 0) {
      throw new RangeError(`Invalid option rateLimiter.usageBudget: no budget named "${options.usageBudget}"`);
    }
    this.learn = booleanOption('rateLimiter.learn', options.learn, false);
    this.settles = this.learn || this.actualCost !== undefined || this.usageIndex >= 0;
    this.clock = clockOption('rateLimiter.clock', options.clock, systemClock);
    const store = implementsOption<RateLimitStore>('rateLimiter.store', options.store, 'RateLimitStore', [
      'reserve',
      'adjust',
      ...(this.learn ? ['hold'] : []),
    ]);
    // A store written for the four-argument reserve would reserve for calls then turned
    // away (the limiter no longer undoes them): the budget would leak.
    if (store !== undefined && store.reserve.length === 4) {
      throw new TypeError(
        'Invalid option rateLimiter.store: its reserve(limiter, key, limits, amounts) takes no maxWaitMs (a default value for it hides it too: give it none); reserve nothing for a wait longer than it (see RateLimitStore.reserve)',
      );
    }
    this.store = store ?? new MemoryRateLimitStore(this.clock);
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
    const amounts = this.cost === undefined ? this.unitAmounts : this.amounts(this.cost(args));
    let reserved: number | Promise<number>;
    try {
      reserved = this.store.reserve(this.name, key, this.limits, amounts, this.reservesUpToMs);
    } catch (error) {
      reserved = Promise.reject(error);
    }
    if (typeof reserved === 'number') return this.proceed(ctx, next, this.store, key, amounts, reserved);
    return reserved.then(
      (waitMs) => this.proceed(ctx, next, this.store, key, amounts, waitMs),
      (error: unknown) => {
        if (ctx.recording) ctx.report({ type: 'rate-limiter-store-failed', limiter: this.name, errorType: errorTypeOf(error) });
        const local = (this.local ??= new MemoryRateLimitStore(this.clock));
        return this.proceed(
          ctx,
          next,
          local,
          key,
          amounts,
          local.reserve(this.name, key, this.limits, amounts, this.reservesUpToMs),
        );
      },
    );
  }

  /** Runs the call whose reservation on `store` is covered in `waitMs`, or rejects it (nothing was reserved then). */
  private proceed<T>(
    ctx: Attempt,
    next: (ctx: Attempt) => Promise<T>,
    store: RateLimitStore,
    key: string,
    amounts: readonly number[],
    waitMs: number,
  ): Promise<T> {
    if (waitMs > this.reservesUpToMs) {
      if (ctx.recording) ctx.report({ type: 'rate-limiter-rejected', limiter: this.name, retryAfterMs: waitMs });
      return Promise.reject(new RateLimitedError(this.name, waitMs));
    }
    if (waitMs === 0) return this.forward(ctx, next, store, key, amounts);
    if (ctx.recording) ctx.report({ type: 'rate-limiter-waited', limiter: this.name, waitedMs: waitMs });
    // A cancelled wait keeps its reservation: calls that queued behind it were given
    // their times counting on it, and a refund would let them and the next caller
    // through together, over the budget.
    // The wait is a child span of the call, visible in the timeline, with the ms waited.
    const span = startChildSpan(ctx.call, names.SPAN_RATE_LIMITER_WAIT, {
      [names.ATTR_RATE_LIMITER_NAME]: this.name,
    });
    const call = () => this.forward(ctx, next, store, key, amounts);
    if (span === undefined) return sleep(waitMs, ctx.signal, this.clock).then(call);
    const from = this.clock.now();
    const waited = () => endWaitSpan(span, names.ATTR_RATE_LIMITER_WAITED_MS, this.clock.now() - from);
    return sleep(waitMs, ctx.signal, this.clock).then(
      () => {
        waited();
        return call();
      },
      (error: unknown) => {
        waited();
        throw error;
      },
    );
  }

  /**
   * Runs the admitted call; when its outcome matters after it (`learn`, `actualCost`, a
   * usage budget), learns from it and settles its actual cost — otherwise the call's own
   * promise is returned, no reaction added.
   */
  private forward<T>(
    ctx: Attempt,
    next: (ctx: Attempt) => Promise<T>,
    store: RateLimitStore,
    key: string,
    amounts: readonly number[],
  ): Promise<T> {
    if (!this.settles) return next(ctx);
    const settle = (value: T) => {
      if (this.learn) this.hold(key, rateLimitPauseMs(value, wallTime(this.clock)));
      if (this.actualCost !== undefined) {
        const actual = this.amounts(this.actualCost(value, ctx.call.args), false);
        this.adjust(
          store,
          key,
          amounts.map((estimate, i) => estimate - actual[i]!),
        );
      } else if (this.usageIndex >= 0) {
        whenUsage(value, (usage) => this.reconcile(store, key, amounts, usage));
      }
      return value;
    };
    const failed = this.learn
      ? (error: unknown) => {
          this.hold(key, this.pauseAfter(error));
          throw error;
        }
      : undefined;
    return next(ctx).then(settle, failed);
  }

  /** Charges the usage budget the call's real tokens instead of its estimate. */
  private reconcile(store: RateLimitStore, key: string, amounts: readonly number[], usage: TokenUsage | undefined): void {
    if (usage === undefined) return;
    const delta = amounts.map((estimate, i) => (i === this.usageIndex ? estimate - (usage.inputTokens + usage.outputTokens) : 0));
    this.adjust(store, key, delta);
  }

  /** The hold a failure asks for: its rate-limit headers, or a 429's Retry-After. */
  private pauseAfter(error: unknown): number | undefined {
    const fromHeaders = rateLimitPauseMs(error, wallTime(this.clock));
    const classification = classifyError(error, { nowMs: wallTime(this.clock) });
    const retryAfter = classification.category === 'rate-limited' ? classification.retryAfterMs : undefined;
    return Math.max(fromHeaders ?? 0, retryAfter ?? 0) || undefined;
  }

  /**
   * Holds the key's calls for `ms` (at most {@link MAX_TIMER_MS}: a longer reset is not a
   * provider's answer) in the store, not waiting for a shared one, and then in this
   * process's own buckets too, which serve while the shared store fails: a hold learned
   * before an outage holds through it (so a failed store write loses nothing).
   */
  private hold(key: string, ms: number | undefined): void {
    if (ms === undefined || !(ms > 0)) return;
    const holdMs = Math.min(ms, MAX_TIMER_MS);
    if (!(this.store instanceof MemoryRateLimitStore)) {
      (this.local ??= new MemoryRateLimitStore(this.clock)).hold(this.name, key, this.limits, holdMs);
    }
    withoutWaiting(() => this.store.hold?.(this.name, key, this.limits, holdMs));
  }

  /**
   * Gives `amounts` back to the buckets (negative amounts charge more), not waiting for a
   * shared store; a failed settlement leaves the budget charged: the safe side.
   */
  private adjust(store: RateLimitStore, key: string, amounts: readonly number[]): void {
    withoutWaiting(() => store.adjust(this.name, key, this.limits, amounts));
  }

  /**
   * The amount of `cost` for each budget.
   * @throws RangeError for a negative or non-finite amount, or (`admissible`) one above a
   *   budget's burst, which could never be admitted
   */
  private amounts(cost: Cost, admissible = true): number[] {
    return this.limits.map(({ name, capacity }) => {
      const value = typeof cost === 'number' ? cost : (cost[name] ?? 0);
      if (!(value >= 0) || !Number.isFinite(value)) {
        throw new RangeError(`Invalid cost for budget "${name}" of rate limiter "${this.name}": ${value}`);
      }
      if (admissible && value > capacity) {
        throw new RangeError(`Cost ${value} for budget "${name}" exceeds its burst ${capacity}: it can never be admitted`);
      }
      return value;
    });
  }
}
