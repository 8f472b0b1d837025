/**
 * `startTelemetry()`: registers an OpenTelemetry tracer provider that exports over
 * OTLP/HTTP (to the collector in `collector/`) and/or prints span trees in the terminal.
 * Needs `@opentelemetry/sdk-trace`, `@opentelemetry/resources`,
 * `@opentelemetry/context-async-hooks` and `@opentelemetry/exporter-trace-otlp-http`;
 * for metrics also `@opentelemetry/sdk-metrics` and `@opentelemetry/exporter-metrics-otlp-http`.
 */
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, type ReadableSpan, type SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { SpanClockProcessor } from '../telemetry/clock.js';
import { printSpanTree } from '../telemetry/span-tree.js';

export { SpanClockProcessor, spanClockNow } from '../telemetry/clock.js';
export { printSpanTree, type SpanTreeOptions } from '../telemetry/span-tree.js';

/** Options of {@link startTelemetry}. */
export interface TelemetryOptions {
  /** `service.name` (default: `OTEL_SERVICE_NAME`, else the SDK default `unknown_service:node`). */
  readonly serviceName?: string;
  /**
   * Where to send traces: an OTLP/HTTP traces URL such as
   * `http://127.0.0.1:4318/v1/traces`, or `false` for no export. Default: the standard
   * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT` variables, else
   * `http://localhost:4318/v1/traces`.
   */
  readonly endpoint?: string | false;
  /** Print each finished trace as a span tree to `printer` (default false). */
  readonly console?: boolean;
  /** Where console trees go (default `console.log`). */
  readonly printer?: (tree: string) => void;
  /**
   * Also export the SDK's metrics (`resilience.events`, `resilience.attempt.duration`,
   * `resilience.circuit_breaker.state`) over OTLP/HTTP, to the traces endpoint's
   * `/v1/metrics` (default false: Jaeger takes traces only; send metrics to a collector).
   */
  readonly metrics?: boolean;
  /** How often metrics are exported, in ms (default 10000). */
  readonly metricsIntervalMs?: number;
  /** More span processors to register, e.g. an in-memory one for printing a trace later. */
  readonly spanProcessors?: readonly SpanProcessor[];
  /** Extra resource attributes. */
  readonly resourceAttributes?: Record<string, string | number | boolean>;
  /** Batch delay before export, in ms (default 1000). */
  readonly exportDelayMs?: number;
  /** Time one export may take, retries included, in ms (default 5000). */
  readonly exportTimeoutMs?: number;
  /** Longest that `flush()` / `shutdown()` wait, in ms (default 3000). */
  readonly flushTimeoutMs?: number;
}

/** What {@link startTelemetry} returns. */
export interface Telemetry {
  /** The registered tracer provider. */
  readonly tracerProvider: TracerProvider;
  /** The registered meter provider, with `metrics: true`. */
  readonly meterProvider: MeterProvider | undefined;
  /** Exports what is buffered. Resolves `true` on success, `false` on failure or timeout; never rejects. */
  flush(): Promise<boolean>;
  /** Flushes and unregisters the provider. Never rejects; never waits longer than `flushTimeoutMs`. */
  shutdown(): Promise<boolean>;
}

/** Prints a trace once its local root span ends; keeps spans per trace until then. */
class TreePrinter implements SpanProcessor {
  private readonly pending = new Map<string, ReadableSpan[]>();

  constructor(private readonly print: (tree: string) => void) {}

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    const traceId = span.spanContext().traceId;
    const spans = this.pending.get(traceId) ?? [];
    spans.push(span);
    const parent = span.parentSpanContext;
    if (parent !== undefined && !parent.isRemote) {
      this.pending.set(traceId, spans);
      return;
    }
    this.pending.delete(traceId);
    try {
      this.print(`trace ${traceId}\n${printSpanTree(spans)}`);
    } catch {
      // Printing must never break the traced call.
    }
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {
    this.pending.clear();
  }
}

/** Resolves `true` when `promise` fulfils within `ms`, `false` on rejection or timeout. */
function bounded(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    timer.unref();
    promise.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(false);
      },
    );
  });
}

/**
 * Starts tracing for this process: registers an AsyncLocalStorage context manager and a
 * global tracer provider with batch export over OTLP/HTTP (and/or console trees), and
 * with `metrics: true` a meter provider exporting the SDK's metrics over OTLP/HTTP.
 * Export failures never surface to the application: with the collector down, spans are
 * dropped after the exporter's own retries; `flush()` and `shutdown()` resolve `false`
 * instead of rejecting and never keep the process alive.
 *
 * @example
 * const telemetry = startTelemetry({ serviceName: 'agent' });
 * // ... run the app ...
 * await telemetry.shutdown();
 */
export function startTelemetry(options: TelemetryOptions = {}): Telemetry {
  const processors: SpanProcessor[] = [new SpanClockProcessor()]; // first: one sub-ms clock, causal order
  if (options.endpoint !== false) {
    const exporter = new OTLPTraceExporter({
      ...(options.endpoint === undefined ? {} : { url: options.endpoint }),
      timeoutMillis: options.exportTimeoutMs ?? 5000,
    });
    processors.push(new BatchSpanProcessor({ exporter, scheduledDelayMillis: options.exportDelayMs ?? 1000 }));
  }
  processors.push(...(options.spanProcessors ?? []));
  if (options.console) processors.push(new TreePrinter(options.printer ?? ((tree) => console.log(tree))));
  const attributes: Record<string, string | number | boolean> = { ...options.resourceAttributes };
  const serviceName = options.serviceName ?? process.env.OTEL_SERVICE_NAME;
  if (serviceName) attributes['service.name'] = serviceName;
  const resource = defaultResource().merge(resourceFromAttributes(attributes));
  const tracerProvider = new TracerProvider({ resource, spanProcessors: processors });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(tracerProvider);
  let meterProvider: MeterProvider | undefined;
  if (options.metrics) {
    const url = typeof options.endpoint === 'string' ? options.endpoint.replace(/\/v1\/traces$/, '/v1/metrics') : undefined;
    const exporter = new OTLPMetricExporter({
      ...(url === undefined ? {} : { url }),
      timeoutMillis: options.exportTimeoutMs ?? 5000,
    });
    meterProvider = new MeterProvider({
      resource,
      readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: options.metricsIntervalMs ?? 10000 })],
    });
    metrics.setGlobalMeterProvider(meterProvider);
  }
  const flushTimeoutMs = options.flushTimeoutMs ?? 3000;
  return {
    tracerProvider,
    meterProvider,
    flush: async () => {
      const [traces, metered] = await Promise.all([
        bounded(tracerProvider.forceFlush(), flushTimeoutMs),
        meterProvider === undefined ? true : bounded(meterProvider.forceFlush(), flushTimeoutMs),
      ]);
      return traces && metered;
    },
    shutdown: async () => {
      const [traces, metered] = await Promise.all([
        bounded(tracerProvider.shutdown(), flushTimeoutMs),
        meterProvider === undefined ? true : bounded(meterProvider.shutdown(), flushTimeoutMs),
      ]);
      trace.disable();
      context.disable();
      if (meterProvider !== undefined) metrics.disable();
      return traces && metered;
    },
  };
}
