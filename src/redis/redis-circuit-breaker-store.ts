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

/** How often a kept transition is tried again while Redis does not answer, in ms. */
const RETRY_INTERVAL_MS = 250;

/**
 * A {@link CircuitBreakerStore} in Redis: breakers with the same name in many processes
 * open, isolate and close together (`CircuitBreakerOptions.store`). One small hash per
 * breaker (`keyPrefix` + name) holds the last published state and, for an open circuit,
 * when it may be probed, on server time. Two short scripts touch it, one per published
 * transition and one per sync; nothing holds Redis across a call (gobreaker v2's
 * distributed breaker does, serializing every call fleet-wide).
 *
 * A transition that could not be published (Redis down, stalled or timing out) is not
 * dropped: the store keeps the latest one per breaker and publishes it, with the open
 * time it has left, as soon as Redis answers again (a round at most every
 * 250 ms, one command at a time) — so the other processes learn of a circuit opened during an
 * outage within their `syncIntervalMs` of Redis returning. A newer transition of the
 * same breaker replaces the kept one.
 *
 * @throws TypeError naming the option, for invalid options
 */
export class RedisCircuitBreakerStore extends RedisStore implements CircuitBreakerStore {
  /** Transitions not published yet, by breaker: the state and until when it is open (ms, local clock). */
  private readonly unpublished = new Map<string, { state: SharedCircuitState; openUntil: number }>();
  private retrying = false;

  constructor(options: RedisStoreOptions) {
    super(options, 'otel-resilience:circuit-breaker:');
  }

  async publish(breaker: string, state: SharedCircuitState, openForMs: number): Promise<number> {
    this.unpublished.delete(breaker);
    try {
      return await this.publishNow(breaker, state, openForMs);
    } catch (error) {
      this.unpublished.set(breaker, { state, openUntil: this.localNow() + openForMs });
      this.retryLater(0);
      throw error;
    }
  }

  private publishNow(breaker: string, state: SharedCircuitState, openForMs: number): Promise<number> {
    return this.runScript(PUBLISH, breaker, [state, String(openForMs)]).then(Number);
  }

  private localNow(): number {
    return this.clock?.now() ?? Date.now();
  }

  /**
   * Publishes the kept transitions, one round at a time, until none is left. Rounds start
   * at most every 250 ms, but one that timed out is followed at once: while Redis stalls
   * or reconnects, a publication is always waiting in line, so it lands the moment Redis
   * is back.
   */
  private retryLater(delayMs: number): void {
    if (this.retrying) return;
    this.retrying = true;
    const timer = setTimeout(async () => {
      const startedAt = Date.now();
      for (const [breaker, entry] of this.unpublished) {
        try {
          await this.publishNow(breaker, entry.state, Math.max(0, entry.openUntil - this.localNow()));
          if (this.unpublished.get(breaker) === entry) this.unpublished.delete(breaker);
        } catch {
          break; // still away: try again
        }
      }
      this.retrying = false;
      if (this.unpublished.size > 0) this.retryLater(Math.max(0, RETRY_INTERVAL_MS - (Date.now() - startedAt)));
    }, delayMs);
    timer.unref();
  }

  async read(breaker: string): Promise<SharedCircuit | undefined> {
    const reply = (await this.runScript(READ, breaker, [])) as unknown[];
    if (reply.length === 0) return undefined;
    return { generation: Number(reply[0]), state: reply[1] as SharedCircuitState, openRemainingMs: Number(reply[2]) };
  }
}
