import { trace as otelTrace, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { ResiliencePipeline, resilient, traced } from '../../src/index.js';
import { startTelemetry } from '../../src/setup/index.js';
import { spanMatchers } from '../../src/testing/index.js';
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
