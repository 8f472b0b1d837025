import type { RetryBudgetStore } from '../policies/retry-budget.js';
import { keyOf } from '../stores/keys.js';
import { RedisScript, RedisStore, type RedisStoreOptions } from './redis-client.js';

/** Takes ARGV[1] tokens from the budget (ARGV[2]; full at ARGV[3] when absent; ARGV[1] is the unused time): 1 when taken, 0 when too few were left. */
const TAKE = new RedisScript(`
local cost, cap = tonumber(ARGV[2]), tonumber(ARGV[3])
local left = tonumber(redis.call('GET', KEYS[1])) or cap
if left < cost then return 0 end
redis.call('SET', KEYS[1], tostring(left - cost))
return 1`);

/** Gives ARGV[2] tokens back, capped at ARGV[3]; a full budget's key is deleted. */
const GIVE = new RedisScript(`
local amount, cap = tonumber(ARGV[2]), tonumber(ARGV[3])
local left = tonumber(redis.call('GET', KEYS[1]))
if not left then return 1 end
left = math.min(cap, left + amount)
if left >= cap then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], tostring(left)) end
return 1`);

/**
 * A {@link RetryBudgetStore} in Redis: replicas whose `RetryBudget`s have the same name
 * share one retry quota, so an outage of a dependency does not become a retry storm
 * from every replica. One string key per budget (`keyPrefix` + name), changed by one Lua
 * script per retry and per success; a full budget has no key. While Redis fails, each
 * process retries within a budget of its own (see `RetryBudget`).
 *
 * @throws TypeError naming the option, for invalid options
 */
export class RedisRetryBudgetStore extends RedisStore implements RetryBudgetStore {
  constructor(options: Omit<RedisStoreOptions, 'clock'>) {
    super(options, 'otel-resilience:retry-budget:', false);
  }

  async take(name: string, cost: number, capacity: number): Promise<boolean> {
    return Number(await this.runScript(TAKE, keyOf(name), [String(cost), String(capacity)])) === 1;
  }

  async give(name: string, amount: number, capacity: number): Promise<void> {
    await this.runScript(GIVE, keyOf(name), [String(amount), String(capacity)]);
  }
}
