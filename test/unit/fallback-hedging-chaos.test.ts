import { describe, expect, it, vi } from 'vitest';
import { currentAttempt } from '../../src/context/index.js';
import {
  ChaosPolicy,
  CircuitBreaker,
  chaosFaults,
  classifyError,
  FallbackPolicy,
  HedgeLostError,
  HedgingPolicy,
  ResiliencePipeline,
  resilient,
  seededRandom,
} from '../../src/index.js';
import { httpError, useFakeTimersAndTracing } from '../support/hooks.js';

const tracing = useFakeTimersAndTracing();

describe('fallback', () => {
  it('walks the chain until a step answers; each step is a child span; the chosen one is an event', async () => {
    class Agent {
      model = 'small';
      @resilient({
        retry: false,
        fallback: [
          { name: 'secondary-model', handler: async () => Promise.reject(httpError(503)) },
          {
            name: 'rule-based',
            handler(this: Agent, failure, question: string) {
              return `${this.model}: ${question} (${(failure.error as Error).message})`;
            },
          },
        ],
      })
      async answer(_question: string): Promise<string> {
        throw httpError(429);
      }
    }
    await expect(new Agent().answer('why?')).resolves.toBe('small: why? (HTTP 503)');
    expect(tracing().tree({ timings: false })).toMatchInlineSnapshot(`
      "Agent.answer  attempts=1 outcome=fallback
      ├─ Agent.answer fallback secondary-model  ERROR 503  fallback.name=secondary-model
      │  └─ • exception
      ├─ • resilience.fallback  fallback.name=secondary-model fallback.trigger=429 fallback.outcome=failed error.type=503
      ├─ Agent.answer fallback rule-based  fallback.name=rule-based
      └─ • resilience.fallback  fallback.name=rule-based fallback.trigger=503 fallback.outcome=answered"
    `);
  });

  it('is never triggered by the caller aborting', async () => {
    const fallback = vi.fn(() => 'fallback');
    const pipeline = new ResiliencePipeline({ retry: false, fallback });
    const controller = new AbortController();
    const call = pipeline.execute(() => new Promise(() => {}), { signal: controller.signal });
    controller.abort(new Error('bye'));
    await expect(call).rejects.toThrow('bye');
    expect(fallback).not.toHaveBeenCalled();
  });

  it('covers breaker rejections and bad results via shouldFallback', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1 });
    breaker.isolate();
    const pipeline = new ResiliencePipeline({
      retry: false,
      circuitBreaker: breaker,
      fallback: { steps: () => 'cached', shouldFallback: (f) => 'error' in f || f.result === '' },
    });
    await expect(pipeline.execute(async () => 'live')).resolves.toBe('cached');
    breaker.reset();
    await expect(pipeline.execute(async () => '')).resolves.toBe('cached');
    await expect(pipeline.execute(async () => 'live')).resolves.toBe('live');
  });

  it('throws the last step error when every step fails', async () => {
    const policy = new FallbackPolicy({
      steps: [() => Promise.reject(new Error('one')), () => Promise.reject(new Error('two'))],
    });
    await expect(policy.execute(() => Promise.reject(new Error('primary')))).rejects.toThrow('two');
  });
});

describe('hedging', () => {
  it('launches a hedge after delayMs; the first success wins and the loser is aborted and marked lost', async () => {
    const signals: AbortSignal[] = [];
    const pipeline = new ResiliencePipeline({ name: 'search', hedging: { maxHedgedAttempts: 2, delayMs: 100 } });
    const result = pipeline.execute(async () => {
      const { attempt, signal } = currentAttempt()!;
      signals.push(signal);
      await new Promise((resolve) => setTimeout(resolve, attempt === 1 ? 1000 : 50));
      return `attempt ${attempt}`;
    });
    await vi.advanceTimersByTimeAsync(150);
    await expect(result).resolves.toBe('attempt 2');
    expect(signals).toHaveLength(2);
    expect(signals[0]!.aborted).toBe(true);
    expect(signals[0]!.reason).toBeInstanceOf(HedgeLostError);
    expect(signals[1]!.aborted).toBe(false);
    expect(tracing()).toHaveSpan('search attempt', {
      status: 'unset',
      attributes: { 'resilience.attempt': 1, 'resilience.hedge.outcome': 'lost' },
    });
    expect(tracing()).toHaveSpan('search attempt', {
      attributes: { 'resilience.attempt': 2, 'resilience.hedge.outcome': 'won' },
    });
    expect(tracing()).toHaveSpan('search', {
      attributes: { 'resilience.attempts': 2, 'resilience.outcome': 'success' },
      events: [{ name: 'resilience.hedge', attributes: { 'resilience.attempt': 2 } }],
    });
  });

  it('hedges past a transient failure at once and gives up when every attempt failed', async () => {
    let calls = 0;
    const policy = new HedgingPolicy({ maxHedgedAttempts: 2, delayMs: 10_000 });
    const errors: Error[] = [];
    const error = await policy
      .execute(async () => {
        calls++;
        errors.push(httpError(503));
        throw errors[errors.length - 1];
      })
      .catch((e: unknown) => e);
    expect(calls).toBe(3);
    expect(error).toBe(errors[2]);
  });

  it('ends at once on a failure not worth hedging', async () => {
    const policy = new HedgingPolicy({ delayMs: 0 });
    await expect(policy.execute(() => Promise.reject(httpError(400)))).rejects.toMatchObject({ status: 400 });
  });

  it('cannot be combined with retry', () => {
    expect(() => new ResiliencePipeline({ retry: { maxRetries: 1 }, hedging: {} })).toThrow(/hedging takes the place of retry/);
  });
});

