/**
 * Idempotent calls and workflows over stores that fail the way production stores do
 * (test/faults/faulty-store.ts): every operation may fail, time out, take effect and
 * then report failure, or take effect after timing out — at random from a seed, and at
 * chosen operations. Against the memory, file and Redis stores, the figures printed:
 * effect executions per key and per step (exactly 1 while the process lives),
 * compensations of completed steps (0), callers that got a store error after a
 * successful effect (0). `FAULT_SEED=n` shifts the seeds (to explore other fault orders).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import {
  currentIdempotencyKey,
  FileIdempotencyStore,
  FileWorkflowStore,
  IdempotencyInProgressError,
  type IdempotencyStore,
  idempotent,
  MemoryIdempotencyStore,
  MemoryWorkflowStore,
  pendingIdempotencyRecords,
  WorkflowLeaseHeldError,
  WorkflowLeaseLostError,
  WorkflowStalledError,
  type WorkflowStore,
  workflow,
} from '../../src/index.js';
import { RedisIdempotencyStore, RedisWorkflowStore } from '../../src/redis/index.js';
import { useRedis } from '../support/redis.js';
import { faulty, StoreFaultError } from './faulty-store.js';

const root = mkdtempSync(join(tmpdir(), 'otel-resilience-faults-'));
const redisServer = useRedis();
afterAll(() => rmSync(root, { recursive: true, force: true }));

const SEED = Number(process.env.FAULT_SEED ?? 0);
let n = 0;
const kinds: Record<string, { idempotency: () => IdempotencyStore; workflow: () => WorkflowStore }> = {
  memory: { idempotency: () => new MemoryIdempotencyStore(), workflow: () => new MemoryWorkflowStore() },
  file: {
    idempotency: () => new FileIdempotencyStore(join(root, `idem-${n++}`)),
    workflow: () => new FileWorkflowStore(join(root, `runs-${n++}`)),
  },
  redis: {
    idempotency: () => new RedisIdempotencyStore({ client: redisServer.client, keyPrefix: `faults${n++}:` }),
    workflow: () => new RedisWorkflowStore({ client: redisServer.client, keyPrefix: `faults${n++}:` }),
  },
};

/** The execution (one `run` call) a step runs in, to tell whether its effects ran before an error. */
const execution = new AsyncLocalStorage<{ ran: boolean }>();
const count = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
const histogram = (map: Map<string, number>) => {
  const h: Record<string, number> = {};
  for (const v of map.values()) h[v] = (h[v] ?? 0) + 1;
  return h;
};

async function untilEmptyPending(ms: number): Promise<number> {
  const deadline = Date.now() + ms;
  while (pendingIdempotencyRecords().length > 0 && Date.now() < deadline) await sleep(50);
  return pendingIdempotencyRecords().length;
}

