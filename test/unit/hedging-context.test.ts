import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, expect, it, vi } from 'vitest';
import { ResiliencePipeline } from '../../src/index.js';
import { useFakeTimers } from '../support/hooks.js';

describe('hedging under concurrency', () => {
  useFakeTimers();

  it("each call's hedges run in that call's async context, not in the context of the call that armed the shared timer", async () => {
    const user = new AsyncLocalStorage<string>();
    const seen: Array<[string, number, string | undefined]> = [];
    const pipeline = new ResiliencePipeline({ hedging: { maxHedgedAttempts: 1, delayMs: 10 } });
    const start = (name: string) =>
      user.run(name, () =>
        pipeline.execute(async (ctx) => {
          seen.push([name, ctx.attempt, user.getStore()]);
          await new Promise((resolve) => setTimeout(resolve, 100));
          return name;
        }),
      );
    const a = start('a');
    await vi.advanceTimersByTimeAsync(1);
    const b = start('b');
    await vi.advanceTimersByTimeAsync(200);
    expect(await Promise.all([a, b])).toEqual(['a', 'b']);
    expect(seen).toEqual([
      ['a', 1, 'a'],
      ['b', 1, 'b'],
      ['a', 2, 'a'],
      ['b', 2, 'b'],
    ]);
  });
});
