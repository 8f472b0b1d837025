/**
 * `otlpSpanProcessor()`: the SDK's `BatchSpanProcessor` over OTLP/HTTP protobuf, sized
 * for bursts, that counts what it loses instead of dropping it in silence.
 */
import { type Context, createNoopMeter, type Meter, type MeterProvider, TraceFlags } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  type Span,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { countDroppedSpans } from '../telemetry/metrics.js';

/** Options of {@link otlpSpanProcessor}. Each falls back to its `OTEL_BSP_*` variable, then to the default. */
export interface ExportOptions {
  /**
   * OTLP/HTTP traces URL such as `http://127.0.0.1:4318/v1/traces`. Default: the
   * exporter's own (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT`
   * + `/v1/traces`, else `http://localhost:4318/v1/traces`).
   */
  readonly endpoint?: string;
  /** Use this exporter instead of OTLP/HTTP protobuf (`endpoint` is then ignored). */
  readonly exporter?: SpanExporter;
  /** Spans held while waiting for export; beyond it spans are dropped and counted (default 65536, `OTEL_BSP_MAX_QUEUE_SIZE`). */
  readonly maxQueueSize?: number;
  /** Spans per export request (default 2048, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`). */
  readonly maxExportBatchSize?: number;
  /** Longest a span waits before export, in ms (default 1000, `OTEL_BSP_SCHEDULE_DELAY`). */
  readonly exportDelayMs?: number;
  /** Time one export may take, the exporter's retries included, in ms (default 10000, `OTEL_BSP_EXPORT_TIMEOUT`). */
  readonly exportTimeoutMs?: number;
  /** Where the one-line warnings about lost spans go (default `console.warn`). */
  readonly warn?: (line: string) => void;
}

/** What became of the spans an {@link ExportSpanProcessor} was given. */
export interface DeliveryReport {
  /** Sampled spans handed to the processor. */
  readonly ended: number;
  /** Spans the collector accepted. */
  readonly exported: number;
  /** Spans dropped because the queue was full (raise `maxQueueSize`). */
  readonly dropped: number;
  /** Spans whose export failed after the exporter's retries (collector down, refused, timed out). */
  readonly undelivered: number;
  /** Spans still queued or in flight. */
  readonly pending: number;
}

/** A span processor that can say what became of its spans. */
export interface ExportSpanProcessor extends SpanProcessor {
  /** Counts so far; after `forceFlush()` or `shutdown()` resolved, `pending` is what never came back. */
  delivery(): DeliveryReport;
}

/** Defaults, from `npm run bench -- --export` (50k calls, 150k spans; see the README). */
const DEFAULTS = { maxQueueSize: 65_536, maxExportBatchSize: 2048, exportDelayMs: 1000, exportTimeoutMs: 10_000 } as const;

const ENV = {
  maxQueueSize: 'OTEL_BSP_MAX_QUEUE_SIZE',
  maxExportBatchSize: 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
  exportDelayMs: 'OTEL_BSP_SCHEDULE_DELAY',
  exportTimeoutMs: 'OTEL_BSP_EXPORT_TIMEOUT',
} as const;

/** `options[key]`, else its `OTEL_BSP_*` variable, else the default; a positive integer. */
function setting(options: ExportOptions, key: keyof typeof DEFAULTS): number {
  const given = options[key];
  const raw = process.env[ENV[key]];
  const value = given ?? (raw === undefined || raw.trim() === '' ? DEFAULTS[key] : Number(raw));
  if (!Number.isInteger(value) || value <= 0) {
    const source = given === undefined ? `${ENV[key]}=${raw}` : `${key}: ${String(given)}`;
    throw new RangeError(`otlpSpanProcessor: ${source} must be a positive integer`);
  }
  return value;
}

/** An exporter's answer (`ExportResult` of `@opentelemetry/core`, which is not a peer of this package). */
type ExportResult = Parameters<Parameters<SpanExporter['export']>[1]>[0];
/** `SUCCESS` / `.FAILED` of `@opentelemetry/core`. */
const SUCCESS = 0 as ExportResult['code'];
const FAILED = 1 as ExportResult['code'];

/** Exports running at once; the rest wait their turn (a flush hands over every batch at once). */
const EXPORT_CONCURRENCY = 4;

/**
 * Passes batches to `inner` at most `limit` at a time, queueing the rest (the OTLP
 * exporters fail batches beyond their own concurrency limit at once), and tells `record`
 * how each ended. `idle()` resolves once nothing is queued or in flight.
 */
