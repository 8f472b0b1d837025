import type { BucketLimit, RateLimitStore } from '../policies/rate-limit-store.js';
import { keyOf } from '../stores/keys.js';
import { LUA_NOW, RedisScript, RedisStore, type RedisStoreOptions, RedisStoreTimeoutError } from './redis-client.js';

/**
 * Lua prelude: the deadline (ARGV[2], ms on the script's clock, or ''), the script's own
 * number (ARGV[3], ms: the longest wait to reserve for, or the hold; or ''), the budgets
 * of ARGV (after them, four values each: name, capacity, rate in tokens per ms, amount),
 * their stored tokens refilled to now, the end of the key's hold (`held`, ms), and
 * `save()`, which writes them back and lets Redis forget the key once every bucket would
 * be full again and the hold is over.
 */
const PRELUDE = `${LUA_NOW}
local deadline, arg = tonumber(ARGV[2]), tonumber(ARGV[3])
local held = tonumber(redis.call('HGET', KEYS[1], 'held')) or 0
local n = (#ARGV - 3) / 4
local name, cap, rate, amount, tokens, at = {}, {}, {}, {}, {}, {}
for i = 1, n do
  local b = 4 + (i - 1) * 4
  name[i], cap[i], rate[i], amount[i] = ARGV[b], tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local stored = redis.call('HMGET', KEYS[1], name[i] .. ':tokens', name[i] .. ':at')
  tokens[i], at[i] = tonumber(stored[1]) or cap[i], tonumber(stored[2]) or now
  if now > at[i] then tokens[i], at[i] = math.min(cap[i], tokens[i] + (now - at[i]) * rate[i]), now end
end
local function save()
  local refilled = 0
  for i = 1, n do
    redis.call('HSET', KEYS[1], name[i] .. ':tokens', num(tokens[i]), name[i] .. ':at', num(at[i]))
    refilled = math.max(refilled, (cap[i] - tokens[i]) / rate[i])
  end
  redis.call('HSET', KEYS[1], 'held', num(held))
  redis.call('PEXPIRE', KEYS[1], ms(math.max(refilled, held - now) + 1000))
end
`;

/**
 * Reserves the amounts; returns { wait in whole ms (see RateLimitStore.reserve), now },
 * charging nothing when the wait is longer than the longest to reserve for — or
 * { -1, now }, charging nothing, when it runs after its deadline (the caller gave up on
 * it: a stall must not spend the budget of calls that never ran).
 */
const RESERVE = new RedisScript(`${PRELUDE}
if deadline and now > deadline then return { -1, now } end
local wait = math.max(0, math.ceil(held - now))
for i = 1, n do
  if amount[i] > tokens[i] then wait = math.max(wait, math.ceil((amount[i] - tokens[i]) / rate[i])) end
end
if arg and wait > arg then return { wait, now } end
for i = 1, n do
  if wait > 0 then tokens[i] = tokens[i] - math.max(0, tokens[i] + wait * rate[i] - cap[i]) end
  tokens[i] = math.min(cap[i], tokens[i] - amount[i])
end
save()
return { wait, now }`);

/** Gives the amounts back, capped at each capacity. */
const ADJUST = new RedisScript(`${PRELUDE}
for i = 1, n do tokens[i] = math.min(cap[i], tokens[i] + amount[i]) end
save()
return 1`);

/** Holds the key for the script's number of ms from now (a longer hold stays). */
const HOLD = new RedisScript(`${PRELUDE}
held = math.max(held, now + arg)
save()
return 1`);

/**
 * A {@link RateLimitStore} in Redis: replicas whose `RateLimiter`s have the same name
 * share one budget — an LLM API's requests- and tokens-per-minute limits are per
 * account, not per process. The buckets of one (limiter, key) are one hash
 * (`keyPrefix` + limiter + `:` + key, a `:` or `%` in the limiter's name percent-encoded), changed by one Lua script per call on server
 * time with the same arithmetic as the memory buckets; Redis forgets the hash once its
 * buckets would be full again and its hold (`learn`) is over. While Redis fails or stalls past `commandTimeoutMs`, the
 * limiter falls back to its process's own buckets (see `RateLimiterOptions.store`).
 *
 * A reservation carries its deadline — when it was sent plus `commandTimeoutMs`, on the
 * server's clock (the offset to it is learnt from earlier replies) — and the script
 * refuses one that runs later: commands queued while Redis stalled (SIGSTOP, a long
 * script) would otherwise run when it wakes, charging the shared bucket for calls that
 * gave up long ago, and admit nothing for as long again. After a stall the limiter
 * admits again as soon as the budget has refilled. Limiter names and keys are encoded
 * so that no two (limiter, key) pairs share a hash.
 *
 * ```ts
 * const openai = new RateLimiter({
 *   name: 'openai',
 *   limits: { requests: { tokensPerInterval: 500, intervalMs: 60_000 }, tokens: { tokensPerInterval: 200_000, intervalMs: 60_000 } },
 *   store: new RedisRateLimitStore({ client }),
 * });
 * ```
 *
 * @throws TypeError naming the option, for invalid options
 */
export class RedisRateLimitStore extends RedisStore implements RateLimitStore {
  constructor(options: RedisStoreOptions) {
    super(options, 'otel-resilience:rate-limit:');
  }

  /** Server time minus this process's time, in ms, from the last reply (0 until one came). */
  private offsetMs = 0;

  async reserve(
    limiter: string,
    key: string,
    limits: readonly BucketLimit[],
    amounts: readonly number[],
    maxWaitMs: number,
  ): Promise<number> {
    const sentAt = this.clock?.now() ?? Date.now();
    const deadline = sentAt + (this.clock === undefined ? this.offsetMs : 0) + this.commandTimeoutMs;
    const maxWait = maxWaitMs === Infinity ? '' : String(maxWaitMs);
    const [wait, serverNow] = (
      (await this.run(RESERVE, limiter, key, [String(deadline), maxWait], limits, amounts)) as number[]
    ).map(Number);
    if (this.clock === undefined) this.offsetMs = serverNow! - (sentAt + Date.now()) / 2;
    if (wait! < 0) throw new RedisStoreTimeoutError('EVALSHA (rate-limit reservation past its deadline)', this.commandTimeoutMs);
    return wait!;
  }

  async adjust(limiter: string, key: string, limits: readonly BucketLimit[], amounts: readonly number[]): Promise<void> {
    await this.run(ADJUST, limiter, key, ['', ''], limits, amounts);
  }

  async hold(limiter: string, key: string, limits: readonly BucketLimit[], holdMs: number): Promise<void> {
    await this.run(
      HOLD,
      limiter,
      key,
      ['', String(Math.ceil(holdMs))],
      limits,
      limits.map(() => 0),
    );
  }

  private run(
    script: RedisScript,
    limiter: string,
    key: string,
    bounds: readonly [deadline: string, arg: string],
    limits: readonly BucketLimit[],
    amounts: readonly number[],
  ): Promise<unknown> {
    const args: string[] = [...bounds];
    for (const [i, limit] of limits.entries())
      args.push(limit.name, String(limit.capacity), String(limit.rate), String(amounts[i]));
    return this.runScript(script, keyOf(limiter, key), args);
  }
}
