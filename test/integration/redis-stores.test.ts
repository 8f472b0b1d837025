/**
 * The Redis stores against a real redis-server on loopback: the conformance suites,
 * leases on server time, several connections (replicas) racing for one key, a bounded
 * wait when Redis stalls, and idempotent calls, workflows, a rate limit and a circuit
 * breaker shared by two replicas.
 */
import { describe, expect, it, vi } from 'vitest';
import {
  BrokenCircuitError,
  CircuitBreaker,
  idempotent,
  RateLimitedError,
  RateLimiter,
  ResiliencePipeline,
  resilient,
  workflow,
} from '../../src/index.js';
import {
  RedisCircuitBreakerStore,
  RedisIdempotencyStore,
  RedisRateLimitStore,
  RedisWorkflowStore,
} from '../../src/redis/index.js';
import { installTestTracing } from '../../src/testing/index.js';
import { httpError, manualClock } from '../support/hooks.js';
import { describeIdempotencyStoreConformance } from '../support/idempotency-store-conformance.js';
import { describeRateLimitStoreConformance } from '../support/rate-limit-store-conformance.js';
import { useRedis } from '../support/redis.js';
import { describeWorkflowStoreConformance } from '../support/workflow-store-conformance.js';

const redisServer = useRedis();

/** A key prefix no other test uses. */
let n = 0;
const fresh = () => `t${n++}:`;

describeIdempotencyStoreConformance(
  'RedisIdempotencyStore',
  async (clock) => new RedisIdempotencyStore({ client: redisServer.client, keyPrefix: fresh(), clock }),
);
describeWorkflowStoreConformance(
  'RedisWorkflowStore',
  async () => new RedisWorkflowStore({ client: redisServer.client, keyPrefix: fresh() }),
);
describeRateLimitStoreConformance(
  'RedisRateLimitStore',
  async (clock) => new RedisRateLimitStore({ client: redisServer.client, keyPrefix: fresh(), clock }),
);

describe('RedisIdempotencyStore on server time', () => {
  it('takes over a lease once it ran out by the server clock, and lets Redis forget records', async () => {
    const keyPrefix = fresh();
    const store = new RedisIdempotencyStore({ client: redisServer.client, keyPrefix });
    expect(await store.acquire('k', { owner: 'crashed', leaseMs: 50, ttlMs: 60_000 })).toEqual({ acquired: true });
    expect((await store.acquire('k', { owner: 'b', leaseMs: 50, ttlMs: 60_000 })).acquired).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(await store.acquire('k', { owner: 'b', leaseMs: 50, ttlMs: 60_000 })).toEqual({ acquired: true });
    expect(await store.complete('k', 'b', { result: [1, 'two', { three: null }], ttlMs: 5000 })).toBe(true);
    expect(await store.get('k')).toMatchObject({ status: 'completed', owner: 'b', result: [1, 'two', { three: null }] });
    const ttl = Number(await redisServer.client.sendCommand(['PTTL', `${keyPrefix}k`]));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(5000);
  });

  it('exactly one of eight connections racing for a key wins', async () => {
    const keyPrefix = fresh();
    const clients = await Promise.all(Array.from({ length: 8 }, () => redisServer.server.connect()));
    const results = await Promise.all(
      clients.map((c, i) =>
        new RedisIdempotencyStore({ client: c, keyPrefix }).acquire('k', {
          owner: `replica-${i}`,
          leaseMs: 10_000,
          ttlMs: 60_000,
        }),
      ),
    );
    expect(results.filter((r) => r.acquired)).toHaveLength(1);
    const winner = results.find((r) => !r.acquired) as { existing: { owner: string } };
    expect(winner.existing.owner).toMatch(/^replica-\d$/);
  });

  it('rejects instead of hanging when Redis stalls past commandTimeoutMs', async () => {
    const blocker = await redisServer.server.connect();
    const store = new RedisIdempotencyStore({
      client: await redisServer.server.connect(),
      keyPrefix: fresh(),
      commandTimeoutMs: 100,
    });
    const stall = blocker.sendCommand(['DEBUG', 'SLEEP', '0.5']);
    await expect(store.acquire('k', { owner: 'a', leaseMs: 1000, ttlMs: 1000 })).rejects.toMatchObject({
      name: 'RedisStoreTimeoutError',
      code: 'REDIS_STORE_TIMEOUT',
      retryable: true,
    });
    await stall;
  });

  it('names the option when the client is not a Redis client', () => {
    expect(() => new RedisIdempotencyStore({ client: {} as never })).toThrow(/Invalid option client/);
    expect(() => new RedisWorkflowStore({ client: redisServer.client, commandTimeoutMs: 0 })).toThrow(/commandTimeoutMs/);
    expect(() => new RedisWorkflowStore({ client: redisServer.client, keyprefix: 'x' } as never)).toThrow(/keyprefix/);
  });
});

