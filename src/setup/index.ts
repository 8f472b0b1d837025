/**
 * `otel-resilience/setup`: OpenTelemetry for a process. `startTelemetry()` starts the
 * standard NodeSDK with burst-sized OTLP export and span trees in the terminal;
 * `otlpSpanProcessor()` and `spanTreePrinter()` add the same to a NodeSDK you already
 * run. Needs `@opentelemetry/sdk-node`, `@opentelemetry/sdk-trace` and
 * `@opentelemetry/exporter-trace-otlp-proto` (3.x line: 0.301 / 3.1; 2.x line: 0.223 / 2.12).
 */
export { SpanClockProcessor, spanClockNow } from '../telemetry/clock.js';
export { printSpanTree, type SpanTreeOptions } from '../telemetry/span-tree.js';
export { type DeliveryReport, type ExportOptions, type ExportSpanProcessor, otlpSpanProcessor } from './export-processor.js';
export { type SpanTreePrinterOptions, spanTreePrinter } from './span-tree-printer.js';
export { startTelemetry, type Telemetry, type TelemetryOptions } from './start-telemetry.js';
