/**
 * The conformance suite every RateLimitStore must pass: run it with a factory that makes
 * a fresh store on the given clock.
 */
import { describe, expect, it } from 'vitest';
import type { BucketLimit, Clock, RateLimitStore } from '../../src/index.js';
import { manualClock } from './hooks.js';

/** 2 tokens of burst, 1 token per second. */
const slow: BucketLimit[] = [{ name: 'requests', capacity: 2, rate: 1 / 1000 }];
/** Requests plus a token budget of 100, refilling 100 per second. */
const two: BucketLimit[] = [...slow, { name: 'tokens', capacity: 100, rate: 100 / 1000 }];

export function describeRateLimitStoreConformance(name: string, make: (clock: Clock) => Promise<RateLimitStore>): void {
  describe(`${name} (RateLimitStore conformance)`, () => {
    it('admits the burst at once, then reserves: the wait grows in whole ms as calls queue', async () => {
      const store = await make(manualClock());
      expect(await store.reserve('api', 'k', slow, [1], Infinity)).toBe(0);
      expect(await store.reserve('api', 'k', slow, [1], Infinity)).toBe(0);
      expect(await store.reserve('api', 'k', slow, [1], Infinity)).toBe(1000);
      expect(await store.reserve('api', 'k', slow, [0.5], Infinity)).toBe(1500);
    });

    it('refills with time, never above the burst', async () => {
      const clock = manualClock();
      const store = await make(clock);
      await store.reserve('api', 'k', slow, [2], Infinity);
      clock.advance(500);
      expect(await store.reserve('api', 'k', slow, [1], Infinity)).toBe(500);
      clock.advance(60_000);
      expect(await store.reserve('api', 'k', slow, [2], Infinity)).toBe(0);
      expect(await store.reserve('api', 'k', slow, [1], Infinity)).toBe(1000);
    });

    it('waits for the budget that needs longest, and charges what a waiting bucket would overflow', async () => {
      const clock = manualClock();
      const store = await make(clock);
      expect(await store.reserve('api', 'k', two, [1, 100], Infinity)).toBe(0);
      // requests has 1 left; tokens needs 50 more: 500 ms, in which requests would refill
      // by 0.5 — still below its burst, so nothing overflows there.
      expect(await store.reserve('api', 'k', two, [1, 50], Infinity)).toBe(500);
      clock.advance(500);
      // tokens is back at 0, requests at 0.5: one more request needs 500 ms.
      expect(await store.reserve('api', 'k', two, [1, 0], Infinity)).toBe(500);
    });

    it('gives back (capped at the burst) and charges more', async () => {
      const store = await make(manualClock());
      await store.reserve('api', 'k', slow, [2], Infinity);
      await store.adjust('api', 'k', slow, [5]);
      expect(await store.reserve('api', 'k', slow, [2], Infinity)).toBe(0);
      await store.adjust('api', 'k', slow, [-1]);
      expect(await store.reserve('api', 'k', slow, [1], Infinity)).toBe(2000);
    });

    it('reserves nothing for a wait longer than maxWaitMs', async () => {
      const store = await make(manualClock());
      expect(await store.reserve('api', 'k', slow, [1], 0)).toBe(0);
      // 1 left: 2 would take 1000 ms, more than 0 — turned away, charged nothing.
      expect(await store.reserve('api', 'k', slow, [2], 0)).toBe(1000);
      expect(await store.reserve('api', 'k', slow, [1], 999)).toBe(0);
      // Empty now: 1000 ms is more than 999 (nothing reserved), not more than 1000 (reserved).
      expect(await store.reserve('api', 'k', slow, [1], 999)).toBe(1000);
      expect(await store.reserve('api', 'k', slow, [1], 1000)).toBe(1000);
      expect(await store.reserve('api', 'k', slow, [1], Infinity)).toBe(2000);
    });

    it('holds a key: a reservation waits the hold out, and a shorter hold does not cut a longer one', async () => {
      const clock = manualClock();
      const store = await make(clock);
      expect(store.hold).toBeTypeOf('function'); // the stores shipped serve limiters that learn
      await store.hold!('api', 'k', slow, 3000);
      // Reserved for after the hold, charged what the full bucket would overflow meanwhile.
      expect(await store.reserve('api', 'k', slow, [1], Infinity)).toBe(3000);
      await store.hold!('api', 'k', slow, 1000);
      clock.advance(1000);
      expect(await store.reserve('api', 'k', slow, [1], 0)).toBe(2000);
      clock.advance(2000);
      expect(await store.reserve('api', 'k', slow, [1], 0)).toBe(0);
      expect(await store.reserve('api', 'other', slow, [2], 0)).toBe(0);
    });

    it('keeps keys and limiters apart', async () => {
      const store = await make(manualClock());
      await store.reserve('api', 'a', slow, [2], Infinity);
      expect(await store.reserve('api', 'b', slow, [2], Infinity)).toBe(0);
      expect(await store.reserve('other', 'a', slow, [2], Infinity)).toBe(0);
    });
  });
}
