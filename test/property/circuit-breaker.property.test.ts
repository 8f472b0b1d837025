/**
 * The circuit breaker against a small reference model: for random sequences of call
 * outcomes, call durations, clock moves and isolations, both agree on every admission
 * and state. Thresholds are evaluated on every recorded outcome (resilience4j).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BrokenCircuitError, CircuitBreaker, type CircuitState, type Clock } from '../../src/index.js';

type Step =
  | { kind: 'call'; outcome: 'success' | 'failure' | 'permanent'; durationMs: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'isolate' }
  | { kind: 'release' }
  | { kind: 'reset' };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('call' as const),
      outcome: fc.constantFrom('success', 'failure', 'permanent'),
      durationMs: fc.oneof(fc.nat(10), fc.nat(300)),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.nat(20), fc.nat(3000)) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'isolate' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'release' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reset' as const }) },
);

interface Config {
  failureThreshold?: number;
  failureRateThreshold?: number;
  minimumThroughput: number;
  windowMs: number;
  halfOpenAfterMs: number;
  successThreshold: number;
  slowCallDurationMs?: number;
  slowCallRateThreshold?: number;
}

const config: fc.Arbitrary<Config> = fc.oneof(
  fc.record({
    failureThreshold: fc.integer({ min: 1, max: 4 }),
    minimumThroughput: fc.integer({ min: 1, max: 6 }),
    windowMs: fc.integer({ min: 100, max: 5000 }),
    halfOpenAfterMs: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 2000 })),
    successThreshold: fc.integer({ min: 1, max: 3 }),
  }),
  fc.record({
    failureRateThreshold: fc.double({ min: 0.1, max: 1, noNaN: true }),
    minimumThroughput: fc.integer({ min: 1, max: 6 }),
    windowMs: fc.integer({ min: 100, max: 5000 }),
    halfOpenAfterMs: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 2000 })),
    successThreshold: fc.integer({ min: 1, max: 3 }),
    slowCallDurationMs: fc.integer({ min: 50, max: 250 }),
    slowCallRateThreshold: fc.double({ min: 0.1, max: 1, noNaN: true }),
  }),
);

/** The reference: the breaker's rules written as plainly as possible, window as a list of calls. */
class Model {
  state: CircuitState = 'closed';
  private consecutive = 0;
  private openedAt = 0;
  private probeSuccesses = 0;
  private calls: Array<{ at: number; failed: boolean; slow: boolean }> = [];

  constructor(private readonly c: Config) {}

  to(state: CircuitState, now: number) {
    this.state = state;
    this.consecutive = 0;
    this.probeSuccesses = 0;
    if (state === 'open') this.openedAt = now;
    if (state === 'closed') this.calls = [];
  }

  admit(now: number): boolean {
    if (this.state === 'isolated') return false;
    if (this.state === 'open') {
      if (now < this.openedAt + this.c.halfOpenAfterMs) return false;
      this.to('half_open', now);
    }
    return true;
  }

  settle(outcome: Step & { kind: 'call' }, now: number) {
    const slow = this.c.slowCallDurationMs !== undefined && outcome.durationMs >= this.c.slowCallDurationMs;
    let failed = outcome.outcome === 'failure';
    if (this.state === 'half_open') {
      if (slow) failed = true;
      if (failed) this.to('open', now);
      else if (++this.probeSuccesses >= this.c.successThreshold) this.to('closed', now);
      return;
    }
    if (this.c.failureRateThreshold === undefined) {
      this.consecutive = failed ? this.consecutive + 1 : 0;
      if (this.consecutive >= this.c.failureThreshold!) return this.to('open', now);
    }
    if (this.c.failureRateThreshold === undefined && this.c.slowCallRateThreshold === undefined) return;
    this.calls.push({ at: now, failed, slow });
    const bucketMs = this.c.windowMs / 10;
    const newest = Math.floor(now / bucketMs);
    const recent = this.calls.filter((call) => Math.floor(call.at / bucketMs) > newest - 10);
    if (recent.length < this.c.minimumThroughput) return;
    const rate = (pick: (x: { failed: boolean; slow: boolean }) => boolean) => recent.filter(pick).length / recent.length;
    if (
      (this.c.failureRateThreshold !== undefined && rate((x) => x.failed) >= this.c.failureRateThreshold) ||
      (this.c.slowCallRateThreshold !== undefined && rate((x) => x.slow) >= this.c.slowCallRateThreshold)
    ) {
      this.to('open', now);
    }
  }
}

describe('CircuitBreaker (property)', () => {
  it('matches the reference model on every admission and state', async () => {
    await fc.assert(
      fc.asyncProperty(config, fc.array(step, { maxLength: 60 }), async (c, steps) => {
        let now = 1_000_000;
        const clock: Clock = { now: () => now, setTimeout: () => undefined, clearTimeout: () => {} };
        const breaker = new CircuitBreaker({ ...c, clock });
        const model = new Model(c);
        const handles: Array<{ release(): void }> = [];
        for (const s of steps) {
          if (s.kind === 'advance') now += s.ms;
          else if (s.kind === 'isolate') {
            handles.push(breaker.isolate());
            model.state = 'isolated';
          } else if (s.kind === 'release') {
            // Releasing twice does nothing; the last open handle closes the circuit.
            const handle = handles.pop();
            handle?.release();
            handle?.release();
            if (handle !== undefined && handles.length === 0 && model.state === 'isolated') model.to('closed', now);
          } else if (s.kind === 'reset') {
            breaker.reset();
            handles.length = 0;
            model.to('closed', now);
          } else {
            const admitted = model.admit(now);
            const error = s.outcome === 'failure' ? { status: 503 } : s.outcome === 'permanent' ? { status: 400 } : undefined;
            const result = await breaker
              .execute(async () => {
                now += s.durationMs;
                if (error) throw error;
                return 'ok';
              })
              .then(
                () => 'ran',
                (e: unknown) => (e instanceof BrokenCircuitError ? 'rejected' : 'ran'),
              );
            expect(result).toBe(admitted ? 'ran' : 'rejected');
            if (admitted) model.settle(s, now);
          }
          expect(breaker.state).toBe(model.state);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
