/**
 * Leak check: after many `@resilient` calls settle, the heap returns to its baseline
 * after GC, and no timer or abort listener of ours is left (so a process exits on its
 * own). Needs `node --expose-gc`.
 */
import { getEventListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { CircuitBreaker, ResiliencePipeline } from 'otel-resilience';

export interface LeakReport {
  readonly calls: number;
  readonly heapGrowthKiB: number;
  readonly activeTimers: number;
  readonly abortListeners: number;
  readonly ok: boolean;
}

/** Heap growth tolerated after GC: noise from JIT and lazily built V8 structures. */
const TOLERANCE_KIB = 2048;

function collect(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

export async function checkLeaks(calls: number): Promise<LeakReport> {
  const pipeline = new ResiliencePipeline({
    name: 'leak',
    retry: { maxRetries: 3 },
    circuitBreaker: new CircuitBreaker({ name: 'leak' }),
    attemptTimeoutMs: 1000,
    totalTimeoutMs: 5000,
  });
  const caller = new AbortController();
  const work = async () => 42;
  const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  for (let i = 0; i < 1000; i++) await pipeline.execute(work, { signal: caller.signal });
  const baseline = collect();
  for (let i = 0; i < calls; i++) await pipeline.execute(work, { signal: caller.signal });
  const after = collect();
  // An attempt timeout's stamp window (1 ms) keeps its timer a moment after the last call.
  await sleep(10);
  const activeTimers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length - timersBefore;
  const abortListeners = getEventListeners(caller.signal, 'abort').length;
  const heapGrowthKiB = Math.round((after - baseline) / 1024);
  return {
    calls,
    heapGrowthKiB,
    activeTimers,
    abortListeners,
    ok: heapGrowthKiB < TOLERANCE_KIB && activeTimers <= 0 && abortListeners === 0,
  };
}
