/**
 * Every Redis store against a real redis-server that stalls (SIGSTOP), dies (SIGKILL)
 * and comes back (a new server on the same port), with clients wired as the README
 * says (an 'error' listener, node-redis reconnecting). Each call is bounded by
 * `commandTimeoutMs`; the shared rate limiter admits again within one window after a
 * 10 s stall (real time: the test is about a real server stall); a breaker transition
 * made during an outage reaches the peer within `syncIntervalMs` of Redis returning;
 * an idempotent effect or a workflow step whose record write meets the stall is kept,
 * not redone; and the README's wiring, run as written, keeps the app alive.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokenCircuitError,
  type BucketLimit,
  CircuitBreaker,
  idempotent,
  pendingIdempotencyRecords,
  RateLimiter,
  WorkflowStalledError,
  workflow,
} from '../../src/index.js';
import {
  RedisCircuitBreakerStore,
  RedisIdempotencyStore,
  RedisRateLimitStore,
  RedisWorkflowStore,
} from '../../src/redis/index.js';
import { httpError } from '../support/hooks.js';
import { type RunningRedis, startRedis } from '../support/redis.js';

const TIMEOUT_MS = 200;
/** Time a bounded call may take beyond commandTimeoutMs on a loaded 2-core machine. */
const SLACK_MS = 150;

let redis: RunningRedis;
const clients: { isOpen: boolean; destroy(): void }[] = [];
/** A client as the README wires it: an 'error' listener, node-redis's reconnecting. */
async function readmeClient() {
  const client = createClient({
    socket: { host: '127.0.0.1', port: redis.port, reconnectStrategy: (retries) => Math.min(retries * 50, 200) },
  }).on('error', () => {});
  await client.connect();
  clients.push(client);
  return client;
}
beforeAll(async () => {
  redis = await startRedis();
}, 20_000);
afterEach(async () => {
  redis.resume();
});
afterAll(async () => {
  for (const c of clients) if (c.isOpen) c.destroy();
  await redis?.stop();
});

let n = 0;
const prefix = () => `outage${n++}:`;
const limits: BucketLimit[] = [{ name: 'default', capacity: 5, rate: 5 / 1000 }];

/** How long `work` took to settle, in ms. */
async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work().catch(() => {});
  return performance.now() - started;
}

