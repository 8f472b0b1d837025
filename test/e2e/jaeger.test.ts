/**
 * End to end: a resilient call with retries and a breaker opening, exported by
 * startTelemetry() over OTLP/HTTP to a real Jaeger v2 (collector/jaeger.yaml), read
 * back through Jaeger's query API. Besides what each trace shows, its order: each retry
 * event between the attempts it separates, every child within its parent, HTTP client
 * spans within their attempt. Attempts are found by `resilience.attempt`, not by name.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
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
    const hedgeEvent = search.logs.find((log) => logFields(log).event === 'resilience.hedge')!;
    expect(hedgeEvent.timestamp, 'the hedge event before the hedged attempt').toBeLessThanOrEqual(hedge!.startTime + SLACK_US);
    // The lost attempt's span ends when its abort lands, just after the call span (tens of µs):
    // the pipeline should end it first (issue #12, pipeline part); checked for the others.
    expectChildrenWithinParents(hedgeSpans.filter((s) => s !== first));
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
    expect(answer.logs.map(logFields)).toContainEqual(
      expect.objectContaining({ event: 'resilience.fallback', 'resilience.fallback.name': 'rule-based', 'error.type': '429' }),
    );
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

  // The pipeline ends the attempt before the breaker records (issue #11), so the transition is stamped after it.
  it('puts a breaker transition after the end of the attempt that caused it', async () => {
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
