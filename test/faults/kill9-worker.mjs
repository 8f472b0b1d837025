/**
 * A worker for the kill -9 harness (kill9.test.ts): runs order workflows and idempotent
 * notifications against the file or Redis stores until it is killed, or, with `finish`,
 * drives every run and key to its end and exits. Every downstream effect is appended to
 * LOG as one JSON line (appends of one short line are atomic), with the idempotency key
 * it was sent with and the worker's pid; errors other than the expected contention go
 * to ERRORS.
 *
 *   node kill9-worker.mjs <file|redis> <dir> <redis port> <runs> <keys> <work|finish> <seed>
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import {
  currentIdempotencyKey,
  FileIdempotencyStore,
  FileWorkflowStore,
  IdempotencyInProgressError,
  idempotent,
  seededRandom,
  WorkflowLeaseHeldError,
  workflow,
} from '../../dist/index.js';
import { RedisIdempotencyStore, RedisWorkflowStore } from '../../dist/redis/index.js';

const [kind, dir, port, runCount, keyCount, mode, seed] = process.argv.slice(2);
const random = seededRandom(Number(seed));
const log = join(dir, 'effects.log');
const errors = join(dir, 'errors.log');
const downstream = (entry) => appendFileSync(log, `${JSON.stringify({ ...entry, pid: process.pid })}\n`);

let stores;
if (kind === 'file') {
  stores = { runs: new FileWorkflowStore(join(dir, 'runs')), records: new FileIdempotencyStore(join(dir, 'records')) };
} else {
  // The README's wiring: an 'error' listener and node-redis's reconnect strategy.
  const client = await createClient({ socket: { host: '127.0.0.1', port: Number(port) } })
    .on('error', () => {})
    .connect();
  stores = { runs: new RedisWorkflowStore({ client }), records: new RedisIdempotencyStore({ client }) };
}

const effect = async (entry) => {
  await sleep(Math.floor(random() * 4));
  const nonce = `${process.pid}-${random().toString(36).slice(2, 10)}`;
  downstream({ ...entry, nonce });
  return nonce;
};

const email = idempotent(async (_key) => effect({ kind: 'email', key: currentIdempotencyKey() }), {
  key: ([key]) => key,
  namespace: 'email',
  store: stores.records,
  leaseMs: 400,
});
const notify = idempotent(async (_key) => effect({ kind: 'notify', key: currentIdempotencyKey() }), {
  key: ([key]) => key,
  namespace: 'notify',
  store: stores.records,
  leaseMs: 400,
});

const order = workflow(
  'order',
  async (ctx) => {
    const step = (id, options) =>
      ctx.step(id, (s) => effect({ kind: 'step', run: ctx.runId, step: id, key: s.idempotencyKey }), options);
    await step('reserve', { compensate: () => downstream({ kind: 'compensate', run: ctx.runId, step: 'reserve' }) });
    await step('charge', { compensate: () => downstream({ kind: 'compensate', run: ctx.runId, step: 'charge' }) });
    await ctx.step('email', (s) => email(s.idempotencyKey));
    await step('receipt');
    return 'done';
  },
  { store: stores.runs, leaseMs: 400 },
);

const expected = (error) => error instanceof WorkflowLeaseHeldError || error instanceof IdempotencyInProgressError;
const report = (error) => appendFileSync(errors, `${process.pid} ${error?.name}: ${error?.message}\n`);

const runs = Array.from({ length: Number(runCount) }, (_, i) => `order-${i}`);
const keys = Array.from({ length: Number(keyCount) }, (_, i) => `n${i}`);

console.log('ready');
if (mode === 'work') {
  for (;;) {
    const work =
      random() < 0.6 ? order.run(runs[Math.floor(random() * runs.length)], {}) : notify(keys[Math.floor(random() * keys.length)]);
    await work.catch((error) => (expected(error) ? sleep(5) : report(error)));
  }
} else {
  let unresumable = 0;
  const finish = async (work) => {
    for (let i = 0; i < 200; i++) {
      try {
        return await work();
      } catch (error) {
        if (!expected(error)) report(error);
        await sleep(Math.min(error?.retryAfterMs ?? 50, 500));
      }
    }
    unresumable++;
  };
  for (const run of runs) await finish(() => order.run(run, {}));
  for (const key of keys) await finish(() => notify(key));
  console.log(JSON.stringify({ unresumable }));
  process.exit(0);
}
