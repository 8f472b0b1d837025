import { describe, expect, it } from 'vitest';
import { BrokenCircuitError, CircuitBreaker, type CircuitStateChange } from '../../src/index.js';
import { manualClock } from '../support/hooks.js';

const transient = Object.assign(new Error('HTTP 503'), { status: 503 });
const badRequest = Object.assign(new Error('HTTP 400'), { status: 400 });
const ok = () => Promise.resolve('ok');
const fail =
  (error: unknown = transient) =>
  () =>
    Promise.reject(error);

async function outcome(breaker: CircuitBreaker, work: () => Promise<string>): Promise<string> {
  try {
    return await breaker.execute(work);
  } catch (error) {
    return error instanceof BrokenCircuitError ? 'rejected' : 'failed';
  }
}

function recordChanges(breaker: CircuitBreaker) {
  const changes: string[] = [];
  breaker.onStateChange((c: CircuitStateChange) => changes.push(`${c.from}->${c.to}`));
  return changes;
}

describe('CircuitBreaker, consecutive-failure mode', () => {
  it('tells hooks and listeners why it moved', async () => {
    const clock = manualClock();
    const opened: CircuitStateChange[] = [];
    const breaker = new CircuitBreaker({ failureThreshold: 2, halfOpenAfterMs: 1000, clock, onOpen: (c) => opened.push(c) });
    const reasons: string[] = [];
    breaker.onStateChange((c) => reasons.push(c.why.reason));
    for (let i = 0; i < 2; i++) await outcome(breaker, fail());
    expect(opened).toEqual([
      {
        breaker: 'circuit-breaker',
        from: 'closed',
        to: 'open',
        why: { reason: 'failure-threshold', failures: 2, failureThreshold: 2 },
      },
    ]);
    clock.advance(1000);
    await outcome(breaker, fail());
    breaker.isolate().release();
    breaker.reset();
    expect(reasons).toEqual(['failure-threshold', 'half-open-after', 'probe-failed', 'isolated', 'released']);
  });

  it('goes closed -> open -> half-open -> closed', async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 3, halfOpenAfterMs: 1000, clock });
    const changes = recordChanges(breaker);
    expect(await outcome(breaker, fail())).toBe('failed');
    expect(await outcome(breaker, ok)).toBe('ok');
    for (let i = 0; i < 3; i++) expect(await outcome(breaker, fail())).toBe('failed');
    expect(breaker.state).toBe('open');
    const rejection = await breaker.execute(ok).catch((e: BrokenCircuitError) => e);
    expect(rejection).toBeInstanceOf(BrokenCircuitError);
    expect(rejection).toMatchObject({ retryAfterMs: 1000, state: 'open', retryable: false });
    clock.advance(999);
    expect(await outcome(breaker, ok)).toBe('rejected');
    clock.advance(1);
    expect(await outcome(breaker, ok)).toBe('ok');
    expect(breaker.state).toBe('closed');
    expect(changes).toEqual(['closed->open', 'open->half_open', 'half_open->closed']);
  });

  it('reopens when the half-open probe fails', async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, halfOpenAfterMs: 50, clock });
    const changes = recordChanges(breaker);
    await outcome(breaker, fail());
    clock.advance(50);
    expect(await outcome(breaker, fail())).toBe('failed');
    expect(breaker.state).toBe('open');
    expect(await outcome(breaker, ok)).toBe('rejected');
    expect(changes).toEqual(['closed->open', 'open->half_open', 'half_open->open']);
  });

  it('admits halfOpenMaxCalls probes and needs successThreshold successes', async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({
      failureThreshold: 1,
      halfOpenAfterMs: 10,
      halfOpenMaxCalls: 2,
      successThreshold: 2,
      clock,
    });
    await outcome(breaker, fail());
    clock.advance(10);
    let release!: () => void;
    const gate = new Promise<string>((resolve) => {
      release = () => resolve('ok');
    });
    const first = breaker.execute(() => gate);
    const second = breaker.execute(() => gate);
    expect(await outcome(breaker, ok)).toBe('rejected');
    release();
    await Promise.all([first, second]);
    expect(breaker.state).toBe('closed');
  });

  it('does not count permanent errors as failures', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 2 });
    for (let i = 0; i < 5; i++) expect(await outcome(breaker, fail(badRequest))).toBe('failed');
    expect(breaker.state).toBe('closed');
  });

  it('ignores outcomes of calls admitted before the latest transition', async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ failureThreshold: 1, halfOpenAfterMs: 10, clock });
    let failSlow!: () => void;
    const slow = breaker.execute(() => new Promise<string>((_, reject) => (failSlow = () => reject(transient))));
    await outcome(breaker, fail());
    clock.advance(10);
    expect(await outcome(breaker, ok)).toBe('ok');
    failSlow();
    await slow.catch(() => {});
    expect(breaker.state).toBe('closed');
  });

  it('isolate() holds it open until reset()', async () => {
    const breaker = new CircuitBreaker();
    const changes = recordChanges(breaker);
    breaker.isolate();
    expect(await outcome(breaker, ok)).toBe('rejected');
    breaker.reset();
    expect(await outcome(breaker, ok)).toBe('ok');
    expect(changes).toEqual(['closed->isolated', 'isolated->closed']);
  });
});

