import { describe, expect, it } from 'vitest';
import { Backoff } from '../../src/index.js';

/** A deterministic random source cycling through values in [0, 1). */
function cycle(values: number[]) {
  let i = 0;
  return () => values[i++ % values.length]!;
}

const randoms = [0, 0.999999, 0.5, 0.25, 0.75, 0.1, 0.9];

describe('Backoff', () => {
  it('grows exponentially, linearly or stays constant, capped at maxDelayMs', () => {
    const exp = new Backoff({ baseDelayMs: 100, maxDelayMs: 1000 });
    expect([1, 2, 3, 4, 5, 6].map((n) => exp.base(n))).toEqual([100, 200, 400, 800, 1000, 1000]);
    const lin = new Backoff({ backoff: 'linear', baseDelayMs: 100, maxDelayMs: 250 });
    expect([1, 2, 3].map((n) => lin.base(n))).toEqual([100, 200, 250]);
    const con = new Backoff({ backoff: 'constant', baseDelayMs: 70 });
    expect([1, 5].map((n) => con.base(n))).toEqual([70, 70]);
  });

  it.each([
    ['full', (b: number) => [0, b]],
    ['equal', (b: number) => [b / 2, b]],
    ['none', (b: number) => [b, b]],
  ] as const)('%s jitter stays within its AWS formula bounds', (jitter, bounds) => {
    const backoff = new Backoff({ baseDelayMs: 100, maxDelayMs: 5000, jitter });
    for (const start of randoms.keys()) {
      const delays = backoff.sequence(cycle([...randoms.slice(start), ...randoms.slice(0, start)]));
      for (let n = 1; n <= 10; n++) {
        const [low, high] = bounds(backoff.base(n));
        const delay = delays.next(n, undefined);
        expect(delay).toBeGreaterThanOrEqual(low);
        expect(delay).toBeLessThanOrEqual(high);
      }
    }
  });

  it('decorrelated jitter stays within [base, min(cap, 3 x previous)]', () => {
    const backoff = new Backoff({ baseDelayMs: 100, maxDelayMs: 2000, jitter: 'decorrelated' });
    const delays = backoff.sequence(cycle(randoms));
    let previous = 100;
    for (let n = 1; n <= 20; n++) {
      const delay = delays.next(n, undefined);
      expect(delay).toBeGreaterThanOrEqual(100);
      expect(delay).toBeLessThanOrEqual(Math.min(2000, previous * 3));
      previous = delay;
    }
  });

  it('uses a custom function as is, clamped to [0, maxDelayMs]', () => {
    const backoff = new Backoff({ backoff: (retry) => retry * 1000 - 1500, maxDelayMs: 2000 });
    const delays = backoff.sequence(Math.random);
    expect([1, 2, 3, 4].map((n) => delays.next(n, undefined))).toEqual([0, 500, 1500, 2000]);
  });

  it('rejects invalid options naming the option and value', () => {
    expect(() => new Backoff({ baseDelayMs: -1 })).toThrow(/baseDelayMs.*-1/);
    expect(() => new Backoff({ jitter: 'random' as never })).toThrow(/jitter.*"random"/);
    expect(() => new Backoff({ backoff: 'fibonacci' as never })).toThrow(TypeError);
    expect(() => new Backoff({ baseDelayMs: 500, maxDelayMs: 100 })).toThrow(/maxDelayMs.*100/);
  });
});
