import { type SpanExporter, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CircuitBreaker, ResiliencePipeline } from '../../src/index.js';
import { otlpSpanProcessor } from '../../src/setup/index.js';
import { installTestMetrics, type MetricRecorder } from '../../src/testing/index.js';

let recorder: MetricRecorder;
// Real timers: the metrics SDK's collection runs on timers of its own. Nothing here sleeps (0 ms backoff).
beforeEach(() => {
  recorder = installTestMetrics();
});
afterEach(async () => {
  await recorder.uninstall();
});

describe('metrics (no tracer registered)', () => {
  it('counts events by event.name and policy, times attempts, and reports breaker state', async () => {
    const breaker = new CircuitBreaker({ name: 'llm', failureThreshold: 2 });
    const pipeline = new ResiliencePipeline({
      name: 'llm.chat',
      retry: { maxRetries: 1, baseDelayMs: 0 },
      circuitBreaker: breaker,
    });
    await pipeline.execute(() => Promise.reject(Object.assign(new Error('HTTP 503'), { status: 503 }))).catch(() => {});

    const events = await recorder.points('resilience.events');
    expect(events).toContainEqual({
      attributes: { 'event.name': 'resilience.retry', 'code.function.name': 'llm.chat' },
      value: 1,
    });
    expect(events).toContainEqual({
      attributes: {
        'event.name': 'resilience.circuit_breaker.state_change',
        'code.function.name': 'llm.chat',
        'resilience.policy.name': 'llm',
      },
      value: 1,
    });
    const durations = await recorder.points('resilience.attempt.duration');
    expect(durations).toEqual([
      { attributes: { 'code.function.name': 'llm.chat', 'error.type': '503' }, value: expect.objectContaining({ count: 2 }) },
    ]);
    const states = await recorder.points('resilience.circuit_breaker.state');
    expect(states).toContainEqual({ attributes: { 'resilience.circuit_breaker.name': 'llm' }, value: 1 });
  });
});

describe('dropped spans metric', () => {
  it('counts queue-full drops on resilience.telemetry.dropped_spans by error.type', async () => {
    const exporter: SpanExporter = {
      // Never answers, so the first batch stays in flight and the queue fills behind it.
      export: () => {},
      shutdown: async () => {},
    };
    const processor = otlpSpanProcessor({
      exporter,
      maxQueueSize: 2,
      maxExportBatchSize: 1,
      exportDelayMs: 60_000,
      warn: () => {},
    });
    const provider = new TracerProvider({ spanProcessors: [processor] });
    const tracer = provider.getTracer('t');
    for (let i = 0; i < 5; i++) tracer.startSpan(`s${i}`).end();
    expect(processor.delivery().dropped).toBe(2);
    expect(await recorder.points('resilience.telemetry.dropped_spans')).toEqual([
      { attributes: { 'error.type': 'queue_full' }, value: 2 },
    ]);
  });
});