describe('every Redis store while Redis is stalled, dead and back', () => {
  it('bounds each call by commandTimeoutMs through a stall and a kill, and works again once Redis is back', async () => {
    const client = await readmeClient();
    const options = { client, commandTimeoutMs: TIMEOUT_MS, keyPrefix: prefix() };
    const idem = new RedisIdempotencyStore(options);
    const runs = new RedisWorkflowStore(options);
    const budget = new RedisRateLimitStore(options);
    const breakers = new RedisCircuitBreakerStore(options);
    const calls: Record<string, () => Promise<unknown>> = {
      'idempotency acquire': () => idem.acquire('k', { owner: 'a', leaseMs: 1000, ttlMs: 1000 }),
      'idempotency get': () => idem.get('k'),
      'workflow load': () => runs.load('r'),
      'workflow save': () =>
        runs.save({ runId: 'r', workflow: 'w', status: 'running', input: 1, steps: {}, compensated: [], updatedAt: 1 }, 0),
      'rate-limit reserve': () => budget.reserve('llm', 'default', limits, [1], Infinity),
      'breaker publish': () => breakers.publish('llm', 'closed', 0),
      'breaker read': () => breakers.read('llm'),
    };
    const longest: Record<string, number> = {};
    const outage = async (what: string) => {
      for (const [name, call] of Object.entries(calls)) {
        const ms = await timed(call);
        longest[`${name} (${what})`] = Math.round(ms);
        expect(ms, `${name} during ${what}`).toBeLessThan(TIMEOUT_MS + SLACK_MS);
        await expect(call(), `${name} during ${what}`).rejects.toThrow();
      }
    };
    redis.pause();
    await outage('SIGSTOP');
    redis.resume();
    await redis.kill();
    await outage('killed');
    await redis.restart();
    const back = performance.now();
    for (const [name, call] of Object.entries(calls)) {
      for (let i = 0; ; i++) {
        try {
          await call();
          break;
        } catch (error) {
          if (i > 100) throw new Error(`${name} did not come back`, { cause: error });
          await sleep(50);
        }
      }
    }
    console.log(
      `[redis outage] longest call per store operation, ms (commandTimeoutMs ${TIMEOUT_MS}): ${JSON.stringify(longest, null, 2)}; all working again ${Math.round(performance.now() - back)} ms after the restart`,
    );
  }, 30_000);

  it('the shared limiter admits again within one window after a 10 s stall: reservations sent during it are refused, not charged', async () => {
    const client = await readmeClient();
    const keyPrefix = prefix();
    const store = new RedisRateLimitStore({ client, keyPrefix, commandTimeoutMs: TIMEOUT_MS });
    const limiter = new RateLimiter({ name: 'llm', limits: { tokensPerInterval: 5, intervalMs: 1000 }, mode: 'reject', store });
    for (let i = 0; i < 5; i++) await limiter.execute(async () => 'ok');
    redis.pause();
    const stalledAt = performance.now();
    let sent = 0;
    let slowest = 0;
    const pending: Promise<unknown>[] = [];
    while (performance.now() - stalledAt < 10_000) {
      for (let i = 0; i < 5; i++) {
        sent++;
        const started = performance.now();
        pending.push(
          limiter
            .execute(async () => 'ok')
            .catch(() => 'rejected')
            .finally(() => {
              slowest = Math.max(slowest, performance.now() - started);
            }),
        );
      }
      await sleep(100);
    }
    await Promise.all(pending);
    redis.resume();
    const resumedAt = performance.now();
    let admittedAfterMs: number | undefined;
    while (performance.now() - resumedAt < 3000) {
      try {
        if ((await store.reserve('llm', 'default', limits, [1], Infinity)) === 0) {
          admittedAfterMs = performance.now() - resumedAt;
          break;
        }
      } catch {
        // a reservation of the stall is still being refused
      }
      await sleep(20);
    }
    const tokens = Number(await client.hGet(`${keyPrefix}llm:default`, 'default:tokens'));
    console.log(
      `[redis outage] rate limiter: ${sent} calls during a 10 s SIGSTOP, slowest ${Math.round(slowest)} ms; admitted by Redis ${Math.round(admittedAfterMs ?? -1)} ms after it resumed (window 1000 ms); tokens left ${tokens.toFixed(2)} of 5`,
    );
    expect(slowest).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    expect(admittedAfterMs).toBeDefined();
    expect(admittedAfterMs!).toBeLessThan(1000);
    expect(tokens).toBeGreaterThanOrEqual(-1); // not overdrawn by the reservations of the stall
  }, 30_000);

  for (const outage of ['SIGSTOP', 'kill'] as const) {
    it(`a breaker opened during a Redis outage (${outage}) reaches the peer within syncIntervalMs of Redis returning`, async () => {
      const keyPrefix = prefix();
      const syncIntervalMs = 300;
      const replica = async () =>
        new CircuitBreaker({
          name: 'llm',
          failureThreshold: 2,
          halfOpenAfterMs: 60_000,
          syncIntervalMs,
          store: new RedisCircuitBreakerStore({ client: await readmeClient(), keyPrefix, commandTimeoutMs: TIMEOUT_MS }),
        });
      const [a, b] = [await replica(), await replica()];
      await b.execute(async () => 'ok');
      if (outage === 'SIGSTOP') redis.pause();
      else await redis.kill();
      const failing = async () => {
        throw httpError(503);
      };
      await a.execute(failing).catch(() => {});
      await a.execute(failing).catch(() => {});
      expect(a.state).toBe('open');
      await sleep(1000); // the outage goes on; b keeps calling and syncing in vain
      for (let i = 0; i < 10; i++) await b.execute(async () => 'ok').catch(() => {});
      expect(b.state).toBe('closed');
      if (outage === 'SIGSTOP') redis.resume();
      else await redis.restart();
      const back = performance.now();
      while (b.state !== 'open' && performance.now() - back < 5000) {
        await b.execute(async () => 'ok').catch(() => {});
        await sleep(10);
      }
      const reachedMs = performance.now() - back;
      console.log(
        `[redis outage] breaker opened during ${outage}: peer open ${Math.round(reachedMs)} ms after Redis returned (syncIntervalMs ${syncIntervalMs})`,
      );
      expect(b.state).toBe('open');
      await expect(b.execute(async () => 'ok')).rejects.toBeInstanceOf(BrokenCircuitError);
      // After a kill the restarted server also needs the client to reconnect (node-redis backoff up to 200 ms here).
      expect(reachedMs).toBeLessThan(syncIntervalMs + (outage === 'kill' ? 300 : 0) + SLACK_MS);
    }, 30_000);
  }

  it('an idempotent effect whose record write meets a stall returns its result, is held, and is recorded after it', async () => {
    const client = await readmeClient();
    const store = new RedisIdempotencyStore({ client, keyPrefix: prefix(), commandTimeoutMs: TIMEOUT_MS });
    let charges = 0;
    const charge = idempotent(
      async (order: string) => {
        charges++;
        redis.pause(); // Redis stalls right after the effect
        return `charged ${order}`;
      },
      { key: ([order]) => order, namespace: 'charge', store, leaseMs: 5000 },
    );
    const ms = await timed(async () => expect(await charge('o1')).toBe('charged o1'));
    expect(pendingIdempotencyRecords().map((p) => p.key)).toContain('charge:o1');
    await expect(charge('o1')).resolves.toBe('charged o1'); // replayed from the process, not run again
    redis.resume();
    for (let i = 0; i < 100 && pendingIdempotencyRecords().length > 0; i++) await sleep(50);
    expect(await store.get('charge:o1')).toMatchObject({ status: 'completed', result: 'charged o1' });
    expect(charges).toBe(1);
    console.log(`[redis outage] idempotent call returned ${Math.round(ms)} ms after its effect though Redis was stalled`);
  }, 20_000);

  it('a workflow step whose checkpoint meets a stall: the run stalls (not compensated) and resumes without redoing it', async () => {
    const client = await readmeClient();
    const store = new RedisWorkflowStore({ client, keyPrefix: prefix(), commandTimeoutMs: TIMEOUT_MS });
    const log: string[] = [];
    const order = workflow(
      'order',
      async (ctx) => {
        await ctx.step(
          'charge',
          () => {
            log.push('charge');
            redis.pause();
            return 'charge-1';
          },
          { compensate: () => log.push('refund') },
        );
        await ctx.step('email', () => log.push('email'));
        return 'done';
      },
      { store, leaseMs: 1000 },
    );
    await expect(order.run('r', {})).rejects.toBeInstanceOf(WorkflowStalledError);
    redis.resume();
    for (let i = 0; ; i++) {
      try {
        expect(await order.resume('r')).toBe('done');
        break;
      } catch (error) {
        if (i > 40) throw error;
        await sleep(100); // the lease the stalled execution wrote runs out
      }
    }
    expect(log).toEqual(['charge', 'email']);
  }, 20_000);
});

