/**
 * Hand-offs and approvals over stores that fail (the fault-injecting wrapper, at random
 * from a seed, over the memory, file and Redis stores): every run still asks for its
 * approval once, hands off once when its email fails for good, takes the person's
 * decision up and completes — each step's effect once, nothing compensated, no decision
 * lost. `FAULT_SEED=n` shifts the seed. Printed: the figures.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FileWorkflowStore,
  MemoryWorkflowStore,
  WorkflowAwaitingHumanError,
  WorkflowDecisionError,
  WorkflowLeaseHeldError,
  WorkflowStalledError,
  type WorkflowStore,
  workflow,
} from '../../src/index.js';
import { RedisWorkflowStore } from '../../src/redis/index.js';
import { useRedis } from '../support/redis.js';
import { faulty, StoreFaultError } from './faulty-store.js';

const root = mkdtempSync(join(tmpdir(), 'otel-resilience-handoff-faults-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const SEED = Number(process.env.FAULT_SEED ?? 0);
const redis = useRedis();
let n = 0;
const kinds: Record<string, () => WorkflowStore> = {
  memory: () => new MemoryWorkflowStore(),
  file: () => new FileWorkflowStore(join(root, `runs-${n++}`)),
  redis: () => new RedisWorkflowStore({ client: redis.client, keyPrefix: `handoff-faults${n++}:` }),
};

const count = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

for (const [kind, make] of Object.entries(kinds)) {
  describe(`${kind} store under injected faults`, () => {
    it('approval, hand-off, decision and resume at random faults (seed 5, 20% of operations): effects once, nothing compensated', async () => {
      const [store, control] = faulty(make(), { random: { seed: 5 + SEED, rate: 0.2, ops: ['load', 'save'] }, timeoutMs: 15 });
      const effects = new Map<string, number>();
      let compensations = 0;
      let stalled = 0;
      const flow = workflow(
        'payout',
        async (ctx) => {
          await ctx.step('plan', (s) => count(effects, s.idempotencyKey), { compensate: () => compensations++ });
          const ok = await ctx.requestApproval('manager', { summary: 'Pay?', payload: { amount: 10 } });
          await ctx.step('pay', (s) => count(effects, `${s.idempotencyKey}:${ok.payload.amount}`), {
            compensate: () => compensations++,
          });
          return ctx.step(
            'email',
            (s) => {
              if (s.decision === undefined) throw new Error('550 mailbox unavailable');
              count(effects, s.idempotencyKey);
              return 'done';
            },
            { onFailure: 'hand-off' },
          );
        },
        { store, leaseMs: 300 },
      );
      const decideOnce = async (runId: string) => {
        for (let i = 0; i < 100; i++) {
          try {
            return await flow.decide(runId, { outcome: 'approve', by: 'ops' }, { waitMs: 2000 });
          } catch (error) {
            // A decision whose write took effect but reported failure is found decided on the next try.
            if (error instanceof WorkflowDecisionError && error.existing?.by === 'ops') return;
            if (!(error instanceof StoreFaultError || error instanceof WorkflowDecisionError)) throw error;
            await sleep(10);
          }
        }
        throw new Error(`could not decide ${runId}`);
      };
      const caller = async (runId: string) => {
        for (let i = 0; i < 400; i++) {
          try {
            // run() creates the run or continues it (a store error at the start leaves nothing to resume).
            return await flow.run(runId, {});
          } catch (error) {
            if (error instanceof WorkflowAwaitingHumanError) await decideOnce(runId);
            else if (error instanceof WorkflowStalledError) stalled++;
            else if (!(error instanceof StoreFaultError || error instanceof WorkflowLeaseHeldError)) throw error;
            if (!(error instanceof WorkflowAwaitingHumanError)) await sleep(10);
          }
        }
        throw new Error(`caller of ${runId} gave up`);
      };
      const runs = Array.from({ length: 20 }, (_, i) => `run-${i}`);
      const results = await Promise.all(runs.map(caller));
      control.heal();
      const stored = await Promise.all(runs.map(async (r) => (await flow.status(r))!));
      const kindsOf = (kind: string) => stored.map((run) => run.audit!.filter((e) => e.kind === kind).length);
      const figures = {
        store: kind,
        runs: runs.length,
        'effects per step (executions: steps)': Object.fromEntries(
          [...new Set(effects.values())].map((v) => [v, [...effects.values()].filter((x) => x === v).length]),
        ),
        compensations: compensations,
        'approval requests per run': [...new Set(kindsOf('approval-requested'))],
        'hand-offs per run': [...new Set(kindsOf('hand-off'))],
        'executions that stalled (resumed later)': stalled,
        'faults injected': control.injected,
      };
      console.log(`[faults] hand-off\n${JSON.stringify(figures, null, 2)}`);
      expect(results.every((r) => r === 'done')).toBe(true);
      expect(stored.every((run) => run.status === 'completed')).toBe(true);
      expect(effects.size).toBe(runs.length * 3);
      expect([...effects.values()].every((v) => v === 1)).toBe(true);
      expect(compensations).toBe(0);
      expect(kindsOf('approval-requested').every((c) => c === 1)).toBe(true);
      expect(kindsOf('hand-off').every((c) => c >= 1)).toBe(true);
      expect(stored.every((run) => run.human!.manager!.decision?.by === 'ops')).toBe(true);
    }, 90_000);
  });
}
