/**
 * `npm run bench:export`: a burst of resilient calls (each fails once and succeeds on the
 * retry: a call span and two attempt spans) exported through `otlpSpanProcessor()` to a
 * local OTLP/HTTP receiver that counts the spans it gets. Compares OTLP/HTTP protobuf
 * with JSON, and the SDK's BatchSpanProcessor sizes with ours; prints spans produced,
 * received, dropped (counted) and undelivered, and how long producing and delivering took.
 * The last rows let each attempt turn the event loop once, as real I/O would.
 * `--calls N` (default 50000).
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { ResiliencePipeline } from 'otel-resilience';
import { type ExportOptions, otlpSpanProcessor } from 'otel-resilience/setup';

const { values: args } = parseArgs({ options: { calls: { type: 'string', default: '50000' } } });
const CALLS = Number(args.calls);
const CONCURRENCY = 100;

/** Reads a protobuf varint at `at`; returns [value, next offset]. */
function varint(buf: Buffer, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  let i = at;
  for (;;) {
    const byte = buf[i++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, i];
    shift += 7;
  }
}

/** The length-delimited fields `field` of the protobuf message in `buf[start, end)`. */
function fields(buf: Buffer, start: number, end: number, field: number): Array<[number, number]> {
  const found: Array<[number, number]> = [];
  let i = start;
  while (i < end) {
    const [key, afterKey] = varint(buf, i);
    const wire = key & 7;
    i = afterKey;
    if (wire === 0) [, i] = varint(buf, i);
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const [length, afterLength] = varint(buf, i);
      if (key >>> 3 === field) found.push([afterLength, afterLength + length]);
      i = afterLength + length;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return found;
}

/** Spans in an ExportTraceServiceRequest: resource_spans(1) → scope_spans(2) → spans(2). */
function protobufSpans(buf: Buffer): number {
  let count = 0;
  for (const [rs, re] of fields(buf, 0, buf.length, 1)) {
    for (const [ss, se] of fields(buf, rs, re, 2)) count += fields(buf, ss, se, 2).length;
  }
  return count;
}

function jsonSpans(buf: Buffer): number {
  const body = JSON.parse(buf.toString('utf8')) as { resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: unknown[] }> }> };
  let count = 0;
  for (const rs of body.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) count += ss.spans?.length ?? 0;
  return count;
}

async function body(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A local OTLP/HTTP traces receiver that counts spans and answers 200. */
async function startReceiver() {
  const state = { spans: 0, requests: 0, bytes: 0 };
  const server = createServer(async (request, response) => {
    const buf = await body(request);
    state.requests++;
    state.bytes += buf.length;
    state.spans += request.headers['content-type']?.includes('json') ? jsonSpans(buf) : protobufSpans(buf);
    response.writeHead(200, { 'content-type': request.headers['content-type'] ?? 'application/x-protobuf' });
    response.end(request.headers['content-type']?.includes('json') ? '{}' : '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  return { url, state, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

interface Row {
  readonly setup: string;
  readonly produced: number;
  readonly received: number;
  readonly dropped: number;
  readonly undelivered: number;
  readonly produceMs: number;
  readonly deliverMs: number;
  readonly requests: number;
  readonly mb: number;
  readonly heapMb: number;
}

async function run(setup: string, format: 'protobuf' | 'json', sizes: ExportOptions, turnLoop = false): Promise<Row> {
  const receiver = await startReceiver();
  const exporter = format === 'json' ? new JsonExporter({ url: receiver.url }) : new ProtoExporter({ url: receiver.url });
  const processor = otlpSpanProcessor({ ...sizes, exporter, warn: () => {} });
  const provider = new TracerProvider({ spanProcessors: [processor] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  const pipeline = new ResiliencePipeline({ name: 'Burst.call', retry: { maxRetries: 1, baseDelayMs: 0 } });
  globalThis.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const seen = new Set<number>();
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < CALLS) {
      const call = next++;
      await pipeline.execute(async () => {
        if (turnLoop) await new Promise(setImmediate); // one turn of the event loop, as real I/O gives
        if (!seen.has(call)) {
          seen.add(call);
          throw Object.assign(new Error('unavailable'), { status: 503 });
        }
        return call;
      });
      seen.delete(call);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const produceMs = performance.now() - started;
  globalThis.gc?.();
  const heapMb = Math.round((process.memoryUsage().heapUsed - heapBefore) / 1e6);
  await provider.shutdown();
  const deliverMs = performance.now() - started;
  const report = processor.delivery();
  trace.disable();
  context.disable();
  await receiver.close();
  return {
    setup: `${format}, ${setup}`,
    produced: report.ended,
    received: receiver.state.spans,
    dropped: report.dropped,
    undelivered: report.undelivered,
    produceMs: Math.round(produceMs),
    deliverMs: Math.round(deliverMs),
    requests: receiver.state.requests,
    mb: Math.round(receiver.state.bytes / 1e5) / 10,
    heapMb,
  };
}

const SDK_DEFAULTS: ExportOptions = { maxQueueSize: 2048, maxExportBatchSize: 512, exportDelayMs: 5000 };
const rows: Row[] = [];
for (const format of ['protobuf', 'json'] as const) {
  rows.push(await run('SDK BatchSpanProcessor defaults (2048 / 512 / 5000 ms)', format, SDK_DEFAULTS));
  rows.push(await run('queue 16384, batch 2048', format, { maxQueueSize: 16_384, maxExportBatchSize: 2048 }));
  rows.push(await run('otlpSpanProcessor defaults', format, {}));
  rows.push(await run('queue 262144, batch 2048', format, { maxQueueSize: 262_144, maxExportBatchSize: 2048 }));
}
rows.push(await run('otlpSpanProcessor defaults, each attempt turns the event loop once', 'protobuf', {}, true));
rows.push(await run('SDK defaults, each attempt turns the event loop once', 'protobuf', SDK_DEFAULTS, true));
console.log(`${CALLS} calls, each failing once and retried (3 spans per call), ${CONCURRENCY} at a time\n`);
console.log(
  [
    'setup',
    'produced',
    'received',
    'dropped (counted)',
    'undelivered',
    'produce ms',
    'deliver ms',
    'requests',
    'MB sent',
    'heap MB held',
  ].join(' | '),
);
for (const r of rows) {
  console.log(
    [r.setup, r.produced, r.received, r.dropped, r.undelivered, r.produceMs, r.deliverMs, r.requests, r.mb, r.heapMb].join(' | '),
  );
}
const silent = rows.filter((r) => r.produced !== r.received + r.dropped + r.undelivered);
if (silent.length > 0) {
  console.log(`\nFAIL: spans lost without being counted in: ${silent.map((r) => r.setup).join('; ')}`);
  process.exitCode = 1;
}
