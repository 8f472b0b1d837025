import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import {
  FileWorkflowStore,
  MemoryWorkflowStore,
  WorkflowFailedError,
  WorkflowLeaseHeldError,
  workflow,
} from '../../src/index.js';
import { LeaseKeeper } from '../../src/stores/lease-keeper.js';
import { manualClock, useTracing } from '../support/hooks.js';
import { describeWorkflowStoreConformance } from '../support/workflow-store-conformance.js';

describeWorkflowStoreConformance('MemoryWorkflowStore', async () => new MemoryWorkflowStore());

/** An order saga over a log of side effects. */
function orderSaga(log: string[], failEmail: () => boolean, options: Parameters<typeof workflow>[2] = {}) {
  return workflow(
    'order',
    async (ctx, input: { item: string }) => {
      const order = await ctx.step('create-order', async () => (log.push('create'), `order-${input.item}`), {
        compensate: () => log.push('delete order'),
      });
      await ctx.step('charge', async () => (log.push('charge'), 'charge-1'), {
        compensate: (charge) => log.push(`refund ${charge}`),
      });
      await ctx.step('email', async () => {
        log.push('email attempt');
        if (failEmail()) throw new Error('smtp down');
      });
      return order;
    },
    options,
  );
}

describe('workflow', () => {
  const tracing = useTracing();

  it('runs the steps once; running the same run again returns the stored result', async () => {
    const log: string[] = [];
    const saga = orderSaga(log, () => false);
    await expect(saga.run('r1', { item: 'book' })).resolves.toBe('order-book');
    await expect(saga.run('r1', { item: 'book' })).resolves.toBe('order-book');
    expect(log).toEqual(['create', 'charge', 'email attempt']);
    expect(await saga.status('r1')).toMatchObject({ status: 'completed', result: 'order-book' });
    expect(tracing()).toHaveSpan('workflow order', {
      attributes: { 'resilience.workflow.run_id': 'r1', 'resilience.workflow.status': 'completed' },
      events: [
        { name: 'resilience.workflow.checkpoint', attributes: { 'resilience.workflow.step': 'create-order' } },
        { name: 'resilience.workflow.checkpoint', attributes: { 'resilience.workflow.step': 'charge' } },
        { name: 'resilience.workflow.checkpoint', attributes: { 'resilience.workflow.step': 'email' } },
      ],
    });
    expect(tracing()).toHaveSpan('order.charge', { parent: 'workflow order' });
  });

  it('compensates in reverse order when a step fails for good: email fails → refund → delete order', async () => {
    const log: string[] = [];
    const error = await orderSaga(log, () => true)
      .run('r2', { item: 'lamp' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(error).toMatchObject({ status: 'compensated', cause: { message: 'smtp down' } });
    expect(log).toEqual(['create', 'charge', 'email attempt', 'refund charge-1', 'delete order']);
    expect(tracing()).toHaveSpan('workflow order compensate charge', { parent: 'workflow order' });
    expect(tracing()).toHaveSpan('workflow order', {
      status: 'error',
      events: [
        { name: 'resilience.workflow.compensation', attributes: { 'resilience.workflow.step': 'charge' } },
        { name: 'resilience.workflow.compensation', attributes: { 'resilience.workflow.step': 'create-order' } },
      ],
    });
  });

  it("links each compensation's span to the span in which the step it undoes succeeded, kept in the checkpoint", async () => {
    const store = new MemoryWorkflowStore();
    await orderSaga([], () => true, { store })
      .run('r-links', { item: 'desk' })
      .catch(() => {});
    const charged = tracing().byName('order.charge')[0]!.spanContext();
    const undo = tracing().byName('workflow order compensate charge')[0]!;
    expect(undo.links).toContainEqual(
      expect.objectContaining({ context: expect.objectContaining({ traceId: charged.traceId, spanId: charged.spanId }) }),
    );
    // Kept with the checkpoint, so a compensation resumed in another process links to it too.
    expect((await store.load('r-links'))!.run.steps.charge!.span).toEqual({ traceId: charged.traceId, spanId: charged.spanId });
  });

  it('collects compensation errors in an AggregateError instead of losing them', async () => {
    const flow = workflow('w', async (ctx) => {
      await ctx.step('a', () => 1, { compensate: () => Promise.reject(new Error('undo a failed')) });
      await ctx.step('b', () => 2, { compensate: () => Promise.reject(new Error('undo b failed')) });
      await ctx.step('c', () => Promise.reject(new Error('c failed')));
    });
    const error = (await flow.run('r', undefined).catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error.status).toBe('failed');
    expect(error.compensationErrors).toBeInstanceOf(AggregateError);
    expect(error.compensationErrors!.errors.map((e: Error) => e.message)).toEqual(['undo b failed', 'undo a failed']);
    expect((await flow.status('r'))?.compensationErrors).toHaveLength(2);
  });

  it('keeps a failed run for a person, and resume re-runs only the failed step', async () => {
    const log: string[] = [];
    let smtpDown = true;
    const saga = orderSaga(log, () => smtpDown, { onFailure: 'keep' });
    await expect(saga.run('r3', { item: 'pen' })).rejects.toMatchObject({ status: 'failed' });
    expect(await saga.status('r3')).toMatchObject({ status: 'failed', error: { message: 'smtp down', step: 'email' } });
    smtpDown = false;
    await expect(saga.resume('r3')).resolves.toBe('order-pen');
    expect(log).toEqual(['create', 'charge', 'email attempt', 'email attempt']);
    expect(tracing()).toHaveSpan('workflow order', {
      events: [
        { name: 'resilience.workflow.resumed', attributes: { 'resilience.workflow.step': 'email' } },
        'resilience.workflow.step_replayed',
      ],
    });
  });

  it('resumes an interrupted compensation without redoing finished compensations', async () => {
    const store = new MemoryWorkflowStore();
    const log: string[] = [];
    let crash = true;
    const flow = workflow(
      'w',
      async (ctx) => {
        await ctx.step('a', () => 'A', { compensate: () => log.push('undo a') });
        await ctx.step('b', () => 'B', {
          compensate: () => {
            if (crash) throw new Error('process died');
            log.push('undo b');
          },
        });
        await ctx.step('c', () => Promise.reject(new Error('c failed')));
      },
      { store, onFailure: 'keep' },
    );
    await flow.run('r4', undefined).catch(() => {});
    // b's compensation dies mid-way (a's has run); the run is left as a crash leaves it: "compensating".
    const first = await flow.compensate('r4').catch((e: WorkflowFailedError) => e);
    expect(first.status).toBe('failed');
    expect(log).toEqual(['undo a']);
    const loaded = await store.load('r4');
    expect(loaded!.run.compensated).toEqual(['a']);
    await store.save({ ...loaded!.run, status: 'compensating' }, loaded!.version);
    crash = false;
    log.length = 0;
    await expect(flow.resume('r4')).rejects.toMatchObject({ status: 'compensated' });
    expect(log).toEqual(['undo b']);
  });

  it('one execution at a time owns a run', async () => {
    let release!: () => void;
    const flow = workflow('w', async (ctx) => ctx.step('slow', () => new Promise<string>((r) => (release = () => r('done')))));
    const first = flow.run('r5', undefined);
    await new Promise((r) => setImmediate(r));
    await expect(flow.resume('r5')).rejects.toBeInstanceOf(WorkflowLeaseHeldError);
    release();
    await expect(first).resolves.toBe('done');
  });
});

describe('MemoryWorkflowStore stays bounded', () => {
  it('forgets finished runs ttlMs after they finished; running and stalled ones stay', async () => {
    const clock = manualClock();
    const store = new MemoryWorkflowStore({ ttlMs: 60_000, clock });
    const flow = workflow('w', async (ctx, n: number) => ctx.step('only', () => n * 2), { store, clock });
    for (let i = 0; i < 50_000; i++) await flow.run(`r${i}`, i);
    await store.save({ runId: 'live', workflow: 'w', status: 'running', input: 1, steps: {}, compensated: [], updatedAt: 1 }, 0);
    expect(store.size).toBe(50_001);
    clock.advance(59_999);
    await expect(flow.run('r0', 0)).resolves.toBe(0); // still there: replayed, not run
    expect(store.size).toBe(50_001);
    clock.advance(1);
    expect(await store.load('r1')).toBeUndefined();
    expect(store.size).toBe(1);
    expect((await store.load('live'))?.run.status).toBe('running');
  });

  it('names a bad ttlMs', () => {
    expect(() => new MemoryWorkflowStore({ ttlMs: 0 })).toThrow(/MemoryWorkflowStore\.ttlMs/);
  });
});

describe('FileWorkflowStore ttlMs', () => {
  it('forgets a finished run ttlMs after it finished, deleting its file; a run not finished stays', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'otel-resilience-ttl-'));
    try {
      const clock = manualClock();
      const store = new FileWorkflowStore(dir, { ttlMs: 60_000, clock });
      const flow = workflow('w', async (ctx, n: number) => ctx.step('only', () => n * 2), { store, clock });
      await expect(flow.run('done', 1)).resolves.toBe(2);
      await store.save(
        { runId: 'live', workflow: 'w', status: 'running', input: 1, steps: {}, compensated: [], updatedAt: 1 },
        0,
      );
      clock.advance(59_999);
      expect((await store.load('done'))?.run.status).toBe('completed');
      clock.advance(1);
      expect((await store.list()).map((run) => run.runId)).toEqual(['live']);
      expect(readdirSync(dir).filter((f) => f.endsWith('.json'))).toHaveLength(1);
      expect(await store.load('done')).toBeUndefined();
      // The id is free again: a new run of it starts afresh.
      await expect(flow.run('done', 5)).resolves.toBe(10);
      expect(() => new FileWorkflowStore(dir, { ttlMs: -1 })).toThrow(/FileWorkflowStore\.ttlMs/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('LeaseKeeper (the lease of workflow runs and idempotent calls)', () => {
  const clock = {
    now: () => Date.now(),
    setTimeout: (f: () => void, ms: number) => setTimeout(f, ms),
    clearTimeout: (h: unknown) => clearTimeout(h as ReturnType<typeof setTimeout>),
  };

  it('renews every third of the lease and keeps trying through failed renewals', async () => {
    vi.useFakeTimers();
    try {
      const outcomes = [true, 'fail', 'fail', true, true];
      const renew = vi.fn(async () => {
        const next = outcomes.shift() ?? true;
        if (next === 'fail') throw new Error('store timeout');
        return next as boolean;
      });
      const lost = vi.fn();
      const keeper = new LeaseKeeper(renew, 3000, clock, lost).start();
      await vi.advanceTimersByTimeAsync(1000); // renewed
      await vi.advanceTimersByTimeAsync(1000); // fails; retried every 300 ms
      await vi.advanceTimersByTimeAsync(600); // fails again, then renewed
      await vi.advanceTimersByTimeAsync(5000);
      expect(lost).not.toHaveBeenCalled();
      expect(renew.mock.calls.length).toBeGreaterThanOrEqual(5);
      keeper.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it("is lost as 'expired' only once the lease has really run out, and as 'taken' when another holder has it", async () => {
    vi.useFakeTimers();
    try {
      const lost = vi.fn();
      new LeaseKeeper(() => Promise.reject(new Error('down')), 3000, clock, lost).start();
      await vi.advanceTimersByTimeAsync(2990);
      expect(lost).not.toHaveBeenCalled();
      await vi.advanceTimersByTimeAsync(20);
      expect(lost).toHaveBeenCalledWith('expired');
      const taken = vi.fn();
      new LeaseKeeper(async () => false, 3000, clock, taken).start();
      await vi.advanceTimersByTimeAsync(1000);
      expect(taken).toHaveBeenCalledWith('taken');
      // A renewal that hangs past the lease does not keep it either.
      const hanging = vi.fn();
      new LeaseKeeper(() => new Promise<boolean>(() => {}), 3000, clock, hanging).start();
      await vi.advanceTimersByTimeAsync(3000);
      expect(hanging).toHaveBeenCalledWith('expired');
    } finally {
      vi.useRealTimers();
    }
  });
});
