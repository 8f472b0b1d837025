import { describe, expect, it } from 'vitest';
import { type DeadlineEntry, DeadlineQueue } from '../../src/policies/deadline-queue.js';
import { VirtualClock } from '../property/virtual-clock.js';

/** A queue entry that notes the clock's time when it expires and then runs `onExpire`. */
function entry(clock: VirtualClock, onExpire: () => void = () => {}): DeadlineEntry & { expiredAt?: number } {
  const e: DeadlineEntry & { expiredAt?: number } = {
    prev: undefined,
    next: undefined,
    live: true,
    at: Number.NaN,
    expire() {
      e.expiredAt = clock.now();
      onExpire();
    },
  };
  return e;
}

describe('DeadlineQueue.insertAfter', () => {
  it('re-arms for the next deadline from the time the expiries ended, not from when the timer fired (slow expire() callbacks)', async () => {
    const clock = new VirtualClock();
    const t0 = clock.now();
    const queue = new DeadlineQueue(clock, 10);
    // A's expiry keeps the event loop busy for 8 ms (abort listeners doing synchronous work).
    const a = queue.insertAfter(entry(clock, () => clock.busy(8)));
    await clock.advance(5);
    const b = queue.insertAfter(entry(clock));
    await clock.runAll();
    expect(a.expiredAt).toBe(t0 + 10);
    // B was due at t0 + 15, while the loop was busy until t0 + 18: it expires once the loop is free
    // (within a timer's rounding), not 5 ms later (a delay computed from t0 + 10, before the callbacks ran).
    expect(b.expiredAt).toBeGreaterThanOrEqual(t0 + 15);
    expect(b.expiredAt).toBeLessThanOrEqual(t0 + 19);
  });

  it('never arms a timer for NaN when an expire() callback opens a stamp window whose first entry is removed at once', async () => {
    const clock = new VirtualClock();
    const delays: number[] = [];
    const recording = {
      now: () => clock.now(),
      setTimeout: (callback: () => void, delayMs: number) => {
        delays.push(delayMs);
        return clock.setTimeout(callback, delayMs);
      },
      clearTimeout: (handle: unknown) => clock.clearTimeout(handle),
    };
    const queue = new DeadlineQueue(recording, 10);
    let c: ReturnType<typeof entry> | undefined;
    let startedAt = 0;
    queue.insertAfter(
      entry(clock, () => {
        // A listener starts two calls: the first fails synchronously (removed), the second waits unstamped.
        const b = queue.insertAfter(entry(clock));
        queue.remove(b);
        startedAt = clock.now();
        c = queue.insertAfter(entry(clock));
      }),
    );
    await clock.runAll();
    // Node warns (TimeoutNaNWarning) and fires a NaN timer after 1 ms; a Clock is promised a delay in [0, 2^31−1].
    expect(delays.every((d) => Number.isFinite(d))).toBe(true);
    expect(c?.expiredAt).toBeGreaterThanOrEqual(startedAt + 10);
    expect(c?.expiredAt).toBeLessThanOrEqual(startedAt + 11);
  });
});
