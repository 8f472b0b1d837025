/**
 * `startTelemetry()`: the standard `@opentelemetry/sdk-node` NodeSDK with burst-sized
 * OTLP export and span trees in the terminal — or, when an SDK is already registered,
 * nothing at all but one line saying so.
 */
import { metrics, trace } from '@opentelemetry/api';
import { NodeSDK, type NodeSDKConfiguration } from '@opentelemetry/sdk-node';
import type { TracerProvider as SdkTracerProvider, SpanProcessor } from '@opentelemetry/sdk-trace';
import { SpanClockProcessor } from '../telemetry/clock.js';
import { type DeliveryReport, type ExportOptions, type ExportSpanProcessor, otlpSpanProcessor } from './export-processor.js';
import { registeredTracerProvider } from './registered.js';
import { defaultResourceDetectors } from './resource-detectors.js';
import { spanTreePrinter } from './span-tree-printer.js';

/** Options of {@link startTelemetry}. */
export interface TelemetryOptions extends Omit<ExportOptions, 'endpoint' | 'exporter'> {
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
   * Also let the NodeSDK export metrics (`resilience.events`, `resilience.attempt.duration`,
   * `resilience.circuit_breaker.state`, `resilience.telemetry.dropped_spans`), configured
   * by the standard `OTEL_METRICS_EXPORTER`, `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` and
   * `OTEL_METRIC_EXPORT_INTERVAL` variables (default false: Jaeger takes traces only).
   */
  readonly metrics?: boolean;
  /** Instrumentations to register, e.g. `[new UndiciInstrumentation()]` for fetch client spans. */
  readonly instrumentations?: NodeSDKConfiguration['instrumentations'];
  /** More span processors, e.g. an in-memory one for printing a trace later. */
  readonly spanProcessors?: readonly SpanProcessor[];
  /** Anything else for the NodeSDK (sampler, resource, resourceDetectors, ...); the options above win, its `spanProcessors` are added. */
  readonly sdk?: Partial<NodeSDKConfiguration>;
  /** Longest that `flush()` / `shutdown()` wait, in ms (default 3000). */
  readonly flushTimeoutMs?: number;
}

