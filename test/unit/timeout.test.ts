import { AsyncLocalStorage } from 'node:async_hooks';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { TimeoutError, TimeoutPolicy } from '../../src/index.js';
import { STAMP_WINDOW_MS } from '../../src/policies/deadline-queue.js';
import { VirtualClock } from '../property/virtual-clock.js';
import { useFakeTimers } from '../support/hooks.js';

describe('TimeoutPolicy with real timers', () => {
  it('keeps nothing alive once calls settle, so a process exits (not a minute later, when the deadlines were due)', async () => {
    const dist = new URL('../../dist/index.js', import.meta.url).href;
    const script = `
      import { TimeoutPolicy } from '${dist}';
      const attempt = new TimeoutPolicy({ timeoutMs: 60_000 });
      const total = new TimeoutPolicy({ timeoutMs: 60_000, scope: 'total' });
      await Promise.all([attempt.execute(async () => 1), attempt.execute(async () => 2), total.execute(async () => 3)]);
      for (let i = 0; i < 100; i++) await attempt.execute(async () => i);
      console.log('settled');`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 });
    expect(stdout.trim()).toBe('settled');
  });
});

describe('TimeoutPolicy on an injected clock', () => {
  it('a stamp window whose timer never fires (fake timers switched off) is closed by a later burst: its deadlines still fire', async () => {
    const virtual = new VirtualClock();
    let lost = 1;
    const clock = {
      now: () => virtual.now(),
      // The first timer is lost, as a fake timer is when the test switches fake timers off.
      setTimeout: (callback: () => void, delayMs: number) => (lost-- > 0 ? {} : virtual.setTimeout(callback, delayMs)),
      clearTimeout: (handle: unknown) => virtual.clearTimeout(handle),
    };
    const policy = new TimeoutPolicy({ timeoutMs: 100, clock });
    const waited: number[] = [];
    const hang = () => {
      const started = virtual.now();
      void policy.execute(() => new Promise(() => {})).catch(() => waited.push(virtual.now() - started));
    };
    hang(); // opens a window whose timer is lost
    virtual.busy(5);
    for (let i = 0; i < 100; i++) hang();
    await virtual.runAll();
    expect(waited).toHaveLength(101);
    expect(Math.min(...waited)).toBeGreaterThanOrEqual(100);
    expect(Math.max(...waited)).toBeLessThanOrEqual(100 + 5 + STAMP_WINDOW_MS);
  });
});

describe('TimeoutPolicy across fake-timer installs', () => {
  it('a policy used under one vi.useFakeTimers() still times out under the next (a decorated method shared by tests)', async () => {
    const policy = new TimeoutPolicy({ timeoutMs: 100 });
    try {
      // Test one: a quick call under fake timers, which end before its timers fire.
      vi.useFakeTimers();
      await policy.execute(async () => 1);
      vi.useRealTimers();
      // Test two: a call that hangs, under new fake timers.
      vi.useFakeTimers();
      const outcome = policy.execute(() => new Promise(() => {})).catch((e: unknown) => e);
      await vi.advanceTimersByTimeAsync(100 + STAMP_WINDOW_MS);
      expect(await Promise.race([outcome, Promise.resolve('still pending')])).toBeInstanceOf(TimeoutError);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('TimeoutPolicy', () => {
  useFakeTimers();

  it('a burst of attempts reads the clock once: each times out after its duration, never before, at most a stamp window late', async () => {
    const policy = new TimeoutPolicy({ timeoutMs: 100 });
    const timedOut: number[] = [];
    const calls = [0, 1, 2].map((i) => policy.execute(() => new Promise(() => {})).catch(() => timedOut.push(i)));
    await vi.advanceTimersByTimeAsync(99);
    expect(timedOut).toEqual([]);
    await vi.advanceTimersByTimeAsync(1 + STAMP_WINDOW_MS);
    await Promise.all(calls);
    expect(timedOut.sort()).toEqual([0, 1, 2]);
    // Nothing is left armed once the window closed with no deadline pending.
    expect(vi.getTimerCount()).toBe(0);
  });

  it("runs each attempt's abort listeners in its own call's context, though one shared timer aborts them all", async () => {
    const request = new AsyncLocalStorage<string>();
    const policy = new TimeoutPolicy({ timeoutMs: 100 });
    const heard: string[] = [];
    const hang = () =>
      policy
        .execute((ctx) => {
          ctx.signal.addEventListener('abort', () => heard.push(`${request.getStore()} aborted`));
          return new Promise(() => {});
        })
        .catch(() => {});
    const calls = [request.run('first', hang)];
    await vi.advanceTimersByTimeAsync(10);
    calls.push(request.run('second', hang));
    await vi.advanceTimersByTimeAsync(200);
    await Promise.all(calls);
    expect(heard).toEqual(['first aborted', 'second aborted']);
  });

  it('an attempt started after a stamp window closed gets a stamp of its own', async () => {
    const policy = new TimeoutPolicy({ timeoutMs: 100 });
    await policy.execute(async () => 1);
    await vi.advanceTimersByTimeAsync(10);
    let timedOut = false;
    const late = policy.execute(() => new Promise(() => {})).catch(() => (timedOut = true));
    await vi.advanceTimersByTimeAsync(99);
    expect(timedOut).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await late;
    expect(timedOut).toBe(true);
  });

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