describe('CircuitBreaker, failure-rate mode', () => {
  it('opens once the window has minimumThroughput calls at or above the rate', async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({
      failureRateThreshold: 0.5,
      minimumThroughput: 4,
      windowMs: 10_000,
      halfOpenAfterMs: 5000,
      clock,
    });
    await outcome(breaker, fail());
    await outcome(breaker, fail());
    expect(breaker.state).toBe('closed'); // 2 calls < minimumThroughput
    await outcome(breaker, ok);
    expect(breaker.state).toBe('closed'); // 3 calls < minimumThroughput
    await outcome(breaker, ok);
    expect(breaker.state).toBe('open'); // 4 calls, 50 %: evaluated on a success too (resilience4j)
    clock.advance(5000);
    expect(await outcome(breaker, ok)).toBe('ok');
    expect(breaker.state).toBe('closed');
  });

  it('forgets failures that slid out of the window', async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({ failureRateThreshold: 0.5, minimumThroughput: 3, windowMs: 1000, clock });
    await outcome(breaker, fail());
    await outcome(breaker, fail());
    clock.advance(1500);
    await outcome(breaker, ok);
    await outcome(breaker, ok);
    await outcome(breaker, fail());
    expect(breaker.state).toBe('closed'); // only 1 of 3 in the window failed
  });
});

describe('CircuitBreaker, slow calls', () => {
  it('opens when the slow-call rate reaches its threshold, successful or not', async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({
      slowCallDurationMs: 1000,
      slowCallRateThreshold: 0.5,
      minimumThroughput: 4,
      windowMs: 60_000,
      clock,
    });
    const slowOk = () => {
      clock.advance(1500);
      return Promise.resolve('ok');
    };
    await outcome(breaker, ok);
    await outcome(breaker, ok);
    await outcome(breaker, slowOk);
    expect(breaker.state).toBe('closed'); // 3 calls < minimumThroughput
    await outcome(breaker, slowOk);
    expect(breaker.state).toBe('open'); // 2 of 4 slow
  });

  it('counts a slow half-open probe as failed', async () => {
    const clock = manualClock();
    const breaker = new CircuitBreaker({
      failureThreshold: 1,
      slowCallDurationMs: 100,
      slowCallRateThreshold: 1,
      minimumThroughput: 100,
      halfOpenAfterMs: 10,
      clock,
    });
    await outcome(breaker, fail());
    clock.advance(10);
    await outcome(breaker, () => {
      clock.advance(200);
      return Promise.resolve('ok');
    });
    expect(breaker.state).toBe('open');
  });

  it('needs both slow-call options', () => {
    expect(() => new CircuitBreaker({ slowCallDurationMs: 100 })).toThrow(/go together/);
  });
});

describe('CircuitBreaker options', () => {
  it('rejects invalid options naming the option and value', () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0 })).toThrow(/circuitBreaker\.failureThreshold.*0/);
    expect(() => new CircuitBreaker({ failureRateThreshold: 1.5 })).toThrow(/failureRateThreshold.*1\.5/);
    expect(() => new CircuitBreaker({ failureRateThreshold: 0.5, failureThreshold: 3 })).toThrow(/cannot be combined/);
    expect(() => new CircuitBreaker({ halfOpenAfterMs: -5 })).toThrow(/halfOpenAfterMs.*-5/);
    expect(() => new CircuitBreaker({ name: '' })).toThrow(/circuitBreaker\.name/);
  });
});
