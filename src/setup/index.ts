/**
 * `startTelemetry()`: registers an OpenTelemetry tracer provider that exports over
 * OTLP/HTTP (to the collector in `collector/`) and/or prints span trees in the terminal.
 * Needs `@opentelemetry/sdk-trace`, `@opentelemetry/resources`,
 * `@opentelemetry/context-async-hooks` and `@opentelemetry/exporter-trace-otlp-http`.
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { printSpanTree } from '../telemetry/span-tree.js';

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
  /** The registered provider. */
  readonly tracerProvider: TracerProvider;
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
 * global tracer provider with batch export over OTLP/HTTP (and/or console trees).
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
  const processors: SpanProcessor[] = [];
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
  const tracerProvider = new TracerProvider({
    resource: defaultResource().merge(resourceFromAttributes(attributes)),
    spanProcessors: processors,
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(tracerProvider);
  const flushTimeoutMs = options.flushTimeoutMs ?? 3000;
  return {
    tracerProvider,
    flush: () => bounded(tracerProvider.forceFlush(), flushTimeoutMs),
    shutdown: async () => {
      const ok = await bounded(tracerProvider.shutdown(), flushTimeoutMs);
      trace.disable();
      context.disable();
      return ok;
    },
  };
}
