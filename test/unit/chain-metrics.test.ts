/**
 * With a meter provider and no tracer (the chain that measures attempts but starts no
 * span), retry with a breaker fused inside it counts each decision once and measures
 * every attempt, streamed ones included.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CircuitBreaker, ResiliencePipeline } from '../../src/index.js';
import { installTestMetrics, type MetricRecorder } from '../../src/testing/index.js';
import { httpError } from '../support/hooks.js';
import { drain } from '../support/streams.js';

describe('metrics of retry around a breaker (meter provider, no tracer)', () => {
  let recorder: MetricRecorder;
  beforeEach(() => {
    recorder = installTestMetrics();
  });
  afterEach(async () => {
    await recorder.uninstall();
  });

  const total = async (name: string, match: Record<string, unknown> = {}) =>
    (await recorder.points(name))
      .filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v))
      .reduce((sum, p) => sum + (typeof p.value === 'number' ? p.value : p.value.count), 0);

  it('one retry event per retry, one rejection, one duration per attempt that ran', async () => {
    const breaker = new CircuitBreaker({ name: 'm', failureThreshold: 2, halfOpenAfterMs: 60_000 });
    const pipeline = new ResiliencePipeline({
      name: 'metered',
      retry: { maxRetries: 3, baseDelayMs: 0 },
      circuitBreaker: breaker,
    });
    await expect(
      pipeline.execute(async () => {
        throw httpError(503);
      }),
    ).rejects.toMatchObject({ code: 'BROKEN_CIRCUIT' });
    expect(await total('resilience.attempt.duration')).toBe(2);
    const events = await recorder.points('resilience.events');
    const byType = (needle: string) =>
      events
        .filter((p) => Object.values(p.attributes).some((v) => typeof v === 'string' && v.includes(needle)))
        .reduce((sum, p) => sum + (p.value as number), 0);
    expect(byType('retry')).toBe(2);
    expect(byType('rejected')).toBe(1);
  });

  it('a stream retried before its first chunk: one duration per attempt', async () => {
    let calls = 0;
    const pipeline = new ResiliencePipeline({
      name: 'metered.stream',
      retry: { maxRetries: 2, baseDelayMs: 0 },
      circuitBreaker: {},
    });
    const stream = (await pipeline.execute(async function* () {
      calls++;
      if (calls < 3) throw httpError(503);
      yield 'a';
    })) as AsyncIterable<string>;
    expect(await drain(stream)).toEqual({ chunks: ['a'] });
    expect(await total('resilience.attempt.duration')).toBe(3);
  });
});
