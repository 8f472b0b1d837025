/**
 * Test helpers: record spans (and metrics) in memory, assert them with vitest matchers,
 * print them as a tree. Needs `@opentelemetry/sdk-trace` and
 * `@opentelemetry/context-async-hooks`; `installTestMetrics()` also
 * `@opentelemetry/sdk-metrics`, loaded only when it is called.
 */
import { createRequire } from 'node:module';
import { type AttributeValue, context, metrics, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import type * as SdkMetrics from '@opentelemetry/sdk-metrics';
import { type ReadableSpan, type SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { registeredTracerProvider } from '../setup/registered.js';
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
  /** Stops recording: unregisters what {@link installTestTracing} registered, or takes the recorder out of the SDK it joined. */
  uninstall(): Promise<void>;
}

/**
 * Keeps every sampled span as it ends, synchronously: the SDK's SimpleSpanProcessor
 * waits for a NodeSDK resource's detectors before it exports, so a test asserting right
 * after a call would find nothing.
 */
class RecordingProcessor implements SpanProcessor {
  spans: ReadableSpan[] = [];
  private stopped = false;

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if (!this.stopped && (span.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0) this.spans.push(span);
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {
    this.stopped = true;
  }
}

let saidCannotJoin = false;

/** Providers made by {@link installTestTracing}, which a later install may replace. */
const ownProviders = new WeakSet<object>();

/** The span processor list of an SDK tracer provider (2.x and 3.x keep it in the same place), if it has one. */
function processorsOf(provider: object): SpanProcessor[] | undefined {
  const active = (provider as { _activeSpanProcessor?: { _spanProcessors?: unknown } })._activeSpanProcessor;
  return Array.isArray(active?._spanProcessors) ? (active._spanProcessors as SpanProcessor[]) : undefined;
}

/**
 * Records every span finished in this process in memory, as it ends. Call in `beforeEach`, `uninstall()` in `afterEach`.
 *
 * Spans are on the span clock ({@link SpanClockProcessor}: sub-ms, causal order for `tree()`).
 *
 * - No SDK registered: installs a tracer provider and an AsyncLocalStorage context manager.
 * - An SDK registered by someone else (NodeSDK preloaded, e.g. with `--import`): adds the
 *   recorder to that provider instead of replacing it, so a trace stays whole — the
 *   spans of its instrumentations (HTTP clients) and ours land in the same recorder.
 *   A `SpanClockProcessor` goes first in that SDK for the test unless it has one.
 *   `uninstall()` takes both out again and leaves the SDK running.
 * - A registered provider that is not an SDK one: replaced for the test, with one
 *   warning line (once per process).
 */
export function installTestTracing(): SpanRecorder {
  const recorder = new RecordingProcessor();
  const existing = registeredTracerProvider();
  const attachTo = existing !== undefined && !ownProviders.has(existing) ? processorsOf(existing) : undefined;
  let uninstall: () => Promise<void>;
  if (attachTo !== undefined) {
    // The span clock goes first, for the test's duration, unless the SDK already has one.
    const clock = attachTo.some((p) => p instanceof SpanClockProcessor) ? undefined : new SpanClockProcessor();
    if (clock !== undefined) attachTo.unshift(clock);
    attachTo.push(recorder);
    uninstall = async () => {
      for (const added of [clock, recorder]) {
        const index = added === undefined ? -1 : attachTo.indexOf(added);
        if (index >= 0) attachTo.splice(index, 1);
      }
      await recorder.shutdown();
    };
  } else {
    if (existing !== undefined && !ownProviders.has(existing) && !saidCannotJoin) {
      saidCannotJoin = true;
      console.warn(
        'otel-resilience: installTestTracing(): the registered tracer provider is not an OpenTelemetry SDK one it can join; ' +
          'replacing it for the test (spans of instrumentations bound to it will not be recorded).',
      );
    }
    const provider = new TracerProvider({ spanProcessors: [new SpanClockProcessor(), recorder] });
    ownProviders.add(provider);
    trace.disable();
    context.disable();
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(provider);
    uninstall = async () => {
      if (registeredTracerProvider() === provider) {
        trace.disable();
        context.disable();
      }
      await provider.shutdown();
    };
  }
  const spans = () => [...recorder.spans];
  return {
    spans,
    byName: (name) => spans().filter((span) => span.name === name),
    tree: (options) => printSpanTree(spans(), options),
    reset: () => {
      recorder.spans = [];
    },
    uninstall,
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
 * Needs `@opentelemetry/sdk-metrics` (loaded on the first call). Call in `beforeEach`,
 * `uninstall()` in `afterEach`.
 *
 * @throws Error naming the package when `@opentelemetry/sdk-metrics` is not installed
 */
export function installTestMetrics(): MetricRecorder {
  let sdk: typeof SdkMetrics;
  try {
    sdk = createRequire(import.meta.url)('@opentelemetry/sdk-metrics');
  } catch (error) {
    throw new Error('installTestMetrics() needs @opentelemetry/sdk-metrics: npm install -D @opentelemetry/sdk-metrics', {
      cause: error,
    });
  }
  const exporter = new sdk.InMemoryMetricExporter(sdk.AggregationTemporality.CUMULATIVE);
  const reader = new sdk.PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 2 ** 30 });
  const provider = new sdk.MeterProvider({ readers: [reader] });
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
 * `expect(recorder).toHaveSpan('Llm.complete attempt', { status: 'error', parent: 'Llm.complete' })`.
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
 * The matcher types, to merge into vitest's (vitest 5's `Matchers` has two type
 * parameters, and every declaration must repeat them):
 * ```ts
 * declare module 'vitest' {
 *   interface Matchers<R extends void | Promise<void> = void | Promise<void>, T = unknown> extends SpanMatchers<R> {}
 * }
 * ```
 */
export interface SpanMatchers<R = unknown> {
  toHaveSpan(name: string, expected?: SpanExpectation): R;
}
