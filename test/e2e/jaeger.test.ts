/**
 * End to end: a resilient call with retries and a breaker opening, exported by
 * startTelemetry() over OTLP/HTTP to a real Jaeger v2 (collector/jaeger.yaml), read
 * back through Jaeger's query API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CircuitBreaker, ResiliencePipeline } from '../../src/index.js';
import { startTelemetry } from '../../src/setup/index.js';
import { type JaegerSpan, logFields, type RunningJaeger, startJaeger, waitForTrace } from '../support/jaeger.js';

let jaeger: RunningJaeger;

beforeAll(async () => {
  jaeger = await startJaeger();
});
afterAll(async () => {
  await jaeger?.stop();
});

const tag = (span: JaegerSpan, key: string) => span.tags.find((t) => t.key === key)?.value;

describe('export to Jaeger', () => {
  it('shows the call span, its attempts, backoff delays and the breaker opening', async () => {
    const service = `otel-resilience-e2e-${process.pid}`;
    const telemetry = startTelemetry({ serviceName: service, endpoint: jaeger.otlpUrl, exportDelayMs: 50 });
    const breaker = new CircuitBreaker({ name: 'flaky-api', failureThreshold: 2, halfOpenAfterMs: 60_000 });
    const pipeline = new ResiliencePipeline({
      name: 'e2e.ask',
      retry: { maxRetries: 3, baseDelayMs: 20, jitter: 'none' },
      circuitBreaker: breaker,
    });
    const failure = await pipeline
      .execute(async () => {
        throw Object.assign(new Error('HTTP 503'), { status: 503 });
      })
      .catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'BROKEN_CIRCUIT' });
    expect(await telemetry.shutdown()).toBe(true);

    const spans = await waitForTrace(jaeger.queryUrl, service, 'e2e.ask');
    const call = spans.find((s) => s.operationName === 'e2e.ask')!;
    expect(tag(call, 'otel.status_code')).toBe('ERROR');
    // The third try was rejected by the open breaker: nothing was sent, so no attempt span.
    expect(tag(call, 'resilience.attempts')).toBe(2);
    expect(tag(call, 'resilience.outcome')).toBe('rejected');

    const attempts = spans.filter((s) => s.operationName.startsWith('e2e.ask attempt '));
    expect(attempts.map((s) => s.operationName).sort()).toEqual(['e2e.ask attempt 1', 'e2e.ask attempt 2']);
    for (const attempt of attempts) {
      expect(attempt.references).toContainEqual(expect.objectContaining({ refType: 'CHILD_OF', spanID: call.spanID }));
      expect(tag(attempt, 'error')).toBe(true);
    }
    // The second attempt follows from the first (a span link, shown by Jaeger as FOLLOWS_FROM).
    const [first, second] = [1, 2].map((n) => attempts.find((s) => s.operationName === `e2e.ask attempt ${n}`)!);
    expect(second!.references).toContainEqual(expect.objectContaining({ refType: 'FOLLOWS_FROM', spanID: first!.spanID }));

    // Jaeger sorts logs by name, not time: never assert their order.
    const events = call.logs.map(logFields);
    const retries = events.filter((e) => e.event === 'resilience.retry');
    expect(
      retries.map((e) => [e['resilience.attempt'], e['resilience.retry.delay_ms'], e['resilience.retry.delay_source']]).sort(),
    ).toEqual([
      [1, 20, 'backoff'],
      [2, 40, 'backoff'],
    ]);
    expect(events).toContainEqual(
      expect.objectContaining({
        event: 'resilience.circuit_breaker.state_change',
        'resilience.circuit_breaker.name': 'flaky-api',
        'resilience.circuit_breaker.from': 'closed',
        'resilience.circuit_breaker.to': 'open',
      }),
    );
    expect(events).toContainEqual(expect.objectContaining({ event: 'resilience.circuit_breaker.rejected' }));
  });

  it('shows a hedged call (loser marked lost) and a fallback chain (each step a child span)', async () => {
    const service = `otel-resilience-e2e-hedge-${process.pid}`;
    const telemetry = startTelemetry({ serviceName: service, endpoint: jaeger.otlpUrl, exportDelayMs: 50 });
    const hedged = new ResiliencePipeline({ name: 'e2e.search', hedging: { maxHedgedAttempts: 1, delayMs: 20 } });
    let n = 0;
    await expect(
      hedged.execute(({ signal }) => {
        const delay = ++n === 1 ? 2000 : 10;
        return new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => resolve(`hit ${n}`), delay);
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            reject(signal.reason);
          });
        });
      }),
    ).resolves.toBe('hit 2');
    const chain = new ResiliencePipeline({
      name: 'e2e.answer',
      retry: false,
      fallback: [
        { name: 'secondary-model', handler: () => Promise.reject(Object.assign(new Error('HTTP 503'), { status: 503 })) },
        { name: 'rule-based', handler: () => 'a canned answer' },
      ],
    });
    await expect(chain.execute(() => Promise.reject(Object.assign(new Error('HTTP 429'), { status: 429 })))).resolves.toBe(
      'a canned answer',
    );
    expect(await telemetry.shutdown()).toBe(true);

    const hedgeSpans = await waitForTrace(jaeger.queryUrl, service, 'e2e.search');
    const search = hedgeSpans.find((s) => s.operationName === 'e2e.search')!;
    const byName = (name: string) => hedgeSpans.find((s) => s.operationName === name)!;
    expect(tag(byName('e2e.search attempt 1'), 'resilience.hedge.outcome')).toBe('lost');
    expect(tag(byName('e2e.search attempt 2'), 'resilience.hedge.outcome')).toBe('won');
    expect(byName('e2e.search attempt 1').references).toEqual([
      expect.objectContaining({ refType: 'CHILD_OF', spanID: search.spanID }),
    ]);
    expect(search.logs.map(logFields)).toContainEqual(
      expect.objectContaining({ event: 'resilience.hedge', 'resilience.attempt': 2 }),
    );

    const chainSpans = await waitForTrace(jaeger.queryUrl, service, 'e2e.answer');
    const answer = chainSpans.find((s) => s.operationName === 'e2e.answer')!;
    expect(tag(answer, 'resilience.outcome')).toBe('fallback');
    const secondary = chainSpans.find((s) => s.operationName === 'e2e.answer fallback secondary-model')!;
    const rule = chainSpans.find((s) => s.operationName === 'e2e.answer fallback rule-based')!;
    expect(tag(secondary, 'otel.status_code')).toBe('ERROR');
    expect(rule.references).toEqual([expect.objectContaining({ refType: 'CHILD_OF', spanID: answer.spanID })]);
    expect(answer.logs.map(logFields)).toContainEqual(
      expect.objectContaining({ event: 'resilience.fallback', 'resilience.fallback.name': 'rule-based', 'error.type': '429' }),
    );
  });

  it('startTelemetry() with the collector down neither fails nor hangs', async () => {
    const telemetry = startTelemetry({
      serviceName: 'nobody-listens',
      endpoint: 'http://127.0.0.1:9/v1/traces',
      flushTimeoutMs: 1000,
    });
    await expect(new ResiliencePipeline({ name: 'offline' }).execute(async () => 'fine')).resolves.toBe('fine');
    await expect(telemetry.flush()).resolves.toBe(false);
    await expect(telemetry.shutdown()).resolves.toBe(false);
  });
});
