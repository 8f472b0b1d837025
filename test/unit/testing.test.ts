import { context, trace as otelTrace, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ResiliencePipeline, resilient, traced } from '../../src/index.js';
import { otlpSpanProcessor, startTelemetry } from '../../src/setup/index.js';
import { registeredTracerProvider } from '../../src/setup/registered.js';
import { installTestTracing, spanMatchers } from '../../src/testing/index.js';
import { useTracing } from '../support/hooks.js';

describe('toHaveSpan', () => {
  const tracing = useTracing();

  it('fails with the reason and the span tree', async () => {
    await new ResiliencePipeline({ name: 'op', retry: { baseDelayMs: 0 } }).execute(async () => 'ok');
    const check = (name: string, expected = {}) => spanMatchers.toHaveSpan(tracing(), name, expected);
    expect(check('op').pass).toBe(true);
    const missing = check('nope');
    expect(missing.pass).toBe(false);
    expect(missing.message()).toContain('no span named "nope"');
    expect(missing.message()).toMatch(/└─ op attempt .* attempt=1/);
    expect(check('op', { status: 'error' }).message()).toContain('status is UNSET, expected ERROR');
    expect(check('op attempt', { parent: null }).pass).toBe(false);
    expect(check('op attempt', { parent: 'op' }).pass).toBe(true);
    expect(check('op', { attributes: { 'resilience.attempts': 2 } }).pass).toBe(false);
    expect(check('op', { events: ['resilience.retry'] }).pass).toBe(false);
    expect(check('op', { times: 2 }).pass).toBe(false);
  });
});

describe('instrumentation failures never break the call', () => {
  afterEach(() => otelTrace.disable());

  it('runs the work untraced when the tracer throws', async () => {
    const broken = {
      getTracer: () =>
        ({
          startSpan() {
            throw new Error('tracer exploded');
          },
        }) as unknown as Tracer,
    } as TracerProvider;
    otelTrace.setGlobalTracerProvider(broken);
    expect(traced((a: number) => a * 2)(21)).toBe(42);
    await expect(resilient(async () => 'still works')()).resolves.toBe('still works');
  });
});

describe('startTelemetry console mode', () => {
  it('prints each finished trace as a tree', async () => {
    const printed: string[] = [];
    const telemetry = startTelemetry({ endpoint: false, console: true, printer: (tree) => printed.push(tree) });
    await new ResiliencePipeline({ name: 'printed', retry: false }).execute(async () => 1);
    await telemetry.shutdown();
    expect(printed).toHaveLength(1);
    expect(printed[0]).toMatch(/^trace [0-9a-f]{32}\nprinted \([\d.]+ ms\) {2}attempts=1 outcome=success$/);
  });
});

/** An exporter that answers only when told to, so spans pile up in the queue. */
function heldExporter() {
  const held: Array<() => void> = [];
  const exported: ReadableSpan[] = [];
  let released = false;
  const exporter: SpanExporter = {
    export: (spans, done) => {
      const answer = () => {
        exported.push(...spans);
        done({ code: 0 });
      };
      if (released) answer();
      else held.push(answer);
    },
    shutdown: async () => {},
  };
  const release = () => {
    released = true;
    for (const answer of held.splice(0)) answer();
  };
  return { exporter, exported, release };
}

describe('otlpSpanProcessor', () => {
  afterEach(() => {
    otelTrace.disable();
    context.disable();
  });

  it('counts spans dropped from a full queue and says so once, naming the setting', async () => {
    const { exporter, exported, release } = heldExporter();
    const warn = vi.fn();
    const processor = otlpSpanProcessor({ exporter, maxQueueSize: 4, maxExportBatchSize: 2, exportDelayMs: 60_000, warn });
    const sdk = new NodeSDK({ spanProcessors: [processor], metricReaders: [], logRecordProcessors: [], instrumentations: [] });
    sdk.start();
    const tracer = otelTrace.getTracer('t');
    for (let i = 0; i < 10; i++) tracer.startSpan(`s${i}`).end();
    // 2 handed to the (held) exporter, 4 queued, 4 dropped.
    expect(processor.delivery()).toEqual({ ended: 10, exported: 0, dropped: 4, undelivered: 0, pending: 6 });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[0]).toMatch(/queue full \(maxQueueSize 4\).*raise maxQueueSize \(or OTEL_BSP_MAX_QUEUE_SIZE\)/);
    release();
    await processor.forceFlush();
    await sdk.shutdown();
    expect(exported).toHaveLength(6);
    expect(processor.delivery()).toEqual({ ended: 10, exported: 6, dropped: 4, undelivered: 0, pending: 0 });
  });

  it('counts spans whose export failed as undelivered', async () => {
    const warn = vi.fn();
    const exporter: SpanExporter = {
      export: (_spans, done) => done({ code: 1, error: new Error('connect ECONNREFUSED 127.0.0.1:9') }),
      shutdown: async () => {},
    };
    const processor = otlpSpanProcessor({ exporter, warn });
    const sdk = new NodeSDK({ spanProcessors: [processor], metricReaders: [], logRecordProcessors: [], instrumentations: [] });
    sdk.start();
    otelTrace.getTracer('t').startSpan('lost').end();
    await processor.forceFlush();
    await sdk.shutdown();
    expect(processor.delivery()).toMatchObject({ ended: 1, exported: 0, undelivered: 1, pending: 0 });
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('could not be exported (connect ECONNREFUSED 127.0.0.1:9)'));
  });

  it('rejects a size that is not a positive integer, naming the option', () => {
    expect(() => otlpSpanProcessor({ maxQueueSize: 0 })).toThrow(
      new RangeError('otlpSpanProcessor: maxQueueSize: 0 must be a positive integer'),
    );
  });
});