describe('two replicas sharing Redis', () => {
  it('run an idempotent call once; the other replica replays its result', async () => {
    const namespace = fresh();
    const effects: string[] = [];
    const replica = async (name: string) =>
      idempotent(
        async (to: string) => {
          effects.push(`${name} sends to ${to}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
          return `sent to ${to}`;
        },
        {
          key: ([to]) => to,
          namespace,
          store: new RedisIdempotencyStore({ client: await redisServer.server.connect() }),
          onInProgress: { waitMs: 5000, pollMs: 10 },
        },
      );
    const [a, b] = [await replica('a'), await replica('b')];
    await expect(Promise.all([a('ada@example.com'), b('ada@example.com')])).resolves.toEqual([
      'sent to ada@example.com',
      'sent to ada@example.com',
    ]);
    expect(effects).toHaveLength(1);
  });

  it('resume a workflow run on another replica without redoing its finished steps', async () => {
    const keyPrefix = fresh();
    const log: string[] = [];
    let smtpDown = true;
    const replica = async (name: string) =>
      workflow(
        'invoice',
        async (ctx, input: { customer: string }) => {
          const invoice = await ctx.step('create', async () => (log.push(`${name}: create`), `invoice-${input.customer}`));
          await ctx.step('email', async () => {
            log.push(`${name}: email`);
            if (smtpDown) throw new Error('smtp down');
          });
          return invoice;
        },
        { store: new RedisWorkflowStore({ client: await redisServer.server.connect(), keyPrefix }), onFailure: 'keep' },
      );
    const [a, b] = [await replica('a'), await replica('b')];
    await expect(a.run('run-1', { customer: 'acme' })).rejects.toMatchObject({ status: 'failed' });
    smtpDown = false;
    await expect(b.resume('run-1')).resolves.toBe('invoice-acme');
    expect(log).toEqual(['a: create', 'a: email', 'b: email']);
    expect(await a.status('run-1')).toMatchObject({ status: 'completed', result: 'invoice-acme' });
  });
});

describe('RedisWorkflowStore ttlMs', () => {
  const pttl = async (key: string) => Number(await redisServer.client.sendCommand(['PTTL', key]));

  it('lets Redis forget a finished run ttlMs after it finished, and keeps runs not finished', async () => {
    const keyPrefix = fresh();
    const store = new RedisWorkflowStore({ client: redisServer.client, keyPrefix, ttlMs: 60_000 });
    let waiting = true;
    const flow = workflow(
      'ttl',
      async (ctx) => {
        await ctx.step('wait', async () => {
          if (waiting) throw new Error('not yet');
        });
        return 'done';
      },
      { store, onFailure: 'keep' },
    );
    await expect(flow.run('kept', {})).rejects.toMatchObject({ status: 'failed' });
    const failedTtl = await pttl(`${keyPrefix}kept`);
    expect(failedTtl).toBeGreaterThan(59_000);
    expect(failedTtl).toBeLessThanOrEqual(60_000);
    // A run saved as not finished again (resumed) is kept however long it takes.
    const claimed = await store.load('kept');
    await store.save({ ...claimed!.run, status: 'running' }, claimed!.version);
    expect(await pttl(`${keyPrefix}kept`)).toBe(-1);
    waiting = false;
    await expect(flow.resume('kept')).resolves.toBe('done');
    expect(await pttl(`${keyPrefix}kept`)).toBeGreaterThan(59_000);
    // Without ttlMs a finished run is kept until deleted.
    const forever = workflow('ttl', async () => 'done', {
      store: new RedisWorkflowStore({ client: redisServer.client, keyPrefix }),
    });
    await expect(forever.run('forever', {})).resolves.toBe('done');
    expect(await pttl(`${keyPrefix}forever`)).toBe(-1);
  });

  it('names ttlMs when it is not a duration', () => {
    for (const ttlMs of [0, -1, Number.NaN, '1h']) {
      expect(() => new RedisWorkflowStore({ client: redisServer.client, ttlMs: ttlMs as number })).toThrow(/ttlMs/);
    }
  });
});

describe('RedisRateLimitStore', () => {
  /** A replica's limiter: 5 calls of burst, refilling one a minute, on its own connection. */
  const replica = async (keyPrefix: string) =>
    new RateLimiter({
      name: 'llm',
      limits: { tokensPerInterval: 1, intervalMs: 60_000, burst: 5 },
      mode: 'reject',
      store: new RedisRateLimitStore({ client: await redisServer.server.connect(), keyPrefix }),
    });

  it('makes replicas share one budget: together they admit the burst, not a burst each', async () => {
    const keyPrefix = fresh();
    const [a, b] = [await replica(keyPrefix), await replica(keyPrefix)];
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).execute(async () => 'ok').catch((e: unknown) => e)),
    );
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(5);
    const rejected = outcomes.filter((o) => o instanceof RateLimitedError) as RateLimitedError[];
    expect(rejected).toHaveLength(5);
    expect(rejected.every((e) => e.retryAfterMs! > 0 && e.retryAfterMs! <= 60_000 * 5)).toBe(true);
  });

  it('a call turned away holds none of the budget, not even until its undo: the call that fits behind it is admitted', async () => {
    // 5 of burst; 1 spent, 4 left. A call costing 5 and one costing 4 reach Redis back to
    // back on one connection: the first must be rejected, the second fits.
    const call = resilient(async (cost: number) => cost, {
      retry: false,
      rateLimiter: {
        name: 'llm',
        limits: { tokensPerInterval: 1, intervalMs: 60_000, burst: 5 },
        mode: 'reject',
        cost: ([cost]: unknown[]) => cost as number,
        store: new RedisRateLimitStore({ client: await redisServer.server.connect(), keyPrefix: fresh() }),
      },
    });
    await expect(call(1)).resolves.toBe(1);
    const [tooMuch, fits] = await Promise.allSettled([call(5), call(4)]);
    expect(tooMuch).toMatchObject({ status: 'rejected', reason: expect.any(RateLimitedError) });
    expect(fits).toEqual({ status: 'fulfilled', value: 4 });
  });

  it("holds every replica once one learns the provider's Retry-After", async () => {
    const keyPrefix = fresh();
    const learning = async () =>
      new RateLimiter({
        name: 'llm',
        limits: { tokensPerInterval: 100, intervalMs: 1000 },
        mode: 'reject',
        learn: true,
        store: new RedisRateLimitStore({ client: await redisServer.server.connect(), keyPrefix }),
      });
    const [a, b] = [await learning(), await learning()];
    await expect(a.execute(async () => Promise.reject(httpError(429, { 'retry-after': '2' })))).rejects.toMatchObject({
      status: 429,
    });
    await vi.waitFor(async () => {
      const error = (await b.execute(async () => 'sent').catch((e: unknown) => e)) as RateLimitedError;
      expect(error).toBeInstanceOf(RateLimitedError);
      expect(error.retryAfterMs).toBeGreaterThan(1000);
      expect(error.retryAfterMs).toBeLessThanOrEqual(2000);
    });
  });

  it("a reset too long to be a provider's answer holds for 2^31 - 1 ms, not never (the key stays in Redis)", async () => {
    const keyPrefix = fresh();
    const limiter = new RateLimiter({
      name: 'llm',
      limits: { tokensPerInterval: 100, intervalMs: 1000 },
      mode: 'reject',
      learn: true,
      store: new RedisRateLimitStore({ client: redisServer.client, keyPrefix }),
    });
    await limiter.execute(async () => ({
      response: { headers: { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '10000000000000h' } },
    }));
    await vi.waitFor(async () => {
      const error = (await limiter.execute(async () => 'sent').catch((e: unknown) => e)) as RateLimitedError;
      expect(error).toBeInstanceOf(RateLimitedError);
      expect(error.retryAfterMs).toBeGreaterThan(2 ** 31 - 10_000);
    });
    expect(Number(await redisServer.client.sendCommand(['PTTL', `${keyPrefix}llm:default`]))).toBeGreaterThan(2 ** 31 - 10_000);
  });

  it("limits with the process's own buckets while Redis is unreachable, and says so on the span", async () => {
    const tracing = installTestTracing();
    try {
      const down = await redisServer.server.connect();
      await down.close();
      const limiter = new RateLimiter({
        name: 'llm',
        limits: { tokensPerInterval: 1, intervalMs: 60_000, burst: 2 },
        mode: 'reject',
        store: new RedisRateLimitStore({ client: down }),
      });
      const pipeline = new ResiliencePipeline({ name: 'llm.chat', retry: false, rateLimiter: limiter });
      await expect(pipeline.execute(async () => 1)).resolves.toBe(1);
      await expect(pipeline.execute(async () => 2)).resolves.toBe(2);
      await expect(pipeline.execute(async () => 3)).rejects.toBeInstanceOf(RateLimitedError);
      expect(tracing).toHaveSpan('llm.chat', {
        events: [{ name: 'resilience.rate_limiter.store_failed', attributes: { 'resilience.rate_limiter.name': 'llm' } }],
      });
    } finally {
      await tracing.uninstall();
    }
  });
});

describe('RedisCircuitBreakerStore', () => {
  it('numbers published changes and tells how long an open circuit has left, on its clock', async () => {
    const clock = manualClock();
    const store = new RedisCircuitBreakerStore({ client: redisServer.client, keyPrefix: fresh(), clock });
    expect(await store.read('llm')).toBeUndefined();
    expect(await store.publish('llm', 'open', 5000)).toBe(1);
    clock.advance(2000);
    expect(await store.read('llm')).toEqual({ generation: 1, state: 'open', openRemainingMs: 3000 });
    clock.advance(4000);
    expect(await store.read('llm')).toMatchObject({ openRemainingMs: 0 });
    expect(await store.publish('llm', 'closed', 0)).toBe(2);
    expect(await store.read('llm')).toMatchObject({ generation: 2, state: 'closed' });
    expect(await store.read('db')).toBeUndefined();
  });

  /** A process's breaker of the dependency `llm`, on its own connection and clock. */
  const replica = async (keyPrefix: string) => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({
      name: 'llm',
      failureThreshold: 2,
      halfOpenAfterMs: 60_000,
      syncIntervalMs: 100,
      clock,
      store: new RedisCircuitBreakerStore({ client: await redisServer.server.connect(), keyPrefix }),
    });
    return { breaker, clock };
  };
  const failing = async () => {
    throw httpError(503);
  };

  it('opens in every process once one opens it, for the time it has left; a reset closes it everywhere', async () => {
    const keyPrefix = fresh();
    const [a, b] = [await replica(keyPrefix), await replica(keyPrefix)];
    await expect(a.breaker.execute(failing)).rejects.toMatchObject({ status: 503 });
    await expect(a.breaker.execute(failing)).rejects.toMatchObject({ status: 503 });
    expect(a.breaker.state).toBe('open');
    // b's next call starts a sync and goes ahead; b opens when the read comes back.
    await vi.waitFor(async () => {
      await b.breaker.execute(async () => 'ok').catch(() => {});
      b.clock.advance(100);
      expect(b.breaker.state).toBe('open');
    });
    const rejection = (await b.breaker.execute(async () => 'ok').catch((e: unknown) => e)) as BrokenCircuitError;
    expect(rejection).toBeInstanceOf(BrokenCircuitError);
    expect(rejection.retryAfterMs).toBeGreaterThan(50_000);
    expect(rejection.retryAfterMs).toBeLessThanOrEqual(60_000);

    a.breaker.reset();
    await vi.waitFor(async () => {
      b.clock.advance(100);
      await b.breaker.execute(async () => 'ok').catch(() => {});
      expect(b.breaker.state).toBe('closed');
    });
    await expect(b.breaker.execute(async () => 'ok')).resolves.toBe('ok');
  });

  it('goes on by its own counts while Redis is unreachable', async () => {
    const down = await redisServer.server.connect();
    await down.close();
    const breaker = new CircuitBreaker({
      name: 'llm',
      failureThreshold: 2,
      store: new RedisCircuitBreakerStore({ client: down }),
    });
    await expect(breaker.execute(failing)).rejects.toMatchObject({ status: 503 });
    await expect(breaker.execute(failing)).rejects.toMatchObject({ status: 503 });
    await expect(breaker.execute(async () => 'ok')).rejects.toBeInstanceOf(BrokenCircuitError);
  });
});
