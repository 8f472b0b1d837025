import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CircuitBreaker, MemoryWorkflowStore, ResiliencePipeline, workflow } from '../../src/index.js';
import { installTestMetrics, type MetricRecorder } from '../../src/testing/index.js';

let recorder: MetricRecorder;
// Real timers: the metrics SDK collects on timers of its own. Nothing here sleeps (0 ms backoff).
beforeEach(() => {
  recorder = installTestMetrics();
});
afterEach(async () => {
  await recorder.uninstall();
});

const sum = (points: { attributes: Record<string, unknown>; value: unknown }[], outcome: string) =>
  points
    .filter((p) => p.attributes['resilience.workflow.outcome'] === outcome)
    .map((p) => p.value as { sum: number; count: number });

describe('run-level metrics', () => {
  it('telling people late (notifyPending) counts no run', async () => {
    const store = new MemoryWorkflowStore();
    const pager = { name: 'pager', notify: () => {} };
    const flow = workflow(
      'w',
      async (ctx) => ctx.step('s', () => Promise.reject(new Error('no')), { onFailure: 'hand-off', retry: { maxRetries: 0 } }),
      {
        store,
        notifiers: [pager],
      },
    );
    await flow.run('r', undefined).catch(() => {});
    const { run, version } = (await store.load('r'))!;
    await store.save(
      { ...run, audit: run.audit!.filter((e) => e.kind !== 'notification'), owner: 'dead', leaseExpiresAt: 1 },
      version,
    );
    expect(await flow.notifyPending()).toEqual(['r']);
    expect(await recorder.points('resilience.workflow.runs')).toEqual([
      { attributes: { 'resilience.workflow.name': 'w', 'resilience.workflow.outcome': 'awaiting_human' }, value: 1 },
    ]);
  });

  it('runs by outcome, retries / breaker trips / fallbacks per run, runs awaiting a person, time to decision', async () => {
    const breaker = new CircuitBreaker({ name: 'mail', failureThreshold: 1 });
    const mail = new ResiliencePipeline({
      name: 'mail.send',
      retry: false,
      circuitBreaker: breaker,
      fallback: { steps: () => 'queued' },
    });
    let flaky = 2;
    let fixed = false;
    const flow = workflow(
      'report',
      async (ctx, input: { fail: boolean }) => {
        await ctx.step(
          'fetch',
          () => {
            if (flaky-- > 0) throw new Error('503');
            return 'data';
          },
          { retry: { maxRetries: 2, baseDelayMs: 0 } },
        );
        // The breaker trips on the first failure; the fallback answers.
        await ctx.step('notify', () => mail.execute(() => Promise.reject(new Error('smtp down'))));
        return ctx.step(
          'send',
          () => {
            if (input.fail && !fixed) throw new Error('550');
            return 'sent';
          },
          { onFailure: 'hand-off' },
        );
      },
      { store: new MemoryWorkflowStore() },
    );
    await flow.run('ok', { fail: false });
    await flow.run('held', { fail: true }).catch(() => {});
    const awaiting = await recorder.points('resilience.workflow.awaiting_human');
    expect(awaiting).toEqual([{ attributes: { 'resilience.workflow.name': 'report' }, value: 1 }]);
    await flow.decide('held', { outcome: 'approve', by: 'ada' });
    fixed = true;
    await flow.resume('held');

    const runs = await recorder.points('resilience.workflow.runs');
    expect(runs).toContainEqual({
      attributes: { 'resilience.workflow.name': 'report', 'resilience.workflow.outcome': 'completed' },
      value: 2,
    });
    expect(runs).toContainEqual({
      attributes: { 'resilience.workflow.name': 'report', 'resilience.workflow.outcome': 'awaiting_human' },
      value: 1,
    });
    const retries = await recorder.points('resilience.workflow.run.retries');
    expect(sum(retries, 'completed')).toEqual([expect.objectContaining({ sum: 2, count: 2 })]);
    const trips = await recorder.points('resilience.workflow.run.breaker_trips');
    expect(sum(trips, 'completed')).toEqual([expect.objectContaining({ sum: 1, count: 2 })]);
    const fallbacks = await recorder.points('resilience.workflow.run.fallbacks');
    // The resumed run replays the step that fell back: the fallback is counted in the execution that took it.
    expect(sum(fallbacks, 'completed')).toEqual([expect.objectContaining({ sum: 1, count: 2 })]);
    expect(sum(fallbacks, 'awaiting_human')).toEqual([expect.objectContaining({ sum: 1, count: 1 })]);
    expect(await recorder.points('resilience.workflow.awaiting_human')).toEqual([
      { attributes: { 'resilience.workflow.name': 'report' }, value: 0 },
    ]);
    expect(await recorder.points('resilience.hand_off.decision.duration')).toEqual([
      {
        attributes: {
          'resilience.workflow.name': 'report',
          'resilience.hand_off.kind': 'hand-off',
          'resilience.hand_off.outcome': 'approve',
        },
        value: expect.objectContaining({ count: 1 }),
      },
    ]);
  });
});
