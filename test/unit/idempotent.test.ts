import { describe, expect, it, vi } from 'vitest';
import {
  currentIdempotencyKey,
  IdempotencyConflictError,
  IdempotencyInProgressError,
  IdempotencyKeyMissingError,
  IdempotencyReplayedFailureError,
  idempotent,
  MemoryIdempotencyStore,
  traced,
} from '../../src/index.js';
import { manualClock, useTracing } from '../support/hooks.js';

/** A side effect whose calls are counted and which finishes when released. */
function effect() {
  const gate: Array<() => void> = [];
  const fn = vi.fn(async (to: string, _body?: unknown) => {
    await new Promise<void>((resolve) => gate.push(resolve));
    return `sent to ${to} with key ${currentIdempotencyKey()}`;
  });
  return {
    fn,
    release: () => {
      for (const r of gate.splice(0)) r();
    },
  };
}

describe('idempotent', () => {
  it('N concurrent calls with one key run once; waiting duplicates get the result', async () => {
    vi.useFakeTimers();
    try {
      const { fn, release } = effect();
      const send = idempotent(fn, { key: ([to]) => to, namespace: 'email', onInProgress: { waitMs: 5000, pollMs: 10 } });
      const calls = Array.from({ length: 10 }, () => send('ada'));
      await vi.advanceTimersByTimeAsync(50);
      expect(fn).toHaveBeenCalledTimes(1);
      release();
      await vi.advanceTimersByTimeAsync(50);
      expect(new Set(await Promise.all(calls))).toEqual(new Set(['sent to ada with key email:ada']));
      expect(fn).toHaveBeenCalledTimes(1);
      await expect(send('ada')).resolves.toBe('sent to ada with key email:ada'); // replayed later too
      expect(fn).toHaveBeenCalledTimes(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a concurrent duplicate is rejected by default, with the lease left as retryAfterMs', async () => {
    const { fn, release } = effect();
    const send = idempotent(fn, { key: ([to]) => to, leaseMs: 30_000 });
    const first = send('bob');
    await vi.waitFor(() => expect(fn).toHaveBeenCalledTimes(1));
    const error = await send('bob').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdempotencyInProgressError);
    expect((error as IdempotencyInProgressError).retryAfterMs).toBeGreaterThan(29_000);
    release();
    await first;
  });

  it('the same key with another payload is a conflict; the same payload replays', async () => {
    const send = idempotent(async (to: string, body: { amount: number }) => `${to}:${body.amount}`, {
      key: ([to]) => to,
      fingerprint: ([, body]) => body,
    });
    await send('cy', { amount: 5 });
    await expect(send('cy', { amount: 5 })).resolves.toBe('cy:5');
    await expect(send('cy', { amount: 6 })).rejects.toBeInstanceOf(IdempotencyConflictError);
  });

  it('a failure releases the key, or is recorded and replayed with recordFailures', async () => {
    let calls = 0;
    const flaky = async () => {
      calls++;
      if (calls === 1) throw new Error('smtp down');
      return 'ok';
    };
    const released = idempotent(flaky, { key: () => 'k' });
    await expect(released()).rejects.toThrow('smtp down');
    await expect(released()).resolves.toBe('ok');
    calls = 0;
    const recorded = idempotent(flaky, { key: () => 'k', recordFailures: true, namespace: 'recorded' });
    await expect(recorded()).rejects.toThrow('smtp down');
    await expect(recorded()).rejects.toBeInstanceOf(IdempotencyReplayedFailureError);
    expect(calls).toBe(1);
  });

  it('a missing key throws, or bypasses when asked', async () => {
    const fn = async () => 'ran';
    await expect(idempotent(fn, { key: () => undefined })()).rejects.toBeInstanceOf(IdempotencyKeyMissingError);
    await expect(idempotent(fn, { key: () => undefined, onMissingKey: 'bypass' })()).resolves.toBe('ran');
  });

  it("takes over a crashed holder's key after its lease, and a stale holder cannot overwrite the new result", async () => {
    const clock = manualClock();
    const store = new MemoryIdempotencyStore({ clock });
    await store.acquire('op:k', { owner: 'crashed-process', leaseMs: 1000, ttlMs: 60_000 });
    const send = idempotent(async () => 'new holder', { key: () => 'k', namespace: 'op', store, leaseMs: 1000, clock });
    await expect(send()).rejects.toBeInstanceOf(IdempotencyInProgressError);
    clock.advance(1000);
    await expect(send()).resolves.toBe('new holder');
    expect(await store.complete('op:k', 'crashed-process', { result: 'stale', ttlMs: 60_000 })).toBe(false);
    expect(await store.get('op:k')).toMatchObject({ status: 'completed', result: 'new holder' });
  });

  it('rejects bad options when wrapping', () => {
    expect(() => idempotent(async () => 1, { key: 'to' as never })).toThrow(/idempotency\.key/);
    expect(() => idempotent(async () => 1, { key: () => 'k', leaseMs: 0 })).toThrow(/idempotency\.leaseMs.*0/);
    expect(() => idempotent(async () => 1, { key: () => 'k', ttl: 5 } as never)).toThrow(/Unknown option idempotency\.ttl/);
  });
});

describe('idempotent telemetry', () => {
  const tracing = useTracing();

  it('records executed and replayed on the active span', async () => {
    const send = idempotent(async () => 'x', { key: () => 'k', namespace: 'email' });
    const flow = traced(async function flow() {
      await send();
      await send();
    });
    await flow();
    expect(tracing()).toHaveSpan('flow', {
      events: [
        {
          name: 'resilience.idempotency',
          attributes: { 'resilience.idempotency.outcome': 'executed', 'resilience.idempotency.namespace': 'email' },
        },
        { name: 'resilience.idempotency', attributes: { 'resilience.idempotency.outcome': 'replayed' } },
      ],
    });
  });
});

describe('MemoryIdempotencyStore stays bounded', () => {
  it('forgets records once their ttl passed (swept every 1024 acquisitions)', async () => {
    const clock = manualClock();
    const store = new MemoryIdempotencyStore({ clock });
    const send = idempotent(async (n: number) => n, { key: ([n]) => String(n), store, ttlMs: 1000, clock });
    for (let i = 0; i < 2000; i++) await send(i);
    expect(store.size).toBe(2000);
    clock.advance(1000);
    for (let i = 2000; i < 2048; i++) await send(i);
    expect(store.size).toBe(48);
  });
});