for (const [kind, make] of Object.entries(kinds)) {
  describe(`${kind} stores under injected faults`, () => {
    it('idempotent calls at random faults (seed 7, 25% of operations): one effect per key, no store error after an effect', async () => {
      const [store, control] = faulty(make.idempotency(), { random: { seed: 7 + SEED, rate: 0.25 }, timeoutMs: 15 });
      const effects = new Map<string, number>();
      const keysSeen = new Set<string>();
      let storeErrorAfterEffect = 0;
      let storeErrorBeforeEffect = 0;
      const send = idempotent(
        async (key: string, mark: () => void) => {
          count(effects, key);
          keysSeen.add(currentIdempotencyKey()!);
          mark();
          await sleep(2);
          return `sent ${key}`;
        },
        { key: ([key]) => key, namespace: `faults.${kind}`, store, leaseMs: 300 },
      );
      const caller = async (key: string) => {
        for (let i = 0; i < 400; i++) {
          let ran = false;
          try {
            return await send(key, () => {
              ran = true;
            });
          } catch (error) {
            if (ran) storeErrorAfterEffect++;
            else if (error instanceof StoreFaultError) storeErrorBeforeEffect++;
            else if (!(error instanceof IdempotencyInProgressError)) throw error;
            await sleep(10);
          }
        }
        throw new Error(`caller of ${key} gave up`);
      };
      const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
      const results = await Promise.all(keys.flatMap((k) => [caller(k), caller(k), caller(k)]));
      control.heal();
      const stillHeld = await untilEmptyPending(8000);
      const figures = {
        store: kind,
        keys: keys.length,
        callers: results.length,
        'effect executions per key (executions: keys)': histogram(effects),
        'callers with a store error after a successful effect': storeErrorAfterEffect,
        'callers with a store error before any effect (nothing ran; retried)': storeErrorBeforeEffect,
        'results still held unrecorded after healing': stillHeld,
        'faults injected': control.injected,
      };
      console.log(`[faults] idempotent calls\n${JSON.stringify(figures, null, 2)}`);
      expect(results).toEqual(keys.flatMap((k) => [`sent ${k}`, `sent ${k}`, `sent ${k}`]));
      expect([...effects.values()].every((v) => v === 1)).toBe(true);
      expect(effects.size).toBe(keys.length);
      expect(storeErrorAfterEffect).toBe(0);
      expect(stillHeld).toBe(0);
      expect(Object.values(control.injected).reduce((a, b) => a + b)).toBeGreaterThan(30);
      for (const key of keys) expect(await store.get(`faults.${kind}:${key}`)).toMatchObject({ status: 'completed' });
    }, 60_000);

    it('workflows at random faults (seed 11, 25% of operations): one execution per step, no compensation, every run completes', async () => {
      const [store, control] = faulty(make.workflow(), { random: { seed: 11 + SEED, rate: 0.25 }, timeoutMs: 15 });
      const executions = new Map<string, number>();
      let compensations = 0;
      let storeErrorAfterEffect = 0;
      let stalled = 0;
      const steps = ['reserve', 'charge', 'email'];
      const order = workflow(
        'order',
        async (ctx) => {
          for (const id of steps) {
            await ctx.step(
              id,
              async (step) => {
                execution.getStore()!.ran = true;
                count(executions, step.idempotencyKey);
                await sleep(1);
                return step.idempotencyKey;
              },
              { compensate: () => compensations++ },
            );
          }
          return 'done';
        },
        { store, leaseMs: 300 },
      );
      const caller = async (runId: string) => {
        for (let i = 0; i < 400; i++) {
          const mine = { ran: false };
          try {
            return await execution.run(mine, () => order.run(runId, {}));
          } catch (error) {
            if (error instanceof WorkflowStalledError) stalled++;
            else if (error instanceof StoreFaultError) {
              if (mine.ran) storeErrorAfterEffect++;
            } else if (!(error instanceof WorkflowLeaseHeldError)) throw error;
            await sleep(10);
          }
        }
        throw new Error(`caller of ${runId} gave up`);
      };
      const runs = Array.from({ length: 30 }, (_, i) => `run-${i}`);
      const results = await Promise.all(runs.flatMap((r) => [caller(r), caller(r)]));
      control.heal();
      const statuses = await Promise.all(runs.map(async (r) => (await order.status(r))?.status));
      const figures = {
        store: kind,
        runs: runs.length,
        steps: runs.length * steps.length,
        'executions per step (executions: steps)': histogram(executions),
        'compensations of completed steps': compensations,
        'callers with a store error after a successful effect': storeErrorAfterEffect,
        'executions that stalled (resumed later, nothing undone)': stalled,
        'faults injected': control.injected,
      };
      console.log(`[faults] workflows\n${JSON.stringify(figures, null, 2)}`);
      expect(results.every((r) => r === 'done')).toBe(true);
      expect(executions.size).toBe(runs.length * steps.length);
      expect([...executions.values()].every((v) => v === 1)).toBe(true);
      expect(compensations).toBe(0);
      expect(storeErrorAfterEffect).toBe(0);
      expect(statuses.every((s) => s === 'completed')).toBe(true);
    }, 60_000);

    it('a result that cannot be recorded is returned, held in process (no second run), and recorded once the store heals', async () => {
      const at = [1, 2, 3, 4, 5, 6].map((call) => ({ op: 'complete', call, fault: 'fail' as const }));
      const [store, control] = faulty(make.idempotency(), { at });
      let runs = 0;
      const charge = idempotent(async (order: string) => (runs++, `charged ${order}`), {
        key: ([order]) => order,
        namespace: `held.${kind}`,
        store,
        leaseMs: 300,
      });
      await expect(charge('o1')).resolves.toBe('charged o1');
      expect(pendingIdempotencyRecords().map((p) => p.key)).toContain(`held.${kind}:o1`);
      await expect(charge('o1')).resolves.toBe('charged o1');
      expect(runs).toBe(1);
      // The lease is kept meanwhile: another process would see the call in progress.
      await sleep(400);
      expect(await store.get(`held.${kind}:o1`)).toMatchObject({ status: expect.stringMatching(/in_progress|completed/) });
      control.heal();
      expect(await untilEmptyPending(8000)).toBe(0);
      expect(await store.get(`held.${kind}:o1`)).toMatchObject({ status: 'completed', result: 'charged o1' });
      expect(runs).toBe(1);
    }, 20_000);

    it('a record write that took effect but reported failure is recognised: no retry error, no second run', async () => {
      const [store] = faulty(make.idempotency(), { at: [{ op: 'complete', call: 1, fault: 'effect-then-fail' }] });
      let runs = 0;
      const send = idempotent(async () => (runs++, 'ok'), { key: () => 'k', namespace: `ambiguous.${kind}`, store });
      await expect(send()).resolves.toBe('ok');
      await expect(send()).resolves.toBe('ok');
      expect(runs).toBe(1);
      expect(pendingIdempotencyRecords()).toHaveLength(0);
    });

    it('a checkpoint that cannot be saved stalls the run (not compensated); resume finishes it without redoing the step', async () => {
      // Save 1 creates the run, save 2 checkpoints "create"; every save from the charge's checkpoint on fails.
      const at = Array.from({ length: 300 }, (_, i) => ({ op: 'save', call: i + 3, fault: 'fail' as const }));
      const [store, control] = faulty(make.workflow(), { at });
      const log: string[] = [];
      const order = workflow(
        'order',
        async (ctx) => {
          await ctx.step('create', () => (log.push('create'), 'order-1'), { compensate: () => log.push('delete') });
          await ctx.step('charge', () => (log.push('charge'), 'charge-1'), { compensate: () => log.push('refund') });
          await ctx.step('email', () => (log.push('email'), 'sent'));
          return 'done';
        },
        { store, leaseMs: 200 },
      );
      const error = await order.run('r', {}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WorkflowStalledError);
      expect(error).toMatchObject({ status: 'stalled', step: 'charge', cause: { name: 'StoreFaultError' } });
      expect(log).toEqual(['create', 'charge']);
      expect((await order.status('r'))?.status).toBe('running'); // the store took nothing: resumable once the lease ran out
      control.heal();
      await sleep(50); // what was left of the stored lease
      await expect(order.resume('r')).resolves.toBe('done');
      expect(log).toEqual(['create', 'charge', 'email']);
      expect(await order.status('r')).toMatchObject({ status: 'completed', steps: { charge: { output: 'charge-1' } } });
    }, 20_000);

    it('a stalled run the store could mark says so, and resumes from there', async () => {
      const base = make.workflow();
      let failing = false;
      // Fails every write but the one that marks the run stalled (a store that comes and goes).
      const store: WorkflowStore = {
        load: (runId) => base.load(runId),
        save: async (run, version) => {
          if (failing && run.status !== 'stalled') throw new StoreFaultError('save', 'fail');
          return base.save(run, version);
        },
      };
      let charges = 0;
      const order = workflow(
        'order',
        async (ctx) => {
          await ctx.step('charge', () => {
            charges++;
            failing = true;
            return 'charge-1';
          });
          return 'done';
        },
        { store, leaseMs: 100 },
      );
      await expect(order.run('r', {})).rejects.toBeInstanceOf(WorkflowStalledError);
      expect(await order.status('r')).toMatchObject({
        status: 'stalled',
        stall: { while: 'running', step: 'charge', error: { name: 'StoreFaultError' } },
        steps: { charge: { output: 'charge-1' } },
      });
      failing = false;
      await expect(order.resume('r')).resolves.toBe('done');
      expect(charges).toBe(1);
    });
  });
}

