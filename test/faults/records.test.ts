/**
 * Records that are not what they should be, and keys that must not meet: every corrupt
 * form of a file or Redis record (truncated, garbage, empty, the wrong shape, an edited
 * step output or result) is a CorruptRecordError naming the run or key and the file or
 * Redis key — nothing runs, nothing is replayed from it; keys built from several parts
 * never collide in any store; a lock left by a dead process is taken over at once.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CorruptRecordError,
  FileIdempotencyStore,
  FileWorkflowStore,
  type IdempotencyStore,
  idempotent,
  MemoryIdempotencyStore,
  MemoryWorkflowStore,
  type WorkflowStore,
  workflow,
} from '../../src/index.js';
import { RedisIdempotencyStore, RedisRateLimitStore, RedisWorkflowStore } from '../../src/redis/index.js';
import { useRedis } from '../support/redis.js';

const root = mkdtempSync(join(tmpdir(), 'otel-resilience-records-'));
const redisServer = useRedis();
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
/** A record file as the file stores write it, with a valid checksum over `json`. */
const signed = (json: string) => `sha256:${sha256(json)}\n${json}`;

/** A completed order run in `store`, and the function that runs it (counting step executions). */
async function completedRun(store: WorkflowStore) {
  let executions = 0;
  const order = workflow('order', async (ctx) => ctx.step('charge', () => (executions++, { amount: 100, currency: 'EUR' })), {
    store,
  });
  await order.run('run-1', {});
  return { order, executions: () => executions };
}

const FILE_FORMS: Array<[string, (content: string) => string]> = [
  ['truncated', (c) => c.slice(0, Math.floor(c.length / 2))],
  ['cut after the checksum line', (c) => c.slice(0, c.indexOf('\n') + 1)],
  ['empty', () => ''],
  ['garbage', () => '\u0000\u00ff not a record at all'],
  ['edited by hand (a step output, a result)', (c) => c.replace('"amount":100', '"amount":1')],
  ['valid JSON but null', () => signed('null')],
  ['valid JSON but {}', () => signed('{}')],
  ['valid JSON but []', () => signed('[]')],
  ['an unknown status', (c) => signed(c.slice(c.indexOf('\n') + 1).replace('"completed"', '"done-ish"'))],
];

describe('corrupt file records', () => {
  it.each(FILE_FORMS)('a workflow run file %s is a CorruptRecordError naming the run and the file', async (_, corrupt) => {
    const dir = join(root, `runs-${n++}`);
    const { order, executions } = await completedRun(new FileWorkflowStore(dir));
    const [file] = readdirSync(dir).filter((f) => f.endsWith('.json'));
    const path = join(dir, file!);
    writeFileSync(path, corrupt(readFileSync(path, 'utf8')));
    // A fresh process's view of the directory.
    const again = workflow('order', async (ctx) => ctx.step('charge', () => 'must not run'), {
      store: new FileWorkflowStore(dir),
    });
    for (const attempt of [() => again.status('run-1'), () => again.run('run-1', {}), () => again.resume('run-1')]) {
      const error = (await attempt().catch((e: unknown) => e)) as CorruptRecordError;
      expect(error).toBeInstanceOf(CorruptRecordError);
      expect(error).toMatchObject({ code: 'CORRUPT_RECORD', record: 'run-1', location: path });
      expect(error.message).toContain('run-1');
      expect(error.message).toContain(path);
    }
    expect(executions()).toBe(1);
    void order;
  });

  it.each(FILE_FORMS)(
    'an idempotency record file %s is a CorruptRecordError, and the effect does not run',
    async (_, corrupt) => {
      const dir = join(root, `idem-${n++}`);
      let runs = 0;
      const send = idempotent(async () => (runs++, { amount: 100 }), {
        key: () => 'k',
        namespace: 'pay',
        store: new FileIdempotencyStore(dir),
      });
      await send();
      const [file] = readdirSync(dir).filter((f) => f.endsWith('.json'));
      const path = join(dir, file!);
      writeFileSync(path, corrupt(readFileSync(path, 'utf8')));
      const error = (await send().catch((e: unknown) => e)) as CorruptRecordError;
      expect(error).toBeInstanceOf(CorruptRecordError);
      expect(error).toMatchObject({ record: 'pay:k', location: path });
      expect(runs).toBe(1);
    },
  );
});