class QueuedExporter implements SpanExporter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private idlers: Array<() => void> = [];
  private closing: Promise<void> | undefined;

  constructor(
    private readonly inner: SpanExporter,
    private readonly limit: number,
    private readonly record: (spans: number, result: ExportResult) => void,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    const start = () => {
      this.active++;
      let finished = false;
      const finish = (result: ExportResult) => {
        if (finished) return;
        finished = true;
        this.active--;
        this.record(spans.length, result);
        this.waiting.shift()?.();
        if (this.active === 0 && this.waiting.length === 0) for (const idle of this.idlers.splice(0)) idle();
        done(result);
      };
      try {
        this.inner.export(spans, finish);
      } catch (error) {
        finish({ code: FAILED, error: error instanceof Error ? error : new Error(String(error)) });
      }
    };
    if (this.active < this.limit) start();
    else this.waiting.push(start);
  }

  idle(): Promise<void> {
    if (this.active === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idlers.push(resolve));
  }

  shutdown(): Promise<void> {
    this.closing ??= this.idle().then(() => settled(this.inner.shutdown()));
    return this.closing;
  }

  forceFlush(): Promise<void> {
    return this.idle();
  }
}

/** A meter provider for the BatchSpanProcessor's own metrics that hears only its queue-full drops. */
function dropListener(onDrop: (count: number) => void): MeterProvider {
  const meter: Meter = Object.create(createNoopMeter());
  meter.createCounter = () =>
    ({
      add: (count: number, attributes?: Record<string, unknown>) => {
        if (attributes?.['error.type'] === 'queue_full') onDrop(count);
      },
    }) as ReturnType<Meter['createCounter']>;
  return { getMeter: () => meter };
}

/** Resolves when `promise` settles; never rejects. */
function settled(promise: Promise<unknown>): Promise<void> {
  return promise.then(
    () => undefined,
    () => undefined,
  );
}

/**
 * A `BatchSpanProcessor` exporting over OTLP/HTTP protobuf (`@opentelemetry/exporter-trace-otlp-proto`),
 * for `new NodeSDK({ spanProcessors: [otlpSpanProcessor()] })` or `startTelemetry()`.
 * Sized for bursts: the queue holds 65536 spans (the SDK's default, 2048, lost 98 % of
 * a 150k-span burst), batches of 2048, at most 1 s of delay. Spans dropped because the
 * queue is full and spans whose export failed are counted (`delivery()`, the metric
 * `resilience.telemetry.dropped_spans` by `error.type`) and announced with one warning
 * line each, naming the setting to raise. `forceFlush()` and `shutdown()` never reject.
 *
 * @throws RangeError when a size or duration (option or `OTEL_BSP_*` variable) is not a positive integer
 */
export function otlpSpanProcessor(options: ExportOptions = {}): ExportSpanProcessor {
  const maxQueueSize = setting(options, 'maxQueueSize');
  const maxExportBatchSize = Math.min(setting(options, 'maxExportBatchSize'), maxQueueSize);
  const exportTimeoutMs = setting(options, 'exportTimeoutMs');
  const warn = (line: string) => {
    try {
      (options.warn ?? console.warn)(line);
    } catch {
      // A failing warning must not reach span.end(), and so the user's call.
    }
  };
  const inner =
    options.exporter ??
    new OTLPTraceExporter({
      ...(options.endpoint === undefined ? {} : { url: options.endpoint }),
      timeoutMillis: exportTimeoutMs,
    });
  const counts = { ended: 0, exported: 0, dropped: 0, undelivered: 0 };
  let warnedDrop = false;
  let warnedUndelivered = false;
  const record = (spans: number, result: ExportResult) => {
    if (result.code === SUCCESS) {
      counts.exported += spans;
      return;
    }
    counts.undelivered += spans;
    const reason = result.error?.name ?? 'export_failed';
    countDroppedSpans(spans, reason);
    if (warnedUndelivered) return;
    warnedUndelivered = true;
    warn(
      `otel-resilience: ${spans} spans could not be exported (${result.error?.message ?? reason}); is the collector up? ` +
        'Later failures are only counted (resilience.telemetry.dropped_spans).',
    );
  };
  const exporter = new QueuedExporter(inner, EXPORT_CONCURRENCY, record);
  const batch = new BatchSpanProcessor({
    exporter,
    maxQueueSize,
    maxExportBatchSize,
    scheduledDelayMillis: setting(options, 'exportDelayMs'),
    exportTimeoutMillis: exportTimeoutMs,
    selfObsMeterProvider: dropListener((count) => {
      counts.dropped += count;
      countDroppedSpans(count, 'queue_full');
      if (warnedDrop) return;
      warnedDrop = true;
      warn(
        `otel-resilience: span export queue full (maxQueueSize ${maxQueueSize}), dropping spans; ` +
          'raise maxQueueSize (or OTEL_BSP_MAX_QUEUE_SIZE). Drops are counted in resilience.telemetry.dropped_spans.',
      );
    }),
  });
  let closed = false;
  return {
    onStart: (span: Span, parent: Context) => batch.onStart(span, parent),
    onEnd: (span: ReadableSpan) => {
      if (!closed && (span.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0) counts.ended++;
      batch.onEnd(span);
    },
    forceFlush: async () => {
      await settled(batch.forceFlush());
      await exporter.idle();
    },
    shutdown: async () => {
      closed = true;
      await settled(batch.shutdown());
      await exporter.shutdown();
    },
    delivery: () => ({
      ...counts,
      pending: Math.max(0, counts.ended - counts.exported - counts.dropped - counts.undelivered),
    }),
  };
}
