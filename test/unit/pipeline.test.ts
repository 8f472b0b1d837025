import { describe, expect, it, vi } from 'vitest';
import { currentAttempt } from '../../src/context/index.js';
import { CircuitBreaker, ResiliencePipeline, RetriesExhaustedError, resilient, TimeoutError } from '../../src/index.js';
import { httpError, useFakeTimersAndTracing } from '../support/hooks.js';

const tracing = useFakeTimersAndTracing();

describe('ResiliencePipeline telemetry', () => {
  it('retry: a call span, one span per attempt, a retry event per backoff with the delay slept', async () => {
    const pipeline = new ResiliencePipeline({ name: 'llm.chat', retry: { baseDelayMs: 100, jitter: 'none' } });
    let calls = 0;
    const result = pipeline.execute(async () => {
      calls++;
      if (calls === 1) throw httpError(503);
      if (calls === 2) throw httpError(429, { 'retry-after': '1' });
      return 'answer';
    });
    await vi.advanceTimersByTimeAsync(1100);
    await expect(result).resolves.toBe('answer');
    expect(tracing().tree({ timings: false })).toMatchInlineSnapshot(`
      "llm.chat  attempts=3 outcome=success
      ├─ llm.chat attempt  ERROR 503  attempt=1
      │  └─ • exception
      ├─ • resilience.retry  attempt=1 retry.delay_ms=100 retry.delay_source=backoff error.type=503
      ├─ llm.chat attempt  ERROR 429  attempt=2 retry.slept_ms=100
      │  └─ • exception
      ├─ • resilience.retry  attempt=2 retry.delay_ms=1000 retry.delay_source=retry-after error.type=429
      └─ llm.chat attempt  attempt=3 retry.slept_ms=1000"
    `);
    expect(tracing()).toHaveSpan('llm.chat', { status: 'unset', parent: null });
    // Each attempt's span links to the one before it: a retry follows from its predecessor.
    const [first, second, third] = [1, 2, 3].map(
      (n) =>
        tracing()
          .spans()
          .find((s) => s.name === 'llm.chat attempt' && s.attributes['resilience.attempt'] === n)!,
    );
    expect(first!.links).toEqual([]);
    expect(second!.links.map((l) => l.context.spanId)).toEqual([first!.spanContext().spanId]);
    expect(third!.links.map((l) => l.context.spanId)).toEqual([second!.spanContext().spanId]);
  });

  it('exhausted retries: the last error is the call span error, with an exhausted event', async () => {
    const pipeline = new ResiliencePipeline({ name: 'db.query', retry: { maxRetries: 1, baseDelayMs: 0 } });
    await expect(pipeline.execute(() => Promise.reject(httpError(502)))).rejects.toMatchObject({ status: 502 });
    expect(tracing()).toHaveSpan('db.query', {
      status: 'error',
      attributes: { 'error.type': '502', 'resilience.outcome': 'failure', 'resilience.attempts': 2 },
      events: [
        { name: 'resilience.retry', attributes: { 'resilience.attempt': 1 } },
        { name: 'resilience.retry.exhausted', attributes: { 'resilience.attempts': 2 } },
      ],
    });
    // The last attempt's exception is recorded on its span only: the stack is not written twice.
    expect(
      tracing()
        .byName('db.query')[0]!
        .events.map((e) => e.name),
    ).not.toContain('exception');
    const exceptions = tracing()
      .byName('db.query attempt')
      .map((s) => s.events.find((e) => e.name === 'exception')!.attributes);
    expect(exceptions).toHaveLength(2);
    for (const attributes of exceptions)
      expect(attributes).toMatchObject({ 'exception.type': 'Error', 'exception.message': 'HTTP 502' });
  });

  it('a permanent error fails at once, and attempt spans exist even for one attempt', async () => {
    const pipeline = new ResiliencePipeline({ name: 'op' });
    await expect(pipeline.execute(() => Promise.reject(httpError(400)))).rejects.toMatchObject({ status: 400 });
    expect(tracing().tree({ timings: false })).toMatchInlineSnapshot(`
      "op  ERROR 400  attempts=1 outcome=failure
      └─ op attempt  ERROR 400  attempt=1
         └─ • exception"
    `);
  });

  it('breaker transitions are events on the call that caused them; rejections are outcome rejected', async () => {
    const breaker = new CircuitBreaker({ name: 'llm', failureThreshold: 2, halfOpenAfterMs: 10_000 });
    const pipeline = new ResiliencePipeline({
      name: 'llm.chat',
      retry: { maxRetries: 1, baseDelayMs: 0 },
      circuitBreaker: breaker,
    });
    await expect(pipeline.execute(() => Promise.reject(httpError(503)))).rejects.toMatchObject({ status: 503 });
    expect(breaker.state).toBe('open');
    tracing().reset();
    await expect(pipeline.execute(async () => 'never')).rejects.toMatchObject({ code: 'BROKEN_CIRCUIT' });
    expect(tracing()).toHaveSpan('llm.chat', {
      status: 'error',
      attributes: { 'resilience.outcome': 'rejected', 'error.type': 'BrokenCircuitError' },
      events: [{ name: 'resilience.circuit_breaker.rejected', attributes: { 'resilience.retry_after_ms': 10_000 } }],
    });
    vi.advanceTimersByTime(10_000);
    tracing().reset();
    await expect(pipeline.execute(async () => 'back')).resolves.toBe('back');
    expect(tracing().tree({ timings: false })).toMatchInlineSnapshot(`
      "llm.chat  attempts=1 outcome=success
      ├─ • resilience.circuit_breaker.state_change  circuit_breaker.name=llm circuit_breaker.from=open circuit_breaker.to=half_open circuit_breaker.reason=half-open-after
      ├─ llm.chat attempt  attempt=1
      └─ • resilience.circuit_breaker.state_change  circuit_breaker.name=llm circuit_breaker.from=half_open circuit_breaker.to=closed circuit_breaker.reason=probes-succeeded"
    `);
  });

  it('the opening transition lands on the call whose failure opened the breaker', async () => {
    const breaker = new CircuitBreaker({ name: 'db', failureThreshold: 2 });
    const pipeline = new ResiliencePipeline({ name: 'db.get', retry: false, circuitBreaker: breaker });
    await pipeline.execute(() => Promise.reject(httpError(503))).catch(() => {});
    await pipeline.execute(() => Promise.reject(httpError(503))).catch(() => {});
    const [first, second] = tracing().byName('db.get');
    expect(first!.events.map((e) => e.name)).toEqual(['exception']);
    expect(second!.events.map((e) => e.name)).toEqual(['resilience.circuit_breaker.state_change', 'exception']);
    expect(tracing().byName('db.get attempt')).toHaveLength(0); // no retry configured: no attempt spans
  });

  it('an attempt timeout aborts the attempt signal, is retried, and shows as a timeout event', async () => {
    const signals: AbortSignal[] = [];
    const pipeline = new ResiliencePipeline({ name: 'tool', attemptTimeoutMs: 200, retry: { baseDelayMs: 0 } });
    const result = pipeline.execute(async ({ signal, attempt }) => {
      signals.push(signal);
      if (attempt === 1) return new Promise<string>(() => {});
      return 'second try';
    });
    await vi.advanceTimersByTimeAsync(200);
    await expect(result).resolves.toBe('second try');
    expect(signals[0]!.aborted).toBe(true);
    expect(signals[0]!.reason).toBeInstanceOf(TimeoutError);
    expect(signals[1]!.aborted).toBe(false);
    expect(tracing()).toHaveSpan('tool', {
      events: [
        { name: 'resilience.timeout', attributes: { 'resilience.timeout.scope': 'attempt', 'resilience.timeout.ms': 200 } },
        { name: 'resilience.retry', attributes: { 'error.type': 'TimeoutError' } },
      ],
    });
    expect(tracing()).toHaveSpan('tool attempt', {
      status: 'error',
      attributes: { 'resilience.attempt': 1, 'error.type': 'TimeoutError' },
    });
  });

  it('a total timeout stops the whole call and says so', async () => {
    const pipeline = new ResiliencePipeline({
      name: 'slow',
      totalTimeoutMs: 1000,
      retry: { baseDelayMs: 300, jitter: 'none', wrapErrors: true },
    });
    const result = pipeline.execute(() => Promise.reject(httpError(503))).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1000);
    const error = await result;
    expect(error).toBeInstanceOf(RetriesExhaustedError);
    expect(error).toMatchObject({ reason: 'deadline' });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('leaves no timers behind once calls settle and the timeout periods pass', async () => {
    await tracing().uninstall(); // the SDK's own exporter timers are not ours to count
    const pipeline = new ResiliencePipeline({ attemptTimeoutMs: 100, totalTimeoutMs: 1000 });
    await pipeline.execute(async () => 1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('currentAttempt()', () => {
  it('gives the attempt and its innermost signal after awaits, traced or not', async () => {
    const seen: Array<[number, boolean]> = [];
    const pipeline = new ResiliencePipeline({ name: 'op', attemptTimeoutMs: 100, retry: { baseDelayMs: 0 } });
    const work = async () => {
      await Promise.resolve();
      await new Promise((resolve) => setTimeout(resolve, 10));
      const ctx = currentAttempt()!;
      seen.push([ctx.attempt, ctx.signal.aborted]);
      if (ctx.attempt === 1) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        seen.push([currentAttempt()!.attempt, currentAttempt()!.signal.aborted]);
      }
      return ctx.attempt;
    };
    for (const traced of [true, false]) {
      if (!traced) await tracing().uninstall();
      seen.length = 0;
      const result = pipeline.execute(work);
      await vi.advanceTimersByTimeAsync(600);
      await expect(result).resolves.toBe(2);
      expect(seen).toEqual([
        [1, false],
        [2, false],
        [1, true],
      ]);
    }
  });
});

describe('resilient(fn)', () => {
  it("keeps fn's name and length and exposes currentAttempt() inside", async () => {
    async function fetchQuote(symbol: string) {
      return `${symbol}@${currentAttempt()?.attempt}`;
    }
    const wrapped = resilient(fetchQuote);
    expect(wrapped.name).toBe('fetchQuote');
    expect(wrapped.length).toBe(1);
    await expect(wrapped('ACME')).resolves.toBe('ACME@1');
    expect(tracing()).toHaveSpan('fetchQuote', { attributes: { 'code.function.name': 'fetchQuote' } });
    expect(currentAttempt()).toBeUndefined();
  });

  it('names each call span by its operation, keeping a bounded number of names (operations made per call do not grow it)', async () => {
    const pipeline = new ResiliencePipeline({ name: 'fetch', retry: false });
    for (let i = 0; i < 1000; i++) await pipeline.execute(async () => i, { operation: `GET /items/${i}` });
    expect(tracing()).toHaveSpan('GET /items/999', { attributes: { 'code.function.name': 'GET /items/999' } });
    expect(tracing()).toHaveSpan('GET /items/0', { attributes: { 'code.function.name': 'GET /items/0' } });
    expect((pipeline as unknown as { callAttributes: Map<string, unknown> }).callAttributes.size).toBeLessThanOrEqual(256);
  });

  it('cancels through the signal picked from the arguments', async () => {
    const wrapped = resilient((_q: string, _opts: { signal: AbortSignal }) => new Promise<string>(() => {}), {
      signal: ([, opts]) => opts.signal,
      attemptTimeoutMs: 10_000,
    });
    const controller = new AbortController();
    const result = wrapped('q', { signal: controller.signal });
    controller.abort(new Error('user left'));
    await expect(result).rejects.toThrow('user left');
  });

  it('throws at wrapping time for invalid options', () => {
    expect(() => resilient(async () => 1, { attemptTimeoutMs: -1 })).toThrow(/attemptTimeoutMs.*-1/);
    expect(() => resilient({ retry: { jitter: 'lots' as never } })).toThrow(/retry\.jitter.*"lots"/);
    expect(() => resilient({ retries: 3 } as never)).toThrow(/Unknown option retries/);
    expect(() => resilient({ retry: { maxRetry: 3 } as never })).toThrow(/Unknown option retry\.maxRetry/);
    expect(() => resilient({ circuitBreaker: { threshold: 3 } as never })).toThrow(/Unknown option circuitBreaker\.threshold/);
  });
});
