/**
 * Test helpers: record spans (and metrics) in memory, assert them with vitest matchers,
 * print them as a tree. Needs `@opentelemetry/sdk-trace` and
 * `@opentelemetry/context-async-hooks` (and `@opentelemetry/sdk-metrics` for metrics).
 */
import { type AttributeValue, context, metrics, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { SpanClockProcessor } from '../telemetry/clock.js';
import { printSpanTree, type SpanTreeOptions } from '../telemetry/span-tree.js';

export { SpanClockProcessor, spanClockNow } from '../telemetry/clock.js';
export { printSpanTree, type SpanTreeOptions };

/** Finished spans of a test, with helpers. */
export interface SpanRecorder {
  /** Every span finished since install or the last `reset()`, in end order. */
  spans(): ReadableSpan[];
  /** The spans named `name`. */
  byName(name: string): ReadableSpan[];
  /** The recorded spans as an indented tree ({@link printSpanTree}). */
  tree(options?: SpanTreeOptions): string;
  /** Forgets the recorded spans. */
  reset(): void;
  /** Unregisters the provider and context manager installed by {@link installTestTracing}. */
  uninstall(): Promise<void>;
}

/**
 * Installs a global tracer provider that keeps finished spans in memory, on the span clock
 * ({@link SpanClockProcessor}: sub-ms, causal order for `tree()`; exported
 * synchronously by a `SimpleSpanProcessor`) and an AsyncLocalStorage context manager,
 * replacing whatever was registered. Call in `beforeEach`, `uninstall()` in `afterEach`.
 */
export function installTestTracing(): SpanRecorder {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SpanClockProcessor(), new SimpleSpanProcessor({ exporter })] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  trace.disable();
  context.disable();
  context.setGlobalContextManager(contextManager);
  trace.setGlobalTracerProvider(provider);
  const spans = () => exporter.getFinishedSpans();
  return {
    spans,
    byName: (name) => spans().filter((span) => span.name === name),
    tree: (options) => printSpanTree(spans(), options),
    reset: () => exporter.reset(),
    uninstall: async () => {
      trace.disable();
      context.disable();
      await provider.shutdown();
    },
  };
}

/** One data point of a recorded metric. */
export interface MetricPoint {
  readonly attributes: Record<string, unknown>;
  /** A counter's or gauge's value, or a histogram's `{ count, sum }`. */
  readonly value: number | { count: number; sum: number };
}

/** Recorded metrics of a test. */
export interface MetricRecorder {
  /** Collects now; returns the points of the metric `name` (cumulative). */
  points(name: string): Promise<MetricPoint[]>;
  /** Unregisters the meter provider installed by {@link installTestMetrics}. */
  uninstall(): Promise<void>;
}

/**
 * Installs a global meter provider that keeps metrics in memory, collected on demand.
 * Needs `@opentelemetry/sdk-metrics`. Call in `beforeEach`, `uninstall()` in `afterEach`.
 */
export function installTestMetrics(): MetricRecorder {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 2 ** 30 });
  const provider = new MeterProvider({ readers: [reader] });
  metrics.disable();
  metrics.setGlobalMeterProvider(provider);
  return {
    points: async (name) => {
      exporter.reset();
      await reader.forceFlush();
      const data = exporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics));
      return data
        .filter((m) => m.descriptor.name === name)
        .flatMap((m) =>
          m.dataPoints.map((p) => {
            const raw = p.value as number | { count: number; sum?: number };
            const value = typeof raw === 'number' ? raw : { count: raw.count, sum: raw.sum ?? 0 };
            return { attributes: { ...p.attributes }, value };
          }),
        );
    },
    uninstall: async () => {
      metrics.disable();
      await provider.shutdown();
    },
  };
}

/** What {@link spanMatchers}' `toHaveSpan` checks; every field is optional. */
export interface SpanExpectation {
  /** `'ok'`, `'error'` or `'unset'`. */
  readonly status?: 'ok' | 'error' | 'unset';
  /** Attributes the span must have with these exact values (others may exist). */
  readonly attributes?: Record<string, AttributeValue>;
  /**
   * Events the span must have: names, or `{ name, attributes }` with a subset of
   * attributes. Each expected event must match a distinct event; order is not checked.
   */
  readonly events?: ReadonlyArray<string | { name: string; attributes?: Record<string, AttributeValue> }>;
  /** Name of the parent span, or `null` for a root span. */
  readonly parent?: string | null;
  /** How many spans with this name must match (default: at least one). */
  readonly times?: number;
}

