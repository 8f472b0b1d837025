/**
 * A retry budget shared by two replicas through a real redis-server on loopback: the
 * retries of both together stay within one budget, a success gives tokens back, and a
 * full budget leaves no key behind.
 */
import { describe, expect, it } from 'vitest';
import { ResiliencePipeline, RetryBudget } from '../../src/index.js';
import { RedisRetryBudgetStore } from '../../src/redis/index.js';
import { httpError } from '../support/hooks.js';
import { useRedis } from '../support/redis.js';

const redisServer = useRedis();

describe('RedisRetryBudgetStore', () => {
  it('two replicas share one budget: their retries together stay within it', async () => {
    const other = await redisServer.server.connect();
    const replicas = [redisServer.client, other].map(
      (client) =>
        new ResiliencePipeline({
          retry: {
            maxRetries: 10,
            baseDelayMs: 0,
            budget: new RetryBudget({
              name: 'llm',
              capacity: 50,
              store: new RedisRetryBudgetStore({ client, keyPrefix: 'rb1:' }),
            }),
          },
        }),
    );
    let attempts = 0;
    const failing = async () => {
      attempts++;
      throw httpError(503);
    };
    await Promise.allSettled([0, 1, 2, 3].map((i) => replicas[i % 2]!.execute(failing)));
    expect(attempts - 4).toBe(10); // 50 tokens / 5 per retry, across both replicas
    expect(await redisServer.client.get('rb1:llm')).toBe('0');
    await replicas[0]!.execute(async () => 'ok');
    await new Promise((r) => setTimeout(r, 50)); // the refund is not awaited by the call
    expect(await redisServer.client.get('rb1:llm')).toBe('1');
    await other.close();
  });

  it('a full budget has no key', async () => {
    const store = new RedisRetryBudgetStore({ client: redisServer.client, keyPrefix: 'rb2:' });
    expect(await store.take('b', 5, 10)).toBe(true);
    expect(await redisServer.client.get('rb2:b')).toBe('5');
    await store.give('b', 5, 10);
    expect(await redisServer.client.exists('rb2:b')).toBe(0);
    expect(await store.take('b', 11, 10)).toBe(false);
  });
});
