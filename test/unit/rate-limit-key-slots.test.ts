import { describe, expect, it } from 'vitest';
import { KeySlots } from '../../src/policies/key-slots.js';
import { MemoryRateLimitStore } from '../../src/policies/rate-limit-store.js';
import { manualClock } from '../support/hooks.js';

describe('KeySlots', () => {
  it('hands out dense slots and finds every key through the table growing', () => {
    const slots = new KeySlots();
    const keys = Array.from({ length: 10_000 }, (_, i) => `tenant-${i}`);
    expect(slots.get('tenant-0')).toBe(-1);
    for (const [i, key] of keys.entries()) expect(slots.add(key)).toBe(i);
    expect(slots.size).toBe(10_000);
    expect(slots.used).toBe(10_000);
    // Equal keys are found whichever string object carries them.
    for (let i = 0; i < keys.length; i++) expect(slots.get(`tenant-${String(i)}`)).toBe(i);
    expect(slots.get('tenant-10000')).toBe(-1);
    expect(slots.get('')).toBe(-1);
  });

  it('forgets removed keys, keeps the rest and hands the freed slots out again', () => {
    const slots = new KeySlots();
    for (let i = 0; i < 100; i++) slots.add(`k${i}`);
    slots.removeWhere((slot) => slot % 2 === 0);
    expect(slots.size).toBe(50);
    for (let i = 0; i < 100; i++) expect(slots.get(`k${i}`)).toBe(i % 2 === 0 ? -1 : i);
    const reused = new Set(Array.from({ length: 50 }, (_, i) => slots.add(`new${i}`)));
    expect([...reused].every((slot) => slot % 2 === 0 && slot < 100)).toBe(true);
    expect(reused.size).toBe(50);
    expect(slots.used).toBe(100); // no slot beyond the ones freed
    expect(slots.add('one more')).toBe(100);
  });

  it('keeps its table 65-80 % full through growth and sweeps: memory bounded by the keys held', () => {
    const slots = new KeySlots();
    const buckets = () => (slots as unknown as { table: Int32Array }).table.length;
    for (let i = 0; i < 100_000; i++) {
      slots.add(`tenant-${i}`);
      if (i > 1000) {
        expect(slots.size / buckets()).toBeGreaterThanOrEqual(0.65 - 1e-3);
        expect(slots.size / buckets()).toBeLessThanOrEqual(0.8);
      }
    }
    slots.removeWhere((slot) => slot % 10 !== 0);
    expect(slots.size).toBe(10_000);
    expect(buckets()).toBe(Math.ceil(10_000 / 0.65));
    // Slots above the shrunk table's size are still found (their width is kept).
    for (let i = 0; i < 100_000; i += 10) expect(slots.get(`tenant-${i}`)).toBe(i);
    expect(slots.get('tenant-1')).toBe(-1);
  });

  it('tells apart keys that differ only in order or in characters outside ASCII', () => {
    const slots = new KeySlots();
    const keys = ['ab', 'ba', 'é', 'e\u0301', '😀', '\uD83D', '', ' '];
    for (const key of keys) slots.add(key);
    for (const [i, key] of keys.entries()) expect(slots.get(key)).toBe(i);
  });
});

describe('MemoryRateLimitStore keys', () => {
  const limits = [{ name: 'default', capacity: 2, rate: 1 / 1000 }];

  it('forgets idle full buckets and keeps the ones in use: memory bounded by the keys in use', async () => {
    const clock = manualClock();
    const store = new MemoryRateLimitStore(clock);
    // 200 keys in use throughout: each below full.
    for (let k = 0; k < 200; k++) store.reserve('api', `busy-${k}`, limits, [2], Infinity);
    // Rounds of one-off keys, each idle (and refilled) by the next round.
    for (let round = 0; round < 20; round++) {
      for (let k = 0; k < 1000; k++) store.reserve('api', `once-${round}-${k}`, limits, [1], Infinity);
      clock.advance(1000); // the one-off buckets refill; the busy ones stay below full
      for (let k = 0; k < 200; k++) store.reserve('api', `busy-${k}`, limits, [1], Infinity);
      expect(store.keysHeld('api')).toBeLessThanOrEqual(2 * (1000 + 200) + 1024);
    }
    // A busy key kept its state through every sweep: empty now, so a call waits.
    expect(store.reserve('api', 'busy-0', limits, [1], Infinity)).toBeGreaterThan(0);
    // A forgotten key is the same as a new one: full.
    expect(store.reserve('api', 'once-0-0', limits, [2], Infinity)).toBe(0);
  });

  it('forgets nothing while fewer keys than the first sweep are held', () => {
    const clock = manualClock();
    const store = new MemoryRateLimitStore(clock);
    for (let k = 0; k < 1000; k++) store.reserve('api', `k${k}`, limits, [1], Infinity);
    clock.advance(60_000);
    store.reserve('api', 'k-new', limits, [1], Infinity);
    expect(store.keysHeld('api')).toBe(1001);
    expect(store.keysHeld('other')).toBe(0);
  });
});
