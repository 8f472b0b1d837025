/**
 * `otel-resilience/redis`: shared state for processes on many machines — idempotency
 * records, workflow runs, rate-limit budgets, retry budgets and circuit-breaker states in Redis, behind
 * store interfaces (the first three also have memory stores, and pass the same
 * conformance suites).
 *
 * ```ts
 * import { createClient } from 'redis';
 * import { RedisIdempotencyStore, RedisWorkflowStore } from 'otel-resilience/redis';
 *
 * const client = await createClient({ url: process.env.REDIS_URL }).connect();
 * const charge = idempotent(chargeCard, { key: (order) => order.id, store: new RedisIdempotencyStore({ client }) });
 * const report = workflow('report', body, { store: new RedisWorkflowStore({ client }) });
 * ```
 *
 * The stores take your connected client and never open or close connections; only
 * core commands are used (hashes, `PEXPIRE`, `EVALSHA`/`EVAL`, `TIME`), each script on
 * one key, so they run on Redis 6+, Valkey and Redis Cluster.
 */
export { RedisCircuitBreakerStore } from './redis-circuit-breaker-store.js';
export { type RedisClient, type RedisStoreOptions, RedisStoreTimeoutError } from './redis-client.js';
export { RedisIdempotencyStore } from './redis-idempotency-store.js';
export { RedisRateLimitStore } from './redis-rate-limit-store.js';
export { RedisRetryBudgetStore } from './redis-retry-budget-store.js';
export { RedisWorkflowStore, type RedisWorkflowStoreOptions } from './redis-workflow-store.js';
