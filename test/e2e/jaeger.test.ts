/**
 * End to end: a resilient call with retries and a breaker opening, exported by
 * startTelemetry() over OTLP/HTTP to a real Jaeger v2 (collector/jaeger.yaml), read
 * back through Jaeger's query API. Besides what each trace shows, its order: each retry
 * event between the attempts it separates, a breaker transition after the end of the
 * attempt that caused it, every child within its parent (a losing hedge included), HTTP
 * client spans within their attempt; attempt span names stable (`<call> attempt`); a
 * rejected call without attempt span; bulkhead and rate-limit waits as child spans.
 * Attempts are found by `resilience.attempt`, not by name.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bulkhead, CircuitBreaker, RateLimiter, ResiliencePipeline } from '../../src/index.js';
import { startTelemetry } from '../../src/setup/index.js';
import { type JaegerSpan, logFields, type RunningJaeger, startJaeger, tracesOf, waitForTrace } from '../support/jaeger.js';

let jaeger: RunningJaeger;

beforeAll(async () => {
  jaeger = await startJaeger();
});
afterAll(async () => {
  await jaeger?.stop();
});

const tag = (span: JaegerSpan, key: string) => span.tags.find((t) => t.key === key)?.value;
const end = (span: JaegerSpan) => span.startTime + span.duration;
/** Jaeger's v1 API gives µs, start and duration each truncated: allow 1 µs. */
const SLACK_US = 1;

/** The attempt spans of `call`, by their `resilience.attempt` attribute (not their name), in attempt order. */
function attemptsOf(spans: readonly JaegerSpan[], call: JaegerSpan): JaegerSpan[] {
  return spans
    .filter((s) => s.references.some((r) => r.spanID === call.spanID) && tag(s, 'resilience.attempt') !== undefined)
    .sort((a, b) => Number(tag(a, 'resilience.attempt')) - Number(tag(b, 'resilience.attempt')));
}

/** Each `resilience.retry` event after the end of the attempt it retries and before the start of the next. */
function expectRetriesBetweenAttempts(call: JaegerSpan, attempts: readonly JaegerSpan[]): void {
  const retries = call.logs.filter((log) => logFields(log).event === 'resilience.retry');
  expect(retries.length).toBeGreaterThan(0);
  for (const retry of retries) {
    const n = Number(logFields(retry)['resilience.attempt']);
    const failed = attempts[n - 1]!;
    const next = attempts[n];
    expect(retry.timestamp, `retry after attempt ${n}`).toBeGreaterThanOrEqual(end(failed) - SLACK_US);
    if (next) expect(retry.timestamp, `retry before attempt ${n + 1}`).toBeLessThanOrEqual(next.startTime + SLACK_US);
  }
}

/**
 * The spans of the first trace of `service` with a span named `name` and that span's
 * parent (spans of one trace arrive in several exports), waiting up to 20 s for it.
 */
async function traceWith(service: string, name: string): Promise<JaegerSpan[]> {
  const complete = (spans: JaegerSpan[]) =>
    spans.some(
      (s) =>
        s.operationName === name &&
        spans.some((p) => s.references.some((r) => r.refType === 'CHILD_OF' && r.spanID === p.spanID)),
    );
  for (let i = 0; i < 80; i++) {
    const found = (await tracesOf(jaeger.queryUrl, service)).find(complete);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`No trace with a span "${name}" for service "${service}" in Jaeger after 20 s`);
}

