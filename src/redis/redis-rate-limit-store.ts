import type { BucketLimit, RateLimitStore } from '../policies/rate-limit-store.js';
import { LUA_NOW, RedisScript, RedisStore, type RedisStoreOptions } from './redis-client.js';

/**
 * Lua prelude: the budgets of ARGV (after `now`, four values each: name, capacity, rate
 * in tokens per ms, amount), their stored tokens refilled to now, and `save()`, which
 * writes them back and lets Redis forget the key once every bucket would be full again.
 */
const PRELUDE = `${LUA_NOW}
local n = (#ARGV - 1) / 4
local name, cap, rate, amount, tokens, at = {}, {}, {}, {}, {}, {}
for i = 1, n do
  local b = 2 + (i - 1) * 4
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
  redis.call('PEXPIRE', KEYS[1], ms(refilled + 1000))
end
`;

/** Reserves the amounts; returns the wait in whole ms (see RateLimitStore.reserve). */
const RESERVE = new RedisScript(`${PRELUDE}
local wait = 0
for i = 1, n do
  if amount[i] > tokens[i] then wait = math.max(wait, math.ceil((amount[i] - tokens[i]) / rate[i])) end
end
for i = 1, n do
  if wait > 0 then tokens[i] = tokens[i] - math.max(0, tokens[i] + wait * rate[i] - cap[i]) end
  tokens[i] = math.min(cap[i], tokens[i] - amount[i])
end
save()
return wait`);

/** Gives the amounts back, capped at each capacity. */
const ADJUST = new RedisScript(`${PRELUDE}
for i = 1, n do tokens[i] = math.min(cap[i], tokens[i] + amount[i]) end
save()
return 1`);

/**
 * A {@link RateLimitStore} in Redis: replicas whose `RateLimiter`s have the same name
 * share one budget — an LLM API's requests- and tokens-per-minute limits are per
 * account, not per process. The buckets of one (limiter, key) are one hash
 * (`keyPrefix` + limiter + `:` + key), changed by one Lua script per call on server
 * time with the same arithmetic as the memory buckets; Redis forgets the hash once its
 * buckets would be full again. While Redis fails or stalls past `commandTimeoutMs`, the
 * limiter falls back to its process's own buckets (see `RateLimiterOptions.store`).
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

  async reserve(limiter: string, key: string, limits: readonly BucketLimit[], amounts: readonly number[]): Promise<number> {
    return Number(await this.run(RESERVE, limiter, key, limits, amounts));
  }

  async adjust(limiter: string, key: string, limits: readonly BucketLimit[], amounts: readonly number[]): Promise<void> {
    await this.run(ADJUST, limiter, key, limits, amounts);
  }

  private run(
    script: RedisScript,
    limiter: string,
    key: string,
    limits: readonly BucketLimit[],
    amounts: readonly number[],
  ): Promise<unknown> {
    const args: string[] = [];
    for (const [i, limit] of limits.entries())
      args.push(limit.name, String(limit.capacity), String(limit.rate), String(amounts[i]));
    return this.runScript(script, `${limiter}:${key}`, args);
  }
}
