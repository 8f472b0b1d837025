/**
 * The shipped tail-sampling config (collector/otel-collector.yaml), for real: an
 * OpenTelemetry Collector built with the collector builder (collector/otelcol.sh)
 * validates it, then runs it in front of a real Jaeger. Traces with a decision worth a
 * look must all arrive; plain ones are sampled at 10%. Only the ports and
 * `decision_wait` (2 s instead of 10 s, to keep the test short) differ from the shipped
 * config, through the variables it documents.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { type Attributes, trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimiter, ResiliencePipeline, workflow } from '../../src/index.js';
import { startTelemetry } from '../../src/setup/index.js';
import * as names from '../../src/telemetry/names.js';
import { collectorBinary, collectorConfig, type RunningCollector, startCollector } from '../support/collector.js';
import { type RunningJaeger, rootOf, startJaeger, tracesOf } from '../support/jaeger.js';

let jaeger: RunningJaeger | undefined;
let collector: RunningCollector | undefined;

beforeAll(async () => {
  jaeger = await startJaeger();
  collector = await startCollector(jaeger.otlpGrpcEndpoint, { TAIL_SAMPLING_DECISION_WAIT: '2s' });
});
afterAll(async () => {
  await collector?.stop();
  await jaeger?.stop();
});

const tracer = () => trace.getTracer('collector-e2e');

/** A trace of one span named `root`, with one event on it (the shape the SDK gives a call span). */
function eventTrace(root: string, event?: [string, Attributes]): void {
  tracer().startActiveSpan(root, (span) => {
    if (event) span.addEvent(event[0], event[1]);
    span.end();
  });
}

/** A root span around `work`, so a trace made of several calls has one name. */
function rooted(root: string, work: () => Promise<unknown>): Promise<unknown> {
  return tracer().startActiveSpan(root, (span) => work().finally(() => span.end()));
}

const fail503 = () => Promise.reject(Object.assign(new Error('HTTP 503'), { status: 503 }));