describe("the README's Redis wiring, run as written", () => {
  const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
  const section = readme.slice(readme.indexOf('#### Shared by many replicas'));
  const written = section.slice(section.indexOf('```ts') + 5, section.indexOf('```', section.indexOf('```ts') + 5));
  // The wiring the README used to show: no 'error' listener (the stores add one).
  const bare = written.replace(/\n\s*\.on\('error'.*\n/, '\n');
  it.each([
    ['as written', written],
    ["without the 'error' listener", bare],
  ])(
    'keeps the app alive when Redis dies, and works again once it is back (%s)',
    async (_, block) => {
      const dist = (path: string) => JSON.stringify(fileURLToPath(new URL(`../../dist/${path}`, import.meta.url)));
      const app = `${block
        .replace("from 'otel-resilience/redis'", `from ${dist('redis/index.js')}`)
        .replace("from 'otel-resilience'", `from ${dist('index.js')}`)}
      let ok = 0;
      let failed = 0;
      setInterval(async () => {
        try {
          await budget.execute(async () => 'ok');
          await store.acquire('k' + Math.random(), { owner: 'o', leaseMs: 1000, ttlMs: 1000 });
          await runs.load('r');
          await breaker.execute(async () => 'ok');
          console.log('ok ' + ++ok);
        } catch (error) {
          console.log('failed ' + ++failed + ' ' + error.name);
        }
      }, 50);
    `;
      expect(block).toContain('createClient(');
      if (block === bare) expect(block).not.toContain(".on('error'");
      const child = spawn(process.execPath, ['--input-type=module', '-e', app], {
        env: { ...process.env, REDIS_URL: `redis://127.0.0.1:${redis.port}` },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
      });
      child.stderr!.on('data', (c: Buffer) => {
        out += c.toString();
      });
      const waitFor = async (check: () => boolean, what: string) => {
        for (let i = 0; i < 200 && !check(); i++) await sleep(50);
        if (!check()) throw new Error(`${what}:\n${out.slice(-2000)}`);
      };
      try {
        await waitFor(() => out.includes('ok 3'), 'the app did not start');
        await redis.kill();
        const killedAt = out.length;
        // Commands now wait commandTimeoutMs (2000, the default) for a reconnect, then fail.
        await waitFor(() => /failed \d+ /.test(out.slice(killedAt)), 'no call failed while Redis was dead');
        await sleep(1000);
        expect(child.exitCode, out).toBeNull();
        await redis.restart();
        const restartedAt = out.length;
        await waitFor(() => /ok \d+/.test(out.slice(restartedAt)), 'the app did not recover');
        expect(child.exitCode).toBeNull();
      } finally {
        child.kill('SIGKILL');
      }
    },
    30_000,
  );
});
