/**
 * The conformance suite every IdempotencyStore must pass: run it with a factory that
 * makes a fresh store on the given clock.
 */
import { describe, expect, it } from 'vitest';
import type { Clock, IdempotencyStore } from '../../src/index.js';
import { manualClock } from './hooks.js';

const hold = { leaseMs: 1000, ttlMs: 10_000 };

export function describeIdempotencyStoreConformance(name: string, make: (clock: Clock) => Promise<IdempotencyStore>): void {
  describe(`${name} (IdempotencyStore conformance)`, () => {
    it('the first acquire wins; later ones see its record', async () => {
      const store = await make(manualClock());
      expect(await store.acquire('k', { owner: 'a', fingerprint: 'f', ...hold })).toEqual({ acquired: true });
      const second = await store.acquire('k', { owner: 'b', ...hold });
      expect(second).toMatchObject({
        acquired: false,
        existing: { key: 'k', status: 'in_progress', owner: 'a', fingerprint: 'f' },
      });
    });

    it('exactly one of many concurrent acquires wins', async () => {
      const store = await make(manualClock());
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.acquire('k', { owner: `o${i}`, ...hold })));
      expect(results.filter((r) => r.acquired)).toHaveLength(1);
    });

    it('only the owner completes, releases or extends', async () => {
      const store = await make(manualClock());
      await store.acquire('k', { owner: 'a', ...hold });
      expect(await store.complete('k', 'b', { result: 1, ttlMs: 10_000 })).toBe(false);
      expect(await store.release('k', 'b')).toBe(false);
      expect(await store.extendLease('k', 'b', 5000)).toBe(false);
      expect(await store.extendLease('k', 'a', 5000)).toBe(true);
      expect(await store.complete('k', 'a', { result: { answer: 42 }, ttlMs: 10_000 })).toBe(true);
      expect(await store.get('k')).toMatchObject({ status: 'completed', result: { answer: 42 } });
      expect(await store.release('k', 'a')).toBe(false); // completed records are not released
    });

    it('a released key can be acquired again', async () => {
      const store = await make(manualClock());
      await store.acquire('k', { owner: 'a', ...hold });
      expect(await store.release('k', 'a')).toBe(true);
      expect(await store.get('k')).toBeUndefined();
      expect(await store.acquire('k', { owner: 'b', ...hold })).toEqual({ acquired: true });
    });

    it('an expired lease is taken over, and the old holder can no longer complete', async () => {
      const clock = manualClock();
      const store = await make(clock);
      await store.acquire('k', { owner: 'crashed', ...hold });
      clock.advance(999);
      expect((await store.acquire('k', { owner: 'b', ...hold })).acquired).toBe(false);
      clock.advance(1);
      expect(await store.acquire('k', { owner: 'b', ...hold })).toEqual({ acquired: true });
      expect(await store.complete('k', 'crashed', { result: 'stale', ttlMs: 10_000 })).toBe(false);
      expect(await store.complete('k', 'b', { result: 'fresh', ttlMs: 10_000 })).toBe(true);
      expect(await store.get('k')).toMatchObject({ owner: 'b', result: 'fresh' });
    });

    it('an extended lease is not taken over', async () => {
      const clock = manualClock();
      const store = await make(clock);
      await store.acquire('k', { owner: 'a', ...hold });
      clock.advance(900);
      await store.extendLease('k', 'a', 1000);
      clock.advance(900);
      expect((await store.acquire('k', { owner: 'b', ...hold })).acquired).toBe(false);
    });

    it('records expire after their ttl; failures are kept as failed', async () => {
      const clock = manualClock();
      const store = await make(clock);
      await store.acquire('k', { owner: 'a', ...hold });
      await store.complete('k', 'a', { error: { name: 'Error', message: 'boom' }, ttlMs: 5000 });
      expect(await store.get('k')).toMatchObject({ status: 'failed', error: { name: 'Error', message: 'boom' } });
      clock.advance(5000);
      expect(await store.get('k')).toBeUndefined();
      expect(await store.acquire('k', { owner: 'b', ...hold })).toEqual({ acquired: true });
    });

    it('a retried acquire by the holder takes its own record (its first reply was lost)', async () => {
      const store = await make(manualClock());
      await store.acquire('k', { owner: 'a', ...hold });
      expect(await store.acquire('k', { owner: 'a', ...hold })).toEqual({ acquired: true });
      expect((await store.acquire('k', { owner: 'b', ...hold })).acquired).toBe(false);
      await store.complete('k', 'a', { result: 1, ttlMs: 10_000 });
      expect((await store.acquire('k', { owner: 'a', ...hold })).acquired).toBe(false); // not once it is completed
    });

    it('keys are independent', async () => {
      const store = await make(manualClock());
      expect((await store.acquire('a', { owner: 'x', ...hold })).acquired).toBe(true);
      expect((await store.acquire('b', { owner: 'y', ...hold })).acquired).toBe(true);
    });
  });
}