describe('leases under faults', () => {
  it('renewal goes on through failed renewals; the step is not aborted and runs once', async () => {
    // save calls: 1 claim, then renewals every ~50 ms; renewals 2 and 3 fail.
    const [store] = faulty(new MemoryWorkflowStore(), {
      at: [
        { op: 'save', call: 2, fault: 'fail' },
        { op: 'save', call: 3, fault: 'timeout' },
      ],
    });
    let runs = 0;
    let aborted = false;
    const flow = workflow(
      'slow',
      async (ctx) =>
        ctx.step('long', async (step) => {
          runs++;
          await sleep(400);
          aborted = step.signal.aborted;
          return 'ok';
        }),
      { store, leaseMs: 150 },
    );
    await expect(flow.run('r', undefined)).resolves.toBe('ok');
    expect(runs).toBe(1);
    expect(aborted).toBe(false);
  });

  it('a worker whose lease was taken aborts its step signal and runs no further step', async () => {
    const store = new MemoryWorkflowStore();
    const log: string[] = [];
    const flow = workflow(
      'w',
      async (ctx) => {
        await ctx.step('first', async (step) => {
          log.push('first');
          await new Promise((resolve) => step.signal.addEventListener('abort', resolve, { once: true }));
          log.push(`first aborted: ${(step.signal.reason as Error).name}`);
        });
        await ctx.step('second', () => log.push('second'));
      },
      { store, leaseMs: 150 },
    );
    const running = flow.run('r', undefined);
    await sleep(20);
    // Another worker takes the run over (as after a long pause of this one).
    const loaded = (await store.load('r'))!;
    await store.save({ ...loaded.run, owner: 'other-worker', leaseExpiresAt: Date.now() + 60_000 }, loaded.version);
    await expect(running).rejects.toBeInstanceOf(WorkflowLeaseLostError);
    expect(log).toEqual(['first', 'first aborted: WorkflowLeaseLostError']);
  });
});