/** What {@link startTelemetry} returns. */
export interface Telemetry {
  /** False when an SDK was already registered and `startTelemetry()` registered nothing. */
  readonly registered: boolean;
  /**
   * The tracer provider this call registered; when it registered none, the one that is
   * registered (someone else's: give it to instrumentations, leave its shutdown to its owner).
   */
  readonly tracerProvider: SdkTracerProvider;
  /**
   * Resolves once resource detection finished. Detectors that answer asynchronously
   * (`host.id`, cloud detectors you add) make the SDK's `SimpleSpanProcessor` hold spans
   * back until then, so an in-memory exporter in `spanProcessors` may not have them yet.
   * Never rejects.
   */
  readonly ready: Promise<void>;
  /** What became of the exported spans (all zero without export). */
  delivery(): DeliveryReport;
  /**
   * Exports what is buffered. Resolves `true` when every span so far was delivered,
   * `false` when some were dropped or undelivered or the flush timed out (see
   * `delivery()`); never rejects. Touches only what this call made.
   */
  flush(): Promise<boolean>;
  /**
   * Flushes and shuts down what this call made, and unregisters its providers if they are
   * still the registered ones. Resolves like `flush()`; never rejects; waits at most
   * `flushTimeoutMs`. Prints one line when spans were lost.
   */
  shutdown(): Promise<boolean>;
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

const NOTHING: DeliveryReport = Object.freeze({ ended: 0, exported: 0, dropped: 0, undelivered: 0, pending: 0 });

let saidAlreadyRegistered = false;

/**
 * Starts resolving the NodeSDK resource's asynchronous attributes at once, so that spans
 * ending later are not held back waiting for them. Reads the NodeSDK's `_resource`
 * (private; without it, this resolves at once and changes nothing).
 */
function resolveResource(sdk: NodeSDK): Promise<void> {
  const resource = (sdk as unknown as { _resource?: { waitForAsyncAttributes?: () => Promise<void> } })._resource;
  try {
    return Promise.resolve(resource?.waitForAsyncAttributes?.()).then(
      () => undefined,
      () => undefined,
    );
  } catch {
    return Promise.resolve();
  }
}

/**
 * The span processors of `options`, in order: the span clock (first: one sub-ms clock,
 * causal order), export, the caller's, the console printer. The one place the pipeline
 * of spans is assembled.
 */
function assembleSpanProcessors(options: TelemetryOptions): { processors: SpanProcessor[]; exporting?: ExportSpanProcessor } {
  const processors: SpanProcessor[] = [new SpanClockProcessor()];
  let exporting: ExportSpanProcessor | undefined;
  if (options.endpoint !== false) {
    const { endpoint, maxQueueSize, maxExportBatchSize, exportDelayMs, exportTimeoutMs, warn } = options;
    exporting = otlpSpanProcessor({ endpoint, maxQueueSize, maxExportBatchSize, exportDelayMs, exportTimeoutMs, warn });
    processors.push(exporting);
  }
  processors.push(...(options.spanProcessors ?? []), ...(options.sdk?.spanProcessors ?? []));
  if (options.console) processors.push(spanTreePrinter(options.printer === undefined ? {} : { printer: options.printer }));
  return exporting === undefined ? { processors } : { processors, exporting };
}

/**
 * Starts OpenTelemetry for this process with the standard NodeSDK
 * (`@opentelemetry/sdk-node`): the `OTEL_*` variables, its resource detectors
 * (`OTEL_RESOURCE_ATTRIBUTES`, `service.instance.id`, host, process, OS; `host.id`
 * only with `OTEL_NODE_RESOURCE_DETECTORS` or `sdk.resourceDetectors`), the
 * AsyncLocalStorage context manager, the given `instrumentations`; traces exported
 * through {@link otlpSpanProcessor} (OTLP/HTTP protobuf, sized for bursts, losses
 * counted and reported) and/or printed as span trees. No logs are exported; metrics
 * only with `metrics: true`.
 *
 * When a tracer provider is already registered (you run NodeSDK yourself), it prints one
 * line saying so (once per process), registers nothing and returns a `Telemetry` whose
 * `flush()`/`shutdown()` do nothing: add `otlpSpanProcessor()` and `spanTreePrinter()`
 * to your NodeSDK instead. Export failures never surface to the application;
 * `flush()`/`shutdown()` resolve `false` instead of rejecting and never keep the process alive.
 *
 * @example
 * const telemetry = startTelemetry({ serviceName: 'agent', instrumentations: [new UndiciInstrumentation()] });
 * // ... run the app ...
 * await telemetry.shutdown();
 * @throws RangeError for an export size or duration that is not a positive integer
 */
export function startTelemetry(options: TelemetryOptions = {}): Telemetry {
  const flushTimeoutMs = options.flushTimeoutMs ?? 3000;
  if (!Number.isInteger(flushTimeoutMs) || flushTimeoutMs <= 0) {
    throw new RangeError(`startTelemetry: flushTimeoutMs must be a positive integer, got ${String(options.flushTimeoutMs)}`);
  }
  if (registeredTracerProvider() !== undefined) {
    if (!saidAlreadyRegistered) {
      saidAlreadyRegistered = true;
      console.warn(
        'otel-resilience: startTelemetry(): an OpenTelemetry SDK is already registered (NodeSDK?); registering nothing. ' +
          "Add otlpSpanProcessor() / spanTreePrinter() from 'otel-resilience/setup' to its spanProcessors instead.",
      );
    }
    return {
      registered: false,
      tracerProvider: registeredTracerProvider() as SdkTracerProvider,
      ready: Promise.resolve(),
      delivery: () => NOTHING,
      flush: async () => true,
      shutdown: async () => true,
    };
  }
  const { processors, exporting } = assembleSpanProcessors(options);
  const serviceName = options.serviceName ?? options.sdk?.serviceName;
  const detectors =
    options.sdk?.resourceDetectors ?? (process.env.OTEL_NODE_RESOURCE_DETECTORS ? undefined : defaultResourceDetectors());
  const sdk = new NodeSDK({
    ...options.sdk,
    ...(detectors === undefined ? {} : { resourceDetectors: detectors }),
    ...(serviceName === undefined ? {} : { serviceName }),
    spanProcessors: processors,
    instrumentations: options.instrumentations ?? options.sdk?.instrumentations ?? [],
    ...(options.metrics ? {} : { metricReaders: [] }),
    logRecordProcessors: options.sdk?.logRecordProcessors ?? [],
  });
  sdk.start();
  const ready = resolveResource(sdk);
  const tracerProvider = registeredTracerProvider();
  const meterProvider = options.metrics ? metrics.getMeterProvider() : undefined;
  const delivered = () => {
    const report = exporting?.delivery() ?? NOTHING;
    return report.dropped === 0 && report.undelivered === 0 && report.pending === 0;
  };
  let shutdown: Promise<boolean> | undefined;
  return {
    registered: tracerProvider !== undefined,
    tracerProvider: (tracerProvider ?? trace.getTracerProvider()) as SdkTracerProvider,
    ready,
    delivery: () => exporting?.delivery() ?? NOTHING,
    flush: async () => {
      const forced = tracerProvider as { forceFlush?: () => Promise<void> } | undefined;
      const flushed = await bounded(forced?.forceFlush?.() ?? Promise.resolve(), flushTimeoutMs);
      return flushed && delivered();
    },
    shutdown: () => {
      shutdown ??= bounded(sdk.shutdown(), flushTimeoutMs).then((done) => {
        if (tracerProvider !== undefined && registeredTracerProvider() === tracerProvider) trace.disable();
        if (meterProvider !== undefined && metrics.getMeterProvider() === meterProvider) metrics.disable();
        const report = exporting?.delivery() ?? NOTHING;
        const lost = report.dropped + report.undelivered + report.pending;
        if (lost > 0) {
          console.warn(
            `otel-resilience: of ${report.ended} spans, ${report.exported} exported, ${report.dropped} dropped (queue full), ` +
              `${report.undelivered} undelivered, ${report.pending} never confirmed.`,
          );
        }
        return done && lost === 0;
      });
      return shutdown;
    },
  };
}