describe('the tail-sampling collector config', () => {
  it('passes the collector’s own validate', async () => {
    const binary = await collectorBinary();
    const { stdout, stderr } = await promisify(execFile)(binary, ['validate', '--config', collectorConfig]);
    expect(`${stdout}${stderr}`).not.toMatch(/error/i);
  });

  it('in front of Jaeger keeps every trace with a decision worth a look and 10% of the rest', async () => {
    const service = `collector-e2e-${process.pid}`;
    const telemetry = startTelemetry({ serviceName: service, endpoint: collector!.otlpUrl, exportDelayMs: 50 });

    // Made by the SDK itself.
    let calls = 0;
    await new ResiliencePipeline({ name: 'keep.retried', retry: { maxRetries: 2, baseDelayMs: 10 } }).execute(() =>
      calls++ === 0 ? fail503() : Promise.resolve('ok'),
    );
    await new ResiliencePipeline({ name: 'keep.failed', retry: false }).execute(fail503).catch(() => undefined);
    const limiter = new RateLimiter({ name: 'budget', limits: { tokensPerInterval: 1, intervalMs: 400 }, maxWaitMs: 2000 });
    const limited = new ResiliencePipeline({ name: 'limited', retry: false, rateLimiter: limiter });
    await rooted('keep.long-wait', async () => {
      await limited.execute(async () => 'first');
      await limited.execute(async () => 'waited for the next token');
    });
    await new ResiliencePipeline({ name: 'keep.chaos', retry: false, chaos: { latencyMs: 1, injectionRate: 1 } }).execute(
      async () => 'slowed',
    );
    const saga = workflow('keep-saga', async (ctx) => {
      await ctx.step('reserve', () => 'reserved', { compensate: () => undefined });
      await ctx.step('pay', fail503);
    });
    await rooted('keep.compensated', () => saga.run(`run-${process.pid}`, undefined).catch(() => undefined));

    // Decisions the SDK reports as events, each alone on a trace (names from telemetry/names.ts).
    const decisive: Array<[string, string, Attributes]> = [
      ['keep.breaker-rejected', names.EVENT_BREAKER_REJECTED, { [names.ATTR_BREAKER_NAME]: 'llm' }],
      ['keep.limiter-rejected', names.EVENT_RATE_LIMITER_REJECTED, { [names.ATTR_RATE_LIMITER_NAME]: 'rpm' }],
      ['keep.bulkhead-rejected', names.EVENT_BULKHEAD_REJECTED, { [names.ATTR_REJECT_REASON]: 'queue-full' }],
      ['keep.bulkhead-queued', names.EVENT_BULKHEAD_QUEUED, { [names.ATTR_BULKHEAD_WAITED_MS]: 900 }],
      ['keep.idempotency-conflict', names.EVENT_IDEMPOTENCY, { [names.ATTR_IDEMPOTENCY_OUTCOME]: 'conflict' }],
      ['keep.idempotency-in-progress', names.EVENT_IDEMPOTENCY, { [names.ATTR_IDEMPOTENCY_OUTCOME]: 'in_progress' }],
      ['keep.idempotency-lost-lease', names.EVENT_IDEMPOTENCY, { [names.ATTR_IDEMPOTENCY_OUTCOME]: 'lost_lease' }],
      ['keep.resumed', names.EVENT_WORKFLOW_RESUMED, { [names.ATTR_WORKFLOW_STEP]: 'pay' }],
      ['keep.store-failed', names.EVENT_RATE_LIMITER_STORE_FAILED, { [names.ATTR_ERROR_TYPE]: 'ECONNREFUSED' }],
      ['keep.hand-off', 'resilience.hand_off.requested', {}],
    ];
    for (const [root, event, attributes] of decisive) eventTrace(root, [event, attributes]);

    // 100 traces with nothing worth a look: plain calls, first and replayed idempotent calls, short waits.
    const plain = new ResiliencePipeline({ name: 'plain.call', retry: { maxRetries: 2 } });
    for (let i = 0; i < 70; i++) await plain.execute(async () => i);
    for (let i = 0; i < 10; i++)
      eventTrace('plain.executed', [names.EVENT_IDEMPOTENCY, { [names.ATTR_IDEMPOTENCY_OUTCOME]: 'executed' }]);
    for (let i = 0; i < 10; i++)
      eventTrace('plain.replayed', [names.EVENT_IDEMPOTENCY, { [names.ATTR_IDEMPOTENCY_OUTCOME]: 'replayed' }]);
    for (let i = 0; i < 10; i++)
      eventTrace('plain.short-wait', [names.EVENT_RATE_LIMITER_WAITED, { [names.ATTR_RATE_LIMITER_WAITED_MS]: 40 }]);
    expect(await telemetry.shutdown()).toBe(true);
    const exported = Date.now();

    const expected = [
      'keep.retried',
      'keep.failed',
      'keep.long-wait',
      'keep.chaos',
      'keep.compensated',
      ...decisive.map((d) => d[0]),
    ];
    let roots: string[] = [];
    let appearedMs = Number.NaN;
    while (Date.now() - exported < 30_000) {
      roots = (await tracesOf(jaeger!.queryUrl, service)).map((spans) => rootOf(spans)?.operationName ?? '?');
      if (expected.every((name) => roots.includes(name))) {
        appearedMs = Date.now() - exported;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(roots, `collector log:\n${collector!.log()}`).toEqual(expect.arrayContaining(expected));
    // Plain traces were decided in the same round; read once more to be sure all have arrived.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    roots = (await tracesOf(jaeger!.queryUrl, service)).map((spans) => rootOf(spans)?.operationName ?? '?');
    const keptPlain = roots.filter((name) => name.startsWith('plain.')).length;
    console.log(
      `tail sampling: kept ${expected.length}/${expected.length} traces worth a look (in Jaeger ${appearedMs} ms after export, decision_wait 2 s), ${keptPlain}/100 plain ones`,
    );
    // 10% of 100: P(0 kept) ≈ 3e-5, P(more than 30) < 1e-8.
    expect(keptPlain).toBeGreaterThan(0);
    expect(keptPlain).toBeLessThanOrEqual(30);
    expect(roots.filter((name) => !name.startsWith('plain.') && !expected.includes(name))).toEqual([]);
  }, 90_000);
});