describe('corrupt Redis records', () => {
  const runForms: Array<[string, (key: string, fields: { run: string; sum: string }) => string[]]> = [
    ['a step output edited by hand', (_, f) => ['run', f.run.replace('"amount":100', '"amount":1')]],
    ['truncated', (_, f) => ['run', f.run.slice(0, 20)]],
    ['garbage with a matching checksum', () => ['run', 'garbage', 'sum', sha256('garbage')]],
    ['null with a matching checksum', () => ['run', 'null', 'sum', sha256('null')]],
    ['{} with a matching checksum', () => ['run', '{}', 'sum', sha256('{}')]],
    ['[] with a matching checksum', () => ['run', '[]', 'sum', sha256('[]')]],
    ['a version that is not a number', () => ['version', 'x']],
  ];
  it.each(runForms)('a workflow run %s is a CorruptRecordError naming the run and the Redis key', async (_, change) => {
    const keyPrefix = `records${n++}:`;
    const { executions } = await completedRun(new RedisWorkflowStore({ client: redisServer.client, keyPrefix }));
    const key = `${keyPrefix}run-1`;
    const [run, sum] = (await redisServer.client.hmGet(key, ['run', 'sum'])) as [string, string];
    await redisServer.client.hSet(key, change(key, { run, sum }) as never);
    const again = workflow('order', async (ctx) => ctx.step('charge', () => 'must not run'), {
      store: new RedisWorkflowStore({ client: redisServer.client, keyPrefix }),
    });
    for (const attempt of [() => again.status('run-1'), () => again.run('run-1', {})]) {
      await expect(attempt()).rejects.toMatchObject({
        name: 'CorruptRecordError',
        record: 'run-1',
        location: `Redis key ${key}`,
      });
    }
    expect(executions()).toBe(1);
  });

  const recordForms: Array<[string, string[]]> = [
    ['an edited result', ['result', '{"amount":1}']],
    ['a result that is not JSON', ['result', '{"amo']],
    ['an unknown status', ['status', 'done-ish']],
    ['no owner', ['owner', '']],
    ['no expiry', ['expires', 'soon']],
  ];
  it.each(recordForms)(
    'an idempotency record with %s is a CorruptRecordError, and the effect does not run',
    async (_, change) => {
      const keyPrefix = `records${n++}:`;
      let runs = 0;
      const send = idempotent(async () => (runs++, { amount: 100 }), {
        key: () => 'k',
        namespace: 'pay',
        store: new RedisIdempotencyStore({ client: redisServer.client, keyPrefix }),
      });
      await send();
      await redisServer.client.hSet(`${keyPrefix}pay:k`, change as never);
      await expect(send()).rejects.toMatchObject({
        name: 'CorruptRecordError',
        record: 'pay:k',
        location: `Redis key ${keyPrefix}pay:k`,
      });
      expect(runs).toBe(1);
    },
  );

  it('an empty hash ({}) is not a record that lets the effect run again', async () => {
    const keyPrefix = `records${n++}:`;
    const store = new RedisIdempotencyStore({ client: redisServer.client, keyPrefix });
    await redisServer.client.hSet(`${keyPrefix}pay:k`, { junk: '1' });
    await expect(store.get('pay:k')).rejects.toBeInstanceOf(CorruptRecordError);
  });
});

describe('keys that must not meet', () => {
  const stores: Record<string, () => IdempotencyStore> = {
    memory: () => new MemoryIdempotencyStore(),
    file: () => new FileIdempotencyStore(join(root, `keys-${n++}`)),
    redis: () => new RedisIdempotencyStore({ client: redisServer.client, keyPrefix: `keys${n++}:` }),
  };
  it.each(Object.keys(stores))('namespace "A" + key "b:c" and namespace "A:b" + key "c" are two records (%s)', async (kind) => {
    const store = stores[kind]!();
    const ran: string[] = [];
    const first = idempotent(async (key: string) => (ran.push(`A/${key}`), 'first'), { key: ([k]) => k, namespace: 'A', store });
    const second = idempotent(async (key: string) => (ran.push(`A:b/${key}`), 'second'), {
      key: ([k]) => k,
      namespace: 'A:b',
      store,
    });
    await expect(first('b:c')).resolves.toBe('first');
    await expect(second('c')).resolves.toBe('second');
    expect(ran).toEqual(['A/b:c', 'A:b/c']);
  });

  it('rate limiter "A" + key "b:c" and limiter "A:b" + key "c" have their own budgets in Redis', async () => {
    const store = new RedisRateLimitStore({ client: redisServer.client, keyPrefix: `keys${n++}:` });
    const one = [{ name: 'default', capacity: 1, rate: 1 / 60_000 }];
    expect(await store.reserve('A', 'b:c', one, [1], Infinity)).toBe(0);
    expect(await store.reserve('A', 'b:c', one, [1], Infinity)).toBeGreaterThan(0);
    expect(await store.reserve('A:b', 'c', one, [1], Infinity)).toBe(0);
  });

  it('step idempotency keys of run "a:b" step "c" and run "a" step "b:c" differ', async () => {
    const keys: string[] = [];
    const flow = workflow('w', async (ctx, step: string) => ctx.step(step, (s) => keys.push(s.idempotencyKey)));
    await flow.run('a:b', 'c');
    await flow.run('a', 'b:c');
    expect(new Set(keys).size).toBe(2);
  });
});