const STATUS = { ok: SpanStatusCode.OK, error: SpanStatusCode.ERROR, unset: SpanStatusCode.UNSET } as const;

function attributesMatch(actual: Record<string, unknown> | undefined, expected: Record<string, AttributeValue>): boolean {
  return Object.entries(expected).every(([key, value]) => {
    const got = actual?.[key];
    return Array.isArray(value) ? JSON.stringify(got) === JSON.stringify(value) : got === value;
  });
}

/** Why `span` does not meet `expected`, or undefined when it does. */
function mismatch(span: ReadableSpan, expected: SpanExpectation, all: readonly ReadableSpan[]): string | undefined {
  if (expected.status !== undefined && span.status.code !== STATUS[expected.status]) {
    return `status is ${SpanStatusCode[span.status.code]}, expected ${expected.status.toUpperCase()}`;
  }
  if (expected.attributes !== undefined && !attributesMatch(span.attributes, expected.attributes)) {
    return `attributes ${JSON.stringify(span.attributes)} lack ${JSON.stringify(expected.attributes)}`;
  }
  if (expected.events !== undefined) {
    const unused = [...span.events];
    for (const want of expected.events) {
      const { name, attributes = {} } = typeof want === 'string' ? { name: want } : want;
      const index = unused.findIndex((e) => e.name === name && attributesMatch(e.attributes, attributes));
      if (index < 0) return `no event matching ${JSON.stringify(want)} among [${span.events.map((e) => e.name).join(', ')}]`;
      unused.splice(index, 1);
    }
  }
  if (expected.parent !== undefined) {
    const parentId = span.parentSpanContext?.spanId;
    const parent = all.find((s) => s.spanContext().spanId === parentId);
    if (expected.parent === null ? parentId !== undefined : parent?.name !== expected.parent) {
      return `parent is ${parent?.name ?? (parentId ? 'a span not recorded' : 'none')}, expected ${expected.parent ?? 'none'}`;
    }
  }
  return undefined;
}

type Received = SpanRecorder | readonly ReadableSpan[];

/**
 * Vitest matchers for recorded spans. Register once with `expect.extend(spanMatchers)`
 * and declare the types (see {@link SpanMatchers}), then:
 * `expect(recorder).toHaveSpan('Llm.complete attempt 2', { status: 'error', parent: 'Llm.complete' })`.
 * Failure messages include the whole span tree.
 */
export const spanMatchers = {
  toHaveSpan(received: Received, name: string, expected: SpanExpectation = {}) {
    const all = Array.isArray(received) ? (received as readonly ReadableSpan[]) : (received as SpanRecorder).spans();
    const named = all.filter((span) => span.name === name);
    const reasons = named.map((span) => mismatch(span, expected, all));
    const matching = reasons.filter((reason) => reason === undefined).length;
    const pass = expected.times === undefined ? matching > 0 : matching === expected.times;
    const detail =
      named.length === 0
        ? `no span named "${name}"`
        : expected.times !== undefined
          ? `${matching} matching span(s), expected ${expected.times}; ${reasons.filter(Boolean).join('; ')}`
          : reasons.join('; ');
    return {
      pass,
      message: () =>
        pass
          ? `expected no span "${name}" matching ${JSON.stringify(expected)}\n\n${printSpanTree(all)}`
          : `expected a span "${name}" matching ${JSON.stringify(expected)}: ${detail}\n\nRecorded spans:\n${printSpanTree(all)}`,
    };
  },
};

/**
 * The matcher types, to merge into vitest's:
 * `declare module 'vitest' { interface Matchers<T = any> extends SpanMatchers<T> {} }`
 */
export interface SpanMatchers<R = unknown> {
  toHaveSpan(name: string, expected?: SpanExpectation): R;
}
