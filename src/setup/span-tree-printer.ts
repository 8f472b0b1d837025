/** `spanTreePrinter()`: a span processor that prints each finished trace as a span tree. */
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace';
import { printSpanTree, type SpanTreeOptions } from '../telemetry/span-tree.js';

/** Options of {@link spanTreePrinter}. */
export interface SpanTreePrinterOptions extends SpanTreeOptions {
  /** Where trees go (default `console.log`). */
  readonly printer?: (tree: string) => void;
}

/** Traces whose spans the printer holds while their local root has not ended. */
const MAX_PENDING_TRACES = 1000;

/** Prints a trace once its local root span ends; keeps spans per trace until then. */
class TreePrinter implements SpanProcessor {
  private readonly pending = new Map<string, ReadableSpan[]>();

  constructor(
    private readonly print: (tree: string) => void,
    private readonly options: SpanTreeOptions,
  ) {}

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    const traceId = span.spanContext().traceId;
    const spans = this.pending.get(traceId) ?? [];
    spans.push(span);
    const parent = span.parentSpanContext;
    if (parent !== undefined && !parent.isRemote) {
      this.pending.set(traceId, spans);
      // A span ending after its local root (an unread HTTP body) would wait forever: keep the newest traces only.
      if (this.pending.size > MAX_PENDING_TRACES) this.pending.delete(this.pending.keys().next().value!);
      return;
    }
    this.pending.delete(traceId);
    try {
      this.print(`trace ${traceId}\n${printSpanTree(spans, this.options)}`);
    } catch {
      // Printing must never break the traced call.
    }
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {
    this.pending.clear();
  }
}

/**
 * A span processor printing each finished trace (once its local root span ends) as an
 * indented span tree ({@link printSpanTree}) headed `trace <trace id>`; add it to a
 * NodeSDK's `spanProcessors`, or use `startTelemetry({ console: true })`. A span that
 * ends after its local root (an HTTP client span whose body was never read) is not in
 * the tree; at most 1000 unfinished traces are held. A failing printer is ignored.
 */
export function spanTreePrinter(options: SpanTreePrinterOptions = {}): SpanProcessor {
  const { printer = (tree: string) => console.log(tree), ...treeOptions } = options;
  return new TreePrinter(printer, treeOptions);
}
