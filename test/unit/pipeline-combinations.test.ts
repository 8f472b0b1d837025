/**
 * Policies composed in the DESIGN order — fallback → total timeout → retry|hedging →
 * circuit breaker → rate limiter → bulkhead → attempt timeout → chaos → work — with
 * the exact span tree each combination produces. A rejection by the breaker, limiter or
 * bulkhead sent nothing: an event on the call span, no attempt span.
 */
import { describe, expect, it, vi } from 'vitest';
import { Bulkhead, CircuitBreaker, chaosFaults, RateLimiter, ResiliencePipeline } from '../../src/index.js';
import { httpError, useFakeTimersAndTracing } from '../support/hooks.js';

const tracing = useFakeTimersAndTracing();

async function run<T>(promise: Promise<T>, ms = 10_000): Promise<T> {
  await vi.advanceTimersByTimeAsync(ms);
  return promise;
}

describe('policy combinations', () => {
  it('everything at once: chaos 503 is retried, the attempt timeout fires, the breaker opens, the fallback answers', async () => {
    let calls = 0;
    const pipeline = new ResiliencePipeline({
      name: 'agent.ask',
      fallback: { name: 'canned', handler: () => 'canned answer' },
      rateLimiter: { limits: { tokensPerInterval: 100, intervalMs: 1000 } },
      totalTimeoutMs: 5000,
      retry: { maxRetries: 3, baseDelayMs: 100, jitter: 'none' },
      circuitBreaker: { name: 'llm', failureThreshold: 3 },
      bulkhead: { maxConcurrent: 2 },
      attemptTimeoutMs: 300,
      chaos: { name: 'first-call-503', injectionRate: 1, fault: chaosFaults.unavailable(), enabled: () => calls++ === 0 },
    });
    const answer = run(pipeline.execute(() => new Promise<string>(() => {})));
    await expect(answer).resolves.toBe('canned answer');
    expect(tracing().tree({ timings: false })).toMatchInlineSnapshot(`
      "agent.ask  attempts=3 outcome=fallback
      ├─ agent.ask attempt  ERROR 503  attempt=1
      │  └─ • exception
      ├─ • resilience.chaos  chaos.kind=fault chaos.name=first-call-503
      ├─ • resilience.retry  attempt=1 retry.delay_ms=100 retry.delay_source=backoff error.type=503
      ├─ agent.ask attempt  ERROR TimeoutError  attempt=2 retry.slept_ms=100
      │  └─ • exception
      ├─ • resilience.timeout  timeout.scope=attempt timeout.ms=300
      ├─ • resilience.retry  attempt=2 retry.delay_ms=200 retry.delay_source=backoff error.type=TimeoutError
      ├─ agent.ask attempt  ERROR TimeoutError  attempt=3 retry.slept_ms=200
      │  └─ • exception
      ├─ • resilience.timeout  timeout.scope=attempt timeout.ms=300
      ├─ • resilience.circuit_breaker.state_change  circuit_breaker.name=llm circuit_breaker.from=closed circuit_breaker.to=open circuit_breaker.reason=failure-threshold circuit_breaker.failures=3 circuit_breaker.failure_threshold=3
      ├─ • resilience.retry  attempt=3 retry.delay_ms=400 retry.delay_source=backoff error.type=TimeoutError
      ├─ • resilience.circuit_breaker.rejected  circuit_breaker.name=llm retry_after_ms=29600
      ├─ agent.ask fallback canned  fallback.name=canned
      └─ • resilience.fallback  fallback.name=canned fallback.trigger=BrokenCircuitError fallback.outcome=answered"
    `);
  });

  it('rate limiter rejection is answered by the fallback, without any attempt', async () => {
    const limiter = new RateLimiter({ name: 'rpm', limits: { tokensPerInterval: 1, intervalMs: 60_000 }, mode: 'reject' });
    const pipeline = new ResiliencePipeline({ name: 'op', rateLimiter: limiter, fallback: () => 'later' });
    await pipeline.execute(async () => 'now');
    tracing().reset();
    await expect(pipeline.execute(async () => 'now')).resolves.toBe('later');
    expect(tracing().tree({ timings: false })).toMatchInlineSnapshot(`
      "op  attempts=0 outcome=fallback
      ├─ • resilience.rate_limiter.rejected  rate_limiter.name=rpm retry_after_ms=60000
      ├─ op fallback fallback 1  fallback.name=fallback 1
      └─ • resilience.fallback  fallback.name=fallback 1 fallback.trigger=RateLimitedError fallback.outcome=answered"
    `);
  });

  it('an open breaker rejects before a token is spent; retries spend tokens like any request', async () => {
    const limiter = new RateLimiter({ name: 'rps', limits: { tokensPerInterval: 2, intervalMs: 1000 }, mode: 'reject' });
    const breaker = new CircuitBreaker({ name: 'api', failureThreshold: 1, halfOpenAfterMs: 60_000 });
    const retrying = new ResiliencePipeline({ name: 'op', retry: { maxRetries: 1, baseDelayMs: 0 }, rateLimiter: limiter });
    let sent = 0;
    // One call, two requests: the retry took the second token.
    await expect(retrying.execute(() => (++sent === 1 ? Promise.reject(httpError(503)) : 'ok'))).resolves.toBe('ok');
    expect(sent).toBe(2);
    await expect(retrying.execute(() => 'ok')).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    await vi.advanceTimersByTimeAsync(1000);
    breaker.isolate();
    const guarded = new ResiliencePipeline({ name: 'op', retry: false, circuitBreaker: breaker, rateLimiter: limiter });
    for (let i = 0; i < 5; i++) await expect(guarded.execute(() => 'ok')).rejects.toMatchObject({ code: 'BROKEN_CIRCUIT' });
    breaker.reset();
    // The five rejected calls spent nothing: both tokens are still there.
    await expect(guarded.execute(() => 'ok')).resolves.toBe('ok');
    await expect(guarded.execute(() => 'ok')).resolves.toBe('ok');
  });

  it('hedging with a breaker and a bulkhead: the slow first attempt loses to the hedge', async () => {
    const pipeline = new ResiliencePipeline({
      name: 'search',
      hedging: { maxHedgedAttempts: 1, delayMs: 200 },
      circuitBreaker: new CircuitBreaker({ name: 'search-api' }),
      bulkhead: new Bulkhead({ maxConcurrent: 4 }),
    });
    let n = 0;
    const result = run(
      pipeline.execute(() => new Promise<string>((resolve) => setTimeout(() => resolve(`r${n}`), ++n === 1 ? 5000 : 100))),
    );
    await expect(result).resolves.toBe('r2');
    expect(tracing().tree({ timings: false })).toMatchInlineSnapshot(`
      "search  attempts=2 outcome=success
      ├─ search attempt  attempt=1 hedge.outcome=lost
      ├─ • resilience.hedge  attempt=2
      └─ search attempt  attempt=2 hedge.outcome=won"
    `);
  });

  it('total timeout around retries: the last wait would outlive it, so retrying gives up', async () => {
    const pipeline = new ResiliencePipeline({ name: 'op', totalTimeoutMs: 1000, retry: { baseDelayMs: 400, jitter: 'none' } });
    const result = run(pipeline.execute(() => Promise.reject(httpError(502))).catch((e: { status: number }) => e.status));
    await expect(result).resolves.toBe(502);
    expect(tracing().tree({ timings: false })).toMatchInlineSnapshot(`
      "op  ERROR 502  attempts=2 outcome=failure
      ├─ op attempt  ERROR 502  attempt=1
      │  └─ • exception
      ├─ • resilience.retry  attempt=1 retry.delay_ms=400 retry.delay_source=backoff error.type=502
      ├─ op attempt  ERROR 502  attempt=2 retry.slept_ms=400
      │  └─ • exception
      └─ • resilience.retry.exhausted  attempts=2 retry.give_up_reason=deadline"
    `);
  });
});
