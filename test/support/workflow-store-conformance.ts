/** The conformance suite every WorkflowStore must pass. */
import { describe, expect, it } from 'vitest';
import type { WorkflowRun, WorkflowStore } from '../../src/index.js';

const run = (runId: string, extra: Partial<WorkflowRun> = {}): WorkflowRun => ({
  runId,
  workflow: 'w',
  status: 'running',
  input: { n: 1 },
  steps: {},
  compensated: [],
  updatedAt: 1,
  ...extra,
});

export function describeWorkflowStoreConformance(name: string, make: () => Promise<WorkflowStore>): void {
  describe(`${name} (WorkflowStore conformance)`, () => {
    it('creates only when absent and saves only on the expected version', async () => {
      const store = await make();
      expect(await store.load('r')).toBeUndefined();
      expect(await store.save(run('r'), 0)).toBe(1);
      expect(await store.save(run('r'), 0)).toBeUndefined();
      expect(await store.save(run('r', { steps: { a: { output: { ok: true } } } }), 1)).toBe(2);
      expect(await store.save(run('r', { status: 'failed' }), 1)).toBeUndefined();
      expect(await store.load('r')).toEqual({ run: run('r', { steps: { a: { output: { ok: true } } } }), version: 2 });
    });

    it('lets exactly one of many concurrent saves on one version win', async () => {
      const store = await make();
      await store.save(run('r'), 0);
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.save(run('r', { owner: `o${i}` }), 1)));
      expect(results.filter((v) => v !== undefined)).toEqual([2]);
    });

    it('lists its runs (list() is optional; every shipped store has it)', async () => {
      const store = await make();
      expect(await store.list?.()).toEqual([]);
      await store.save(run('a'), 0);
      await store.save(run('b:c', { status: 'completed' }), 0);
      await store.save(run('b'), 0);
      expect((await store.list!()).map((r) => r.runId).sort()).toEqual(['a', 'b', 'b:c']);
    });

    it('keeps runs apart', async () => {
      const store = await make();
      await store.save(run('a'), 0);
      expect(await store.save(run('b'), 0)).toBe(1);
      expect((await store.load('a'))?.run.runId).toBe('a');
    });
  });
}
