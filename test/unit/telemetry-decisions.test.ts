/**
 * What the trace says about each decision (issue #12): stable attempt names, one
 * exception per error with its class as `exception.type`, why a breaker moved, every
 * fallback step tried, the time slept before a retry, waits as child spans, a losing
 * hedge ended within its call, an ignored Retry-After.
 */
import { describe, expect, it, vi } from 'vitest';
import { Bulkhead, CircuitBreaker, RateLimiter, ResiliencePipeline } from '../../src/index.js';
import { httpError, useFakeTimersAndTracing } from '../support/hooks.js';

const tracing = useFakeTimersAndTracing();

const eventsOf = (name: string, event: string) =>
  tracing()
    .byName(name)
    .flatMap((s) => s.events.filter((e) => e.name === event).map((e) => e.attributes ?? {}));

describe('telemetry of decisions', () => {
  it('names every attempt the same, the number in resilience.attempt, with the time slept before it', async () => {
    const pipeline = new ResiliencePipeline({ name: 'llm.chat', retry: { maxRetries: 2, baseDelayMs: 50, jitter: 'none' } });
    let n = 0;
    const result = pipeline.execute(async () => {
      if (++n < 3) throw httpError(503);
      return 'ok';
    });
    await vi.advanceTimersByTimeAsync(150);
    await expect(result).resolves.toBe('ok');
    const attempts = tracing().byName('llm.chat attempt');
    expect(attempts.map((s) => s.attributes['resilience.attempt'])).toEqual([1, 2, 3]);
    // Planned 50 and 100 ms (the retry events); slept as much on the span clock (fake timers here).
    expect(attempts.map((s) => s.attributes['resilience.retry.slept_ms'])).toEqual([undefined, 50, 100]);
    expect(eventsOf('llm.chat', 'resilience.retry').map((e) => e['resilience.retry.delay_ms'])).toEqual([50, 100]);
  });

  it('records each exception once, with the class name as exception.type (not its code)', async () => {
    const pipeline = new ResiliencePipeline({ name: 'db.query', retry: { maxRetries: 1, baseDelayMs: 0, wrapErrors: true } });
    await expect(pipeline.execute(() => Promise.reject(httpError(502)))).rejects.toMatchObject({ code: 'RETRIES_EXHAUSTED' });
    // The wrapper is a new error: recorded on the call span, typed by its class.
    expect(eventsOf('db.query', 'exception')).toEqual([
      expect.objectContaining({ 'exception.type': 'RetriesExhaustedError', 'exception.stacktrace': expect.any(String) }),
    ]);
    // error.type by the classification: the SDK's own errors are read as they are, not through their cause.
    expect(tracing().byName('db.query')[0]!.attributes['error.type']).toBe('RetriesExhaustedError');
    expect(eventsOf('db.query attempt', 'exception')).toHaveLength(2);

    // A rejected call sent nothing: no attempt span; its exception once, on the call span.
    const breaker = new CircuitBreaker({ name: 'db', failureThreshold: 1 });
    const guarded = new ResiliencePipeline({ name: 'db.get', retry: { maxRetries: 0 }, circuitBreaker: breaker });
    await guarded.execute(() => Promise.reject(httpError(503))).catch(() => {});
    tracing().reset();
    await expect(guarded.execute(async () => 'never')).rejects.toMatchObject({ code: 'BROKEN_CIRCUIT' });
    expect(tracing().byName('db.get attempt')).toHaveLength(0);
    expect(eventsOf('db.get', 'exception')).toEqual([
      expect.objectContaining({ 'exception.type': 'BrokenCircuitError', 'exception.message': expect.stringContaining('db') }),
    ]);
  });

  it('says why a breaker moved: consecutive failures, failure rate, and a slow call although it succeeded', async () => {
    const consecutive = new ResiliencePipeline({
      name: 'a',
      retry: false,
      circuitBreaker: new CircuitBreaker({ name: 'a', failureThreshold: 2 }),
    });
    for (let i = 0; i < 2; i++) await consecutive.execute(() => Promise.reject(httpError(503))).catch(() => {});
    expect(eventsOf('a', 'resilience.circuit_breaker.state_change')).toEqual([
      expect.objectContaining({
        'resilience.circuit_breaker.to': 'open',
        'resilience.circuit_breaker.reason': 'failure-threshold',
        'resilience.circuit_breaker.failures': 2,
        'resilience.circuit_breaker.failure_threshold': 2,
      }),
    ]);

    const rate = new ResiliencePipeline({
      name: 'b',
      retry: false,
      circuitBreaker: new CircuitBreaker({ name: 'b', failureRateThreshold: 0.5, minimumThroughput: 4 }),
    });
    for (const fails of [false, true, false, true]) {
      await rate.execute(async () => (fails ? Promise.reject(httpError(500)) : 'ok')).catch(() => {});
    }
    expect(eventsOf('b', 'resilience.circuit_breaker.state_change')).toEqual([
      expect.objectContaining({
        'resilience.circuit_breaker.reason': 'failure-rate',
        'resilience.circuit_breaker.calls': 4,
        'resilience.circuit_breaker.failure_rate': 0.5,
        'resilience.circuit_breaker.failure_rate_threshold': 0.5,
      }),
    ]);

    const slow = new ResiliencePipeline({
      name: 'c',
      retry: false,
      circuitBreaker: new CircuitBreaker({
        name: 'c',
        slowCallDurationMs: 100,
        slowCallRateThreshold: 1,
        minimumThroughput: 1,
      }),
    });
    const answer = slow.execute(() => new Promise((resolve) => setTimeout(() => resolve('late'), 150)));
    await vi.advanceTimersByTimeAsync(150);
    await expect(answer).resolves.toBe('late');
    const [call] = tracing().byName('c');
    expect(call!.attributes['resilience.outcome']).toBe('success');
    expect(eventsOf('c', 'resilience.circuit_breaker.state_change')).toEqual([
      expect.objectContaining({
        'resilience.circuit_breaker.reason': 'slow-call-rate',
        'resilience.circuit_breaker.slow_call_rate': 1,
        'resilience.circuit_breaker.slow_call_rate_threshold': 1,
        'resilience.circuit_breaker.call_slow': true,
        'resilience.circuit_breaker.call_duration_ms': 150,
        'resilience.circuit_breaker.slow_call_duration_ms': 100,
      }),
    ]);
  });

  it('reports every fallback step tried with its error, and when none is left', async () => {
    const pipeline = new ResiliencePipeline({
      name: 'agent',
      retry: false,
      fallback: [
        { name: 'secondary', handler: () => Promise.reject(httpError(503)) },
        { name: 'cache', handler: () => Promise.reject(new TypeError('no entry')) },
      ],
    });
    await expect(pipeline.execute(() => Promise.reject(httpError(429)))).rejects.toThrow('no entry');
    expect(eventsOf('agent', 'resilience.fallback')).toEqual([
      expect.objectContaining({
        'resilience.fallback.name': 'secondary',
        'resilience.fallback.trigger': '429',
        'resilience.fallback.outcome': 'failed',
        'error.type': '503',
      }),
      expect.objectContaining({
        'resilience.fallback.name': 'cache',
        'resilience.fallback.trigger': '503',
        'resilience.fallback.outcome': 'failed',
        'error.type': 'TypeError',
      }),
    ]);
    expect(eventsOf('agent', 'resilience.fallback.exhausted')).toEqual([
      { 'resilience.fallback.steps': 2, 'error.type': 'TypeError' },
    ]);
    // The last step's error is recorded on its span; the call span does not record it again.
    expect(eventsOf('agent', 'exception')).toHaveLength(0);
    expect(tracing().byName('agent')[0]!.attributes['error.type']).toBe('TypeError');
  });

  it('shows a bulkhead queue wait and a rate-limit wait as child spans with the ms waited', async () => {
    const pipeline = new ResiliencePipeline({
      name: 'tool',
      retry: false,
      bulkhead: new Bulkhead({ name: 'pool', maxConcurrent: 1, maxQueue: 1 }),
      rateLimiter: new RateLimiter({ name: 'rpm', limits: { tokensPerInterval: 1, intervalMs: 1000 }, maxWaitMs: 5000 }),
    });
    const first = pipeline.execute(() => new Promise((resolve) => setTimeout(() => resolve(1), 200)));
    const second = pipeline.execute(async () => 2);
    await vi.advanceTimersByTimeAsync(1000);
    await expect(Promise.all([first, second])).resolves.toEqual([1, 2]);
    const [limit] = tracing().byName('rate limiter wait');
    expect(limit!.attributes).toMatchObject({ 'resilience.rate_limiter.name': 'rpm', 'resilience.rate_limiter.waited_ms': 1000 });
    // The second call waited 1000 ms for budget, then found the slot free: no queue wait.
    expect(tracing().byName('bulkhead wait')).toHaveLength(0);
    expect(tracing()).toHaveSpan('rate limiter wait', { parent: 'tool', times: 1 });

    tracing().reset();
    const queued = new ResiliencePipeline({ name: 'q', retry: false, bulkhead: { name: 'pool', maxConcurrent: 1, maxQueue: 1 } });
    const busy = queued.execute(() => new Promise((resolve) => setTimeout(() => resolve('a'), 200)));
    const waiting = queued.execute(async () => 'b');
    await vi.advanceTimersByTimeAsync(200);
    await expect(Promise.all([busy, waiting])).resolves.toEqual(['a', 'b']);
    expect(tracing()).toHaveSpan('bulkhead wait', {
      parent: 'q',
      attributes: { 'resilience.bulkhead.name': 'pool', 'resilience.bulkhead.waited_ms': 200 },
    });
  });

  it("ends a losing hedge's span before its call span ends", async () => {
    const pipeline = new ResiliencePipeline({ name: 'search', hedging: { maxHedgedAttempts: 1, delayMs: 10 } });
    let n = 0;
    const result = pipeline.execute(
      ({ signal }) =>
        new Promise((resolve, reject) => {
          const me = ++n;
          const timer = setTimeout(() => resolve(me), me === 1 ? 1000 : 5);
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            // A slow loser: its work settles long after it lost.
            setTimeout(() => reject(signal.reason), 500);
          });
        }),
    );
    await vi.advanceTimersByTimeAsync(20);
    await expect(result).resolves.toBe(2);
    // Spans are recorded as they end: the loser's ended before the call span did.
    const ended = tracing()
      .spans()
      .map((s) => `${s.name}${s.attributes['resilience.attempt'] ?? ''}`);
    expect(ended.indexOf('search attempt1')).toBeGreaterThanOrEqual(0);
    expect(ended.indexOf('search attempt1')).toBeLessThan(ended.indexOf('search'));
    await vi.advanceTimersByTimeAsync(500);
  });

  it('puts an ignored Retry-After on the retry event', async () => {
    const pipeline = new ResiliencePipeline({ name: 'api', retry: { maxRetries: 1, baseDelayMs: 10, jitter: 'none' } });
    let n = 0;
    const result = pipeline.execute(async () => {
      if (++n === 1) throw httpError(503, { 'retry-after': '-1' });
      return 'ok';
    });
    await vi.advanceTimersByTimeAsync(10);
    await expect(result).resolves.toBe('ok');
    expect(eventsOf('api', 'resilience.retry')).toEqual([
      expect.objectContaining({
        'resilience.retry.delay_source': 'backoff',
        'resilience.retry.retry_after_ignored': 'retry-after: -1',
      }),
    ]);
  });
});