describe('prototype names', () => {
  const names = ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'];
  const stores: Record<string, () => WorkflowStore> = {
    memory: () => new MemoryWorkflowStore(),
    file: () => new FileWorkflowStore(join(root, `proto-${n++}`)),
    redis: () => new RedisWorkflowStore({ client: redisServer.client, keyPrefix: `proto${n++}:` }),
  };
  it.each(Object.keys(stores))(
    'steps named %j run once and replay their outputs (%s)'.replace('%j', names.join(', ')),
    async (kind) => {
      const store = stores[kind]!();
      const ran: string[] = [];
      let fail = true;
      const flow = workflow(
        'w',
        async (ctx) => {
          const outputs = [];
          for (const id of names) outputs.push(await ctx.step(id, () => (ran.push(id), `out-${id}`)));
          await ctx.step('last', () => {
            if (fail) throw new Error('not yet');
          });
          return outputs;
        },
        { store, onFailure: 'keep' },
      );
      await expect(flow.run('r', undefined)).rejects.toMatchObject({ status: 'failed' });
      fail = false;
      await expect(flow.resume('r')).resolves.toEqual(names.map((id) => `out-${id}`));
      expect(ran).toEqual(names);
    },
  );

  it.each(Object.keys(stores).filter((k) => k !== 'redis'))(
    'idempotency keys named like prototype members work (%s)',
    async (kind) => {
      const store = kind === 'memory' ? new MemoryIdempotencyStore() : new FileIdempotencyStore(join(root, `proto-${n++}`));
      let runs = 0;
      const send = idempotent(async (key: string) => (runs++, key), { key: ([k]) => k, namespace: '__proto__', store });
      for (const id of names) await expect(send(id)).resolves.toBe(id);
      for (const id of names) await expect(send(id)).resolves.toBe(id);
      expect(runs).toBe(names.length);
    },
  );
});

describe('file store locks, temporary files and permissions', () => {
  /** The pid of a process that has exited. */
  const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;

  it('takes over at once a lock left by a dead process (expiry far away), removing its temporary file', async () => {
    const dir = join(root, `locks-${n++}`);
    const store = new FileWorkflowStore(dir);
    const order = workflow('order', async (ctx) => ctx.step('a', () => 1), { store });
    await order.run('r', {});
    const [file] = readdirSync(dir).filter((f) => f.endsWith('.json'));
    const path = join(dir, file!);
    writeFileSync(
      `${path}.lock`,
      JSON.stringify({
        token: 'dead',
        pid: deadPid(),
        host: (await import('node:os')).hostname(),
        expiresAt: Date.now() + 3_600_000,
      }),
    );
    writeFileSync(`${path}.dead.tmp`, 'half a record');
    const started = performance.now();
    await expect(order.run('r', {})).resolves.toBe(1); // reads without the lock
    await expect(workflow('order', async (ctx) => ctx.step('b', () => 2), { store }).run('r2', {})).resolves.toBe(2);
    const loaded = await store.load('r');
    await store.save({ ...loaded!.run, updatedAt: 2 }, loaded!.version);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(existsSync(`${path}.lock`)).toBe(false);
    expect(existsSync(`${path}.dead.tmp`)).toBe(false);
  });

  it('takes over an expired lock, and one left empty by a holder killed while creating it', async () => {
    const dir = join(root, `locks-${n++}`);
    mkdirSync(dir, { recursive: true });
    const store = new FileIdempotencyStore(dir);
    await store.acquire('k', { owner: 'a', leaseMs: 1000, ttlMs: 10_000 });
    const [file] = readdirSync(dir).filter((f) => f.endsWith('.json'));
    const path = join(dir, file!);
    writeFileSync(`${path}.lock`, JSON.stringify({ token: 't', pid: process.pid, host: 'elsewhere', expiresAt: Date.now() - 1 }));
    expect(await store.extendLease('k', 'a', 1000)).toBe(true);
    writeFileSync(`${path}.lock`, '');
    const old = new Date(Date.now() - 5000);
    (await import('node:fs')).utimesSync(`${path}.lock`, old, old);
    expect(await store.extendLease('k', 'a', 1000)).toBe(true);
  });

  it('writes records 0600 in a 0700 directory', async () => {
    const dir = join(root, `perms-${n++}`);
    const store = new FileIdempotencyStore(dir);
    await store.acquire('k', { owner: 'a', leaseMs: 1000, ttlMs: 10_000 });
    const [file] = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, file!)).mode & 0o777).toBe(0o600);
  });
});
