import type { CircuitBreakerStore, SharedCircuit, SharedCircuitState } from '../policies/circuit-breaker-store.js';
import { LUA_NOW, RedisScript, RedisStore, type RedisStoreOptions } from './redis-client.js';

/** ARGV: now, state, openForMs → the change's generation. */
const PUBLISH = new RedisScript(`${LUA_NOW}
local generation = redis.call('HINCRBY', KEYS[1], 'generation', 1)
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'open_until', num(now + tonumber(ARGV[3])))
return generation`);

/** ARGV: now → { generation, state, ms left open } or an empty array. */
const READ = new RedisScript(`${LUA_NOW}
local r = redis.call('HMGET', KEYS[1], 'generation', 'state', 'open_until')
if not r[1] then return {} end
return { tonumber(r[1]), r[2], math.max(0, math.ceil(tonumber(r[3]) - now)) }`);

/**
 * A {@link CircuitBreakerStore} in Redis: breakers with the same name in many processes
 * open, isolate and close together (`CircuitBreakerOptions.store`). One small hash per
 * breaker (`keyPrefix` + name) holds the last published state and, for an open circuit,
 * when it may be probed, on server time. Two short scripts touch it, one per published
 * transition and one per sync; nothing holds Redis across a call (gobreaker v2's
 * distributed breaker does, serializing every call fleet-wide).
 *
 * @throws TypeError naming the option, for invalid options
 */
export class RedisCircuitBreakerStore extends RedisStore implements CircuitBreakerStore {
  constructor(options: RedisStoreOptions) {
    super(options, 'otel-resilience:circuit-breaker:');
  }

  async publish(breaker: string, state: SharedCircuitState, openForMs: number): Promise<number> {
    return Number(await this.runScript(PUBLISH, breaker, [state, String(openForMs)]));
  }

  async read(breaker: string): Promise<SharedCircuit | undefined> {
    const reply = (await this.runScript(READ, breaker, [])) as unknown[];
    if (reply.length === 0) return undefined;
    return { generation: Number(reply[0]), state: reply[1] as SharedCircuitState, openRemainingMs: Number(reply[2]) };
  }
}