describe('chaos', () => {
  it('injects faults at the configured rate, reproducibly with a seed, and reports them', async () => {
    const run = async () => {
      const chaos = new ChaosPolicy({ injectionRate: 0.3, fault: chaosFaults.unavailable(), random: seededRandom(7) });
      const outcomes: string[] = [];
      for (let i = 0; i < 100; i++) outcomes.push(await chaos.execute(async () => 'ok').catch(() => 'fault'));
      return outcomes;
    };
    const first = await run();
    expect(first).toEqual(await run());
    const faults = first.filter((o) => o === 'fault').length;
    expect(faults).toBeGreaterThan(15);
    expect(faults).toBeLessThan(45);
  });

  it('is innermost: retry and breaker meet the injected trouble as real', async () => {
    const pipeline = new ResiliencePipeline({
      name: 'llm',
      retry: { baseDelayMs: 0 },
      chaos: { injectionRate: 1, fault: chaosFaults.rateLimited(0), enabled: () => checks++ < 2 },
    });
    let checks = 0;
    let calls = 0;
    await expect(
      pipeline.execute(async () => {
        calls++;
        return 'answer';
      }),
    ).resolves.toBe('answer');
    expect(calls).toBe(1);
    expect(tracing()).toHaveSpan('llm', {
      attributes: { 'resilience.attempts': 3 },
      events: [
        { name: 'resilience.chaos', attributes: { 'resilience.chaos.kind': 'fault' } },
        { name: 'resilience.retry', attributes: { 'resilience.retry.delay_source': 'retry-after', 'error.type': '429' } },
      ],
    });
  });

  it('ready-made faults classify as the real thing', () => {
    expect(classifyError(chaosFaults.rateLimited(2)())).toMatchObject({ category: 'rate-limited', retryAfterMs: 2000 });
    expect(classifyError(chaosFaults.unavailable()())).toMatchObject({ category: 'transient', status: 503 });
    expect(classifyError(chaosFaults.connectionReset()())).toMatchObject({ category: 'transient', code: 'ECONNRESET' });
  });

  it('cuts a stream mid-way and truncates tool output', async () => {
    async function* tokens() {
      yield* ['a', 'b', 'c'];
    }
    const seen: string[] = [];
    const cut = chaosFaults.streamCut(2)(tokens()) as AsyncIterable<string>;
    await expect(
      (async () => {
        for await (const t of cut) seen.push(t);
      })(),
    ).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(seen).toEqual(['a', 'b']);
    const output = chaosFaults.malformedToolOutput()({ tool: 'search', args: { q: 'x' } }) as string;
    expect(() => JSON.parse(output)).toThrow(SyntaxError);
  });

  it('adds latency and rejects bad options', async () => {
    const chaos = new ChaosPolicy({ injectionRate: 1, latencyMs: 500 });
    const result = chaos.execute(async () => 'slow');
    await vi.advanceTimersByTimeAsync(499);
    let done = false;
    void result.then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await expect(result).resolves.toBe('slow');
    expect(() => new ChaosPolicy({ injectionRate: 1, latencyMs: 5, fault: new Error('x') })).toThrow(/exactly one/);
    expect(() => new ChaosPolicy({ injectionRate: 2, latencyMs: 5 })).toThrow(/injectionRate.*2/);
  });
});
