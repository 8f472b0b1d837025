/**
 * The span clock (SpanClockProcessor) and the causal order of the span-tree printer:
 * sub-millisecond starts on one clock, children inside their parents, and the same tree
 * for the same run, whatever the timestamps.
 */
import { type HrTime, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { describe, expect, it, vi } from 'vitest';
import { CircuitBreaker, ResiliencePipeline, SpanClockProcessor } from '../../src/index.js';
import { type SpanRecorder, spanClockNow } from '../../src/testing/index.js';
import { httpError, manualClock, useFakeTimersAndTracing, useTracing } from '../support/hooks.js';

const ms = (time: HrTime) => time[0] * 1e3 + time[1] / 1e6;

describe('the span clock, real timers', () => {
  const tracing = useTracing();

  it('stamps sub-millisecond starts: spans and events of a busy millisecond keep their order', () => {
    const tracer = trace.getTracer('test');
    tracer.startActiveSpan('parent', (parent) => {
      for (let i = 0; i < 100; i++) {
        // fewer than the SDK's 128 events a span keeps
        parent.addEvent(`before ${i}`);
        tracer.startSpan(`child ${i}`).end();
      }
      parent.end();
    });
    const spans = tracing().spans();
    const parent = spans.find((s) => s.name === 'parent')!;
    const children = spans.filter((s) => s.name.startsWith('child '));
    expect(children).toHaveLength(100);
    // Date.now() would give whole milliseconds; 100 spans in a few ms cannot all land on one.
    expect(children.some((c) => c.startTime[1] % 1e6 !== 0)).toBe(true);
    let previous = ms(parent.startTime);
    for (const [i, child] of children.entries()) {
      const event = parent.events[i]!;
      expect(ms(event.time)).toBeGreaterThanOrEqual(previous);
      expect(ms(child.startTime)).toBeGreaterThanOrEqual(ms(event.time));
      expect(ms(child.endTime)).toBeGreaterThanOrEqual(ms(child.startTime));
      previous = ms(child.endTime);
    }
    expect(ms(parent.endTime)).toBeGreaterThanOrEqual(previous);
  });

  it('stays within a few ms of Date.now()', () => {
    expect(Math.abs(spanClockNow() - Date.now())).toBeLessThan(3);
  });

  it('keeps a start time given explicitly', () => {
    trace
      .getTracer('test')
      .startSpan('given', { startTime: [1_700_000_000, 5] })
      .end();
    expect(tracing().byName('given')[0]!.startTime).toEqual([1_700_000_000, 5]);
  });
});

describe('the span clock in a provider you build (as in your own NodeSDK)', () => {
  it('is exported by the core entry point and needs no setup', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({ spanProcessors: [new SpanClockProcessor(), new SimpleSpanProcessor({ exporter })] });
    const tracer = provider.getTracer('own');
    for (let i = 0; i < 50; i++) tracer.startSpan(`s${i}`).end();
    const starts = exporter.getFinishedSpans().map((s) => ms(s.startTime));
    expect(starts.some((start) => start % 1 !== 0)).toBe(true);
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
    await provider.shutdown();
  });
});

/**
 * Retries, a breaker opening, a rejection and a fallback (within one frozen millisecond
 * under fake timers); returns the tree it prints. The breaker's clock stands still, so its
 * `retry_after_ms` is the same in every run.
 */
async function scenario(tracing: () => SpanRecorder): Promise<string> {
  const breaker = new CircuitBreaker({ name: 'llm', failureThreshold: 2, clock: manualClock() });
  const pipeline = new ResiliencePipeline({
    name: 'ask',
    retry: { maxRetries: 3, baseDelayMs: 0 },
    circuitBreaker: breaker,
    fallback: { name: 'canned', handler: () => 'canned' },
  });
  await expect(pipeline.execute(() => Promise.reject(httpError(503)))).resolves.toBe('canned');
  const tree = tracing().tree({ timings: false });
  tracing().reset();
  return tree;
}

/** The same tree over 100 runs, in causal order: each retry between the attempts it separates, the breaker after them, the fallback last. */
async function expectSameCausalTree(tracing: () => SpanRecorder): Promise<void> {
  const trees = new Set<string>();
  for (let run = 0; run < 100; run++) trees.add(await scenario(tracing));
  expect(trees.size).toBe(1);
  const lines = [...trees][0]!.split('\n');
  // Attempts by their line start, without the number (names will become `<call> attempt`).
  const attempts = lines.flatMap((line, i) => (/^[├└]─ ask attempt\b/.test(line) ? [i] : []));
  const retries = lines.flatMap((line, i) => (line.includes('• resilience.retry ') ? [i] : []));
  expect(attempts.length).toBeGreaterThanOrEqual(2);
  expect(retries.length).toBeGreaterThanOrEqual(attempts.length - 1);
  retries.forEach((retry, k) => {
    expect(retry).toBeGreaterThan(attempts[k]!);
    if (attempts[k + 1] !== undefined) expect(retry).toBeLessThan(attempts[k + 1]!);
  });
  const opened = lines.findIndex((line) => line.includes('circuit_breaker.to=open'));
  expect(opened).toBeGreaterThan(attempts[1]!);
  const rejected = lines.findIndex((line) => line.includes('• resilience.circuit_breaker.rejected'));
  const fallback = lines.findIndex((line) => /^[├└]─ ask fallback\b/.test(line));
  expect(rejected).toBeGreaterThan(opened);
  expect(fallback).toBeGreaterThan(rejected);
}

describe('the tree printer with real timers', () => {
  const tracing = useTracing();

  it('prints the same tree over 100 identical runs, in causal order', () => expectSameCausalTree(tracing));
});

describe('the span clock and the tree printer under fake timers', () => {
  const tracing = useFakeTimersAndTracing();

  it('follows a wall clock that jumps (vi.setSystemTime)', () => {
    vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
    trace.getTracer('test').startSpan('later').end();
    expect(ms(tracing().byName('later')[0]!.startTime) - Date.parse('2030-01-01T00:00:00Z')).toBeLessThan(3);
  });

  it('prints the same tree over 100 identical runs, in causal order, though every timestamp is equal', () =>
    expectSameCausalTree(tracing));
});
