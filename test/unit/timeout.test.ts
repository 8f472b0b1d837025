import { describe, expect, it, vi } from 'vitest';
import { TimeoutError, TimeoutPolicy } from '../../src/index.js';
import { useFakeTimers } from '../support/hooks.js';

describe('TimeoutPolicy with real timers', () => {
  it('keeps nothing alive once calls settle, so a process can exit', async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const policy = new TimeoutPolicy({ timeoutMs: 60_000 });
    await Promise.all([policy.execute(async () => 1), policy.execute(async () => 2)]);
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBe(before);
  });
});

describe('TimeoutPolicy', () => {
  useFakeTimers();

  it('rejects with a TimeoutError naming the scope and aborts the signal it handed in', async () => {
    let signal: AbortSignal | undefined;
    const result = new TimeoutPolicy({ timeoutMs: 500 }).execute((ctx) => {
      signal = ctx.signal;
      return new Promise(() => {});
    });
    const caught = result.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(499);
    expect(signal!.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const error = await caught;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ scope: 'attempt', timeoutMs: 500, retryable: true });
    expect(signal!.aborted).toBe(true);
    expect(signal!.reason).toBe(error);
  });

  it('says which timeout fired', async () => {
    const result = new TimeoutPolicy({ timeoutMs: 100, scope: 'total' }).execute(() => new Promise(() => {}));
    const caught = result.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    expect(await caught).toMatchObject({ scope: 'total', message: 'The total timeout of 100 ms elapsed', retryable: false });
  });

  it('leaves no timer behind once the work finished first and the period passed', async () => {
    const policy = new TimeoutPolicy({ timeoutMs: 100 });
    await expect(policy.execute(async () => 'fast')).resolves.toBe('fast');
    await vi.advanceTimersByTimeAsync(100);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('serves concurrent calls with one timer, expiring each at its own deadline', async () => {
    const policy = new TimeoutPolicy({ timeoutMs: 100 });
    const hang = () => new Promise<never>(() => {});
    const first = policy.execute(hang).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(40);
    const second = policy.execute(hang).catch((e: unknown) => e);
    const fast = policy.execute(async () => 'fast');
    expect(vi.getTimerCount()).toBe(1);
    await expect(fast).resolves.toBe('fast');
    let secondDone = false;
    void second.then(() => (secondDone = true));
    await vi.advanceTimersByTimeAsync(60);
    expect(await first).toBeInstanceOf(TimeoutError);
    expect(secondDone).toBe(false);
    await vi.advanceTimersByTimeAsync(40);
    expect(await second).toBeInstanceOf(TimeoutError);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("honours the caller's signal", async () => {
    const controller = new AbortController();
    let inner: AbortSignal | undefined;
    const result = new TimeoutPolicy({ timeoutMs: 1000 }).execute(
      (ctx) => {
        inner = ctx.signal;
        return new Promise(() => {});
      },
      { signal: controller.signal },
    );
    controller.abort(new Error('stop'));
    await expect(result).rejects.toThrow('stop');
    expect(inner!.aborted).toBe(true);
  });

  it('rejects invalid options naming the option and value', () => {
    expect(() => new TimeoutPolicy({ timeoutMs: 0 })).toThrow(/timeout\.timeoutMs.*0/);
    expect(() => new TimeoutPolicy({ timeoutMs: 5, scope: 'call' as never })).toThrow(/timeout\.scope.*"call"/);
  });
});
