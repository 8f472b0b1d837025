import { AsyncLocalStorage } from 'node:async_hooks';
import { trace } from '@opentelemetry/api';
import { describe, expect, it, vi } from 'vitest';
import { currentAttempt } from '../../src/context/index.js';
import { CircuitBreaker, ResiliencePipeline, resilient } from '../../src/index.js';
import { httpError, useFakeTimers } from '../support/hooks.js';
import { drain } from '../support/streams.js';

useFakeTimers();

// With no SDK registered a call records nothing, and retry primes a stream in its own
// continuation (no promise layer of its own): the same behaviour as when traced.
describe('streams with no SDK registered', () => {
  it('records nothing here: no tracer provider is registered', () => {
    expect(trace.getTracerProvider().getTracer('probe').startSpan('x').isRecording()).toBe(false);
  });

  it('a stream failing before its first chunk is retried; one failing after it is thrown, not replayed', async () => {
    let calls = 0;
    const tokens = resilient(
      async function* tokens() {
        calls++;
        if (calls === 1) throw httpError(503);
        yield 'a';
        yield 'b';
        if (calls === 2) throw httpError(502);
      },
      { retry: { baseDelayMs: 10, jitter: 'none' } },
    );
    const reading = drain(tokens());
    await vi.advanceTimersByTimeAsync(10);
    const { chunks, error } = await reading;
    expect(chunks).toEqual(['a', 'b']);
    expect(error).toMatchObject({ status: 502 });
    expect(calls).toBe(2);
  });

  it('a generator sees its attempt (currentAttempt) and the context it was opened in, after its first chunk too', async () => {
    const user = new AsyncLocalStorage<string>();
    const seen: unknown[] = [];
    const tokens = resilient(async function* tokens() {
      for (let i = 0; i < 3; i++) {
        seen.push([currentAttempt()?.operation, user.getStore()]);
        yield i;
      }
    });
    const iterator = tokens()[Symbol.asyncIterator]();
    let next = user.run('opening', () => iterator.next());
    while (!(await next).done) next = user.run('reading', () => iterator.next());
    expect(seen).toEqual([
      ['tokens', 'opening'],
      ['tokens', 'opening'],
      ['tokens', 'opening'],
    ]);
  });

  it('a breaker inside retry counts a stream that fails before its first chunk, and not one that delivered', async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, halfOpenAfterMs: 10_000 });
    const pipeline = new ResiliencePipeline({ retry: { maxRetries: 0 }, circuitBreaker: breaker });
    const midStream = (await pipeline.execute(async function* () {
      yield 1;
      throw httpError(503);
    })) as AsyncIterable<number>;
    await drain(midStream);
    expect(breaker.state).toBe('closed');
    await expect(
      pipeline.execute(async function* () {
        yield* [];
        throw httpError(503);
      }),
    ).rejects.toMatchObject({ status: 503 });
    expect(breaker.state).toBe('open');
    await expect(pipeline.execute(async () => 'x')).rejects.toMatchObject({ code: 'BROKEN_CIRCUIT' });
  });

  it('a plain result passes through untouched', async () => {
    const value = { id: 1 };
    const pipeline = new ResiliencePipeline({ retry: { maxRetries: 2 } });
    await expect(pipeline.execute(async () => value)).resolves.toBe(value);
  });
});