/** Every span starts and ends within its parent (no clock skew for Jaeger to adjust). */
function expectChildrenWithinParents(spans: readonly JaegerSpan[]): void {
  const byId = new Map(spans.map((s) => [s.spanID, s]));
  for (const span of spans) {
    const parent = byId.get(span.references.find((r) => r.refType === 'CHILD_OF')?.spanID ?? '');
    if (parent === undefined) continue;
    const what = `${span.operationName} within ${parent.operationName}`;
    expect(span.startTime, what).toBeGreaterThanOrEqual(parent.startTime - SLACK_US);
    expect(end(span), what).toBeLessThanOrEqual(end(parent) + SLACK_US);
  }
}

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

    const attempts = attemptsOf(spans, call);
    expect(attempts.map((s) => tag(s, 'resilience.attempt'))).toEqual([1, 2]);
    // One operation name for every attempt (gRPC A72): Jaeger's operation list stays short.
    expect(new Set(attempts.map((s) => s.operationName))).toEqual(new Set(['e2e.ask attempt']));
    expect(tag(attempts[1]!, 'resilience.retry.slept_ms')).toBeGreaterThanOrEqual(20);
    for (const attempt of attempts) {
      expect(attempt.references).toContainEqual(expect.objectContaining({ refType: 'CHILD_OF', spanID: call.spanID }));
      expect(tag(attempt, 'error')).toBe(true);
    }
    expectRetriesBetweenAttempts(call, attempts);
    expectChildrenWithinParents(spans);
    // The second attempt follows from the first (a span link, shown by Jaeger as FOLLOWS_FROM).
    const [first, second] = attempts;
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
    const [first, hedge] = attemptsOf(hedgeSpans, search);
    expect(tag(first!, 'resilience.hedge.outcome')).toBe('lost');
    expect(tag(hedge!, 'resilience.hedge.outcome')).toBe('won');
    expect(first!.operationName).toBe(hedge!.operationName);
    const hedgeEvent = search.logs.find((log) => logFields(log).event === 'resilience.hedge')!;
    expect(hedgeEvent.timestamp, 'the hedge event before the hedged attempt').toBeLessThanOrEqual(hedge!.startTime + SLACK_US);
    // The lost attempt's span ends when the winner aborts it, before the call span ends.
    expectChildrenWithinParents(hedgeSpans);
    expect(first!.references).toEqual([expect.objectContaining({ refType: 'CHILD_OF', spanID: search.spanID })]);
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
    const fallbacks = answer.logs.map(logFields).filter((e) => e.event === 'resilience.fallback');
    expect(fallbacks).toHaveLength(2);
    expect(fallbacks).toContainEqual(
      expect.objectContaining({
        'resilience.fallback.name': 'secondary-model',
        'resilience.fallback.trigger': '429',
        'resilience.fallback.outcome': 'failed',
        'error.type': '503',
      }),
    );
    expect(fallbacks).toContainEqual(
      expect.objectContaining({
        'resilience.fallback.name': 'rule-based',
        'resilience.fallback.trigger': '503',
        'resilience.fallback.outcome': 'answered',
      }),
    );
    // The trace whose fallback answered has one error: the failed step's, not an attempt's.
    expect(chainSpans.filter((s) => tag(s, 'otel.status_code') === 'ERROR').map((s) => s.operationName)).toEqual([
      'e2e.answer fallback secondary-model',
    ]);
    expectChildrenWithinParents(chainSpans);
  });

  it('shows HTTP client spans (undici instrumentation) inside the attempts that sent them', async () => {
    const service = `otel-resilience-e2e-http-${process.pid}`;
    const telemetry = startTelemetry({ serviceName: service, endpoint: jaeger.otlpUrl, exportDelayMs: 50 });
    const instrumentation = new UndiciInstrumentation();
    instrumentation.setTracerProvider(telemetry.tracerProvider);
    let served = 0;
    const server = createServer((_req, res) => {
      res.writeHead(++served <= 2 ? 503 : 200, { 'content-type': 'text/plain' }).end(served <= 2 ? 'busy' : 'fine');
    }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/answer`;
    try {
      const pipeline = new ResiliencePipeline({ name: 'e2e.fetch', retry: { maxRetries: 3, baseDelayMs: 5 } });
      const body = await pipeline.execute(async ({ signal }) => {
        const response = await fetch(url, { signal });
        const text = await response.text();
        if (!response.ok) throw Object.assign(new Error(`HTTP ${response.status}`), { status: response.status });
        return text;
      });
      expect(body).toBe('fine');
    } finally {
      instrumentation.disable();
      server.close();
      expect(await telemetry.shutdown()).toBe(true);
    }

    const spans = await waitForTrace(jaeger.queryUrl, service, 'e2e.fetch');
    const call = spans.find((s) => s.operationName === 'e2e.fetch')!;
    const attempts = attemptsOf(spans, call);
    expect(attempts).toHaveLength(3);
    for (const attempt of attempts) {
      const clients = spans.filter(
        (s) => s.references.some((r) => r.spanID === attempt.spanID) && tag(s, 'span.kind') === 'client',
      );
      expect(clients, `one HTTP client span under attempt ${tag(attempt, 'resilience.attempt')}`).toHaveLength(1);
      expect(tag(clients[0]!, 'http.request.method')).toBe('GET');
      expect(tag(clients[0]!, 'url.full')).toBe(url);
    }
    expectRetriesBetweenAttempts(call, attempts);
    expectChildrenWithinParents(spans);
  });

  // The breaker sits outside the attempt (DESIGN order): it records the outcome once the
  // attempt's span has ended, so the transition is stamped after that end, with its reasons.
  it('puts a breaker transition after the end of the attempt that caused it, saying why', async () => {
    const service = `otel-resilience-e2e-breaker-${process.pid}`;
    const telemetry = startTelemetry({ serviceName: service, endpoint: jaeger.otlpUrl, exportDelayMs: 50 });
    const pipeline = new ResiliencePipeline({
      name: 'e2e.breaker',
      retry: { maxRetries: 2, baseDelayMs: 5, jitter: 'none' },
      circuitBreaker: new CircuitBreaker({ name: 'e2e-breaker', failureThreshold: 2, halfOpenAfterMs: 60_000 }),
    });
    await pipeline.execute(() => Promise.reject(Object.assign(new Error('HTTP 503'), { status: 503 }))).catch(() => undefined);
    expect(await telemetry.shutdown()).toBe(true);
    const spans = await waitForTrace(jaeger.queryUrl, service, 'e2e.breaker');
    const call = spans.find((s) => s.operationName === 'e2e.breaker')!;
    const opened = call.logs.find((log) => logFields(log).event === 'resilience.circuit_breaker.state_change')!;
    const second = attemptsOf(spans, call)[1]!;
    expect(opened.timestamp).toBeGreaterThanOrEqual(end(second) - SLACK_US);
    expect(logFields(opened)).toMatchObject({
      'resilience.circuit_breaker.to': 'open',
      'resilience.circuit_breaker.reason': 'failure-threshold',
      'resilience.circuit_breaker.failures': 2,
      'resilience.circuit_breaker.failure_threshold': 2,
    });
    expectChildrenWithinParents(spans);
  });

  it('a call the open breaker rejects has no attempt span, and its exception once', async () => {
    const service = `otel-resilience-e2e-rejected-${process.pid}`;
    const telemetry = startTelemetry({ serviceName: service, endpoint: jaeger.otlpUrl, exportDelayMs: 50 });
    const breaker = new CircuitBreaker({ name: 'e2e-rejects', failureThreshold: 1, halfOpenAfterMs: 60_000 });
    breaker.isolate();
    const pipeline = new ResiliencePipeline({ name: 'e2e.rejected', retry: { maxRetries: 2 }, circuitBreaker: breaker });
    await expect(pipeline.execute(async () => 'never sent')).rejects.toMatchObject({ code: 'BROKEN_CIRCUIT' });
    expect(await telemetry.shutdown()).toBe(true);
    const spans = await waitForTrace(jaeger.queryUrl, service, 'e2e.rejected');
    expect(spans.map((s) => s.operationName)).toEqual(['e2e.rejected']);
    const [call] = spans;
    expect(tag(call!, 'resilience.outcome')).toBe('rejected');
    expect(tag(call!, 'resilience.attempts')).toBe(0);
    const events = call!.logs.map(logFields);
    expect(events.filter((e) => e.event === 'exception')).toEqual([
      expect.objectContaining({ 'exception.type': 'BrokenCircuitError' }),
    ]);
    expect(events).toContainEqual(expect.objectContaining({ event: 'resilience.circuit_breaker.rejected' }));
  });

  it('shows bulkhead-queue and rate-limit waits as child spans within their call', async () => {
    const service = `otel-resilience-e2e-waits-${process.pid}`;
    const telemetry = startTelemetry({ serviceName: service, endpoint: jaeger.otlpUrl, exportDelayMs: 50 });
    const bulkhead = new ResiliencePipeline({
      name: 'e2e.pool',
      retry: false,
      bulkhead: new Bulkhead({ name: 'e2e-pool', maxConcurrent: 1, maxQueue: 1 }),
    });
    const limited = new ResiliencePipeline({
      name: 'e2e.limited',
      retry: false,
      rateLimiter: new RateLimiter({ name: 'e2e-rpm', limits: { tokensPerInterval: 1, intervalMs: 100 } }),
    });
    const slow = () => new Promise((resolve) => setTimeout(() => resolve('done'), 60));
    await Promise.all([bulkhead.execute(slow), bulkhead.execute(slow), limited.execute(slow), limited.execute(slow)]);
    expect(await telemetry.shutdown()).toBe(true);

    for (const [operation, wait, waited] of [
      ['e2e.pool', 'bulkhead wait', 'resilience.bulkhead.waited_ms'],
      ['e2e.limited', 'rate limiter wait', 'resilience.rate_limiter.waited_ms'],
    ] as const) {
      await waitForTrace(jaeger.queryUrl, service, operation);
      const spans = await traceWith(service, wait);
      const waitSpan = spans.find((s) => s.operationName === wait)!;
      const call = spans.find((s) => s.spanID === waitSpan.references.find((r) => r.refType === 'CHILD_OF')?.spanID)!;
      expect(call.operationName).toBe(operation);
      // The second call waited for the first (60 ms in the pool; ~100 ms for the budget).
      expect(Number(tag(waitSpan, waited))).toBeGreaterThanOrEqual(40);
      expect(waitSpan.duration / 1000).toBeGreaterThanOrEqual(40);
      expectChildrenWithinParents(spans);
    }
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