describe('beside a NodeSDK the user runs', () => {
  let sdk: NodeSDK | undefined;
  afterEach(async () => {
    await sdk?.shutdown();
    otelTrace.disable();
    context.disable();
  });

  function startNodeSdk(exporter: InMemorySpanExporter) {
    sdk = new NodeSDK({
      spanProcessors: [new SimpleSpanProcessor({ exporter })],
      metricReaders: [],
      logRecordProcessors: [],
      instrumentations: [],
    });
    sdk.start();
  }

  it('startTelemetry() says so once, registers nothing and its shutdown leaves the SDK running', async () => {
    const theirs = new InMemorySpanExporter();
    startNodeSdk(theirs);
    const provider = registeredTracerProvider();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const telemetry = startTelemetry({ console: true });
    startTelemetry();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[0]).toContain('already registered');
    warn.mockRestore();
    expect(telemetry.registered).toBe(false);
    await expect(telemetry.shutdown()).resolves.toBe(true);
    expect(registeredTracerProvider()).toBe(provider);
    await new ResiliencePipeline({ name: 'still.traced', retry: false }).execute(async () => 1);
    await (provider as unknown as { forceFlush(): Promise<void> }).forceFlush();
    expect(theirs.getFinishedSpans().map((span) => span.name)).toEqual(['still.traced']);
  });

  it('installTestTracing() records into the running SDK, so one trace stays whole, and uninstall leaves it', async () => {
    const theirs = new InMemorySpanExporter();
    startNodeSdk(theirs);
    const provider = registeredTracerProvider();
    // What an instrumentation does: it keeps the tracer of the provider it was given at start.
    const instrumentationTracer = provider!.getTracer('instrumentation-undici');
    const recorder = installTestTracing();
    await new ResiliencePipeline({ name: 'agent.call', retry: false }).execute(async () => {
      instrumentationTracer.startSpan('GET').end();
    });
    await recorder.uninstall();
    expect(recorder.tree({ timings: false })).toBe('agent.call  attempts=1 outcome=success\n└─ GET');
    expect(registeredTracerProvider()).toBe(provider);
    await (provider as unknown as { forceFlush(): Promise<void> }).forceFlush();
    expect(theirs.getFinishedSpans()).toHaveLength(2);
  });
});

describe('startTelemetry() resource', () => {
  afterEach(() => {
    delete process.env.OTEL_RESOURCE_ATTRIBUTES;
  });

  it('reads OTEL_RESOURCE_ATTRIBUTES and detects instance, host and process, with spans recorded at once', async () => {
    process.env.OTEL_RESOURCE_ATTRIBUTES = 'service.version=1.4.2,deployment.environment.name=staging';
    const memory = new InMemorySpanExporter();
    const telemetry = startTelemetry({
      serviceName: 'agent',
      endpoint: false,
      spanProcessors: [new SimpleSpanProcessor({ exporter: memory })],
    });
    await new ResiliencePipeline({ name: 'resourced', retry: false }).execute(async () => 1);
    const [span] = memory.getFinishedSpans();
    await telemetry.shutdown();
    expect(span?.resource.attributes).toMatchObject({
      'service.name': 'agent',
      'service.version': '1.4.2',
      'deployment.environment.name': 'staging',
      'host.name': expect.any(String),
      'process.pid': process.pid,
      'service.instance.id': expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
  });
});
