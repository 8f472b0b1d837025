import { describe, expect, it, vi } from 'vitest';
import { Bulkhead, BulkheadRejectedError, ResiliencePipeline } from '../../src/index.js';
import { installTestTracing, type SpanRecorder } from '../../src/testing/index.js';
import { useFakeTimers } from '../support/hooks.js';

/** Work that stays pending until released. */
function gate() {
  let release!: () => void;
  const promise = new Promise<string>((resolve) => {
    release = () => resolve('done');
  });
  return { work: () => promise, release };
}

describe('Bulkhead', () => {
  useFakeTimers();

  it('runs maxConcurrent at once, queues maxQueue, rejects the rest', async () => {
    const bulkhead = new Bulkhead({ maxConcurrent: 2, maxQueue: 1 });
    const a = gate();
    const running = [bulkhead.execute(a.work), bulkhead.execute(a.work)];
    const queued = bulkhead.execute(async () => 'queued');
    expect(bulkhead.active).toBe(2);
    expect(bulkhead.queued).toBe(1);
    const rejected = await bulkhead.execute(async () => 'never').catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(BulkheadRejectedError);
    expect(rejected).toMatchObject({ reason: 'queue-full', retryable: false });
    a.release();
    await expect(Promise.all(running)).resolves.toEqual(['done', 'done']);
    await expect(queued).resolves.toBe('queued');
    expect(bulkhead.active).toBe(0);
  });

  it('rejects a call that waited queueTimeoutMs', async () => {
    const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueue: 5, queueTimeoutMs: 100 });
    const a = gate();
    void bulkhead.execute(a.work);
    const waiting = bulkhead.execute(async () => 'late').catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    expect(await waiting).toMatchObject({ reason: 'queue-timeout' });
    expect(bulkhead.queued).toBe(0);
    a.release();
  });

  it('takes a queued call out of the queue as soon as its caller gives up, freeing its place', async () => {
    const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    const a = gate();
    void bulkhead.execute(a.work);
    const controller = new AbortController();
    const ran: string[] = [];
    const abandoned = bulkhead.execute(async () => ran.push('abandoned'), { signal: controller.signal });
    expect(bulkhead.queued).toBe(1);
    controller.abort(new Error('gone'));
    await expect(abandoned).rejects.toThrow('gone');
    expect(bulkhead.queued).toBe(0);
    const kept = bulkhead.execute(async () => ran.push('kept'));
    expect(bulkhead.queued).toBe(1);
    a.release();
    await kept;
    expect(ran).toEqual(['kept']);
    expect(bulkhead.active).toBe(0);
  });

  it('takes a queued call out when the total timeout of its pipeline fires', async () => {
    const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueue: 1 });
    const pipeline = new ResiliencePipeline({ retry: false, bulkhead, totalTimeoutMs: 100 });
    const a = gate();
    void bulkhead.execute(a.work);
    const waiting = pipeline.execute(async () => 'late').catch((e: unknown) => e);
    expect(bulkhead.queued).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(await waiting).toMatchObject({ code: 'TIMEOUT' });
    expect(bulkhead.queued).toBe(0);
    a.release();
  });

  it('shows the queued time and rejections on the call span', async () => {
    const recorder: SpanRecorder = installTestTracing();
    try {
      const bulkhead = new Bulkhead({ name: 'db', maxConcurrent: 1, maxQueue: 1 });
      const pipeline = new ResiliencePipeline({ name: 'db.query', retry: false, bulkhead });
      const a = gate();
      const first = pipeline.execute(a.work);
      const second = pipeline.execute(async () => 'second');
      await expect(pipeline.execute(async () => 'third')).rejects.toBeInstanceOf(BulkheadRejectedError);
      await vi.advanceTimersByTimeAsync(250);
      a.release();
      await Promise.all([first, second]);
      expect(recorder).toHaveSpan('db.query', {
        attributes: { 'resilience.outcome': 'rejected' },
        events: [{ name: 'resilience.bulkhead.rejected', attributes: { 'resilience.reject_reason': 'queue-full' } }],
      });
      expect(recorder).toHaveSpan('db.query', {
        attributes: { 'resilience.outcome': 'success' },
        events: [{ name: 'resilience.bulkhead.queued', attributes: { 'resilience.bulkhead.waited_ms': 250 } }],
      });
    } finally {
      await recorder.uninstall();
    }
  });

  it('rejects invalid options naming the option and value', () => {
    expect(() => new Bulkhead({ maxConcurrent: 0 })).toThrow(/bulkhead\.maxConcurrent.*0/);
    expect(() => new Bulkhead({ maxQueue: -1 })).toThrow(/bulkhead\.maxQueue.*-1/);
  });
});
