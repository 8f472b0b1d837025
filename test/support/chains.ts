/**
 * The chains a pipeline call can take, by what is registered: nothing (the bare chain),
 * a meter provider only, or a tracer. Tests run the same cases in each.
 */
import { trace } from '@opentelemetry/api';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { installTestMetrics, installTestTracing } from '../../src/testing/index.js';

export const CHAIN_MODES = ['no SDK', 'meter provider', 'tracer'] as const;
export type ChainMode = (typeof CHAIN_MODES)[number];

/**
 * Registers `mode`'s telemetry around every test of the calling describe block (fake
 * timers are switched off before the SDK shuts down, which waits on real timers), and
 * a test that the mode is the one in force.
 */
export function useChainMode(mode: ChainMode): void {
  let uninstall: (() => Promise<void>) | undefined;
  beforeEach(() => {
    uninstall =
      mode === 'tracer' ? installTestTracing().uninstall : mode === 'meter provider' ? installTestMetrics().uninstall : undefined;
  });
  afterEach(async () => {
    vi.useRealTimers();
    await uninstall?.();
  });
  it('runs with the telemetry this mode says', () => {
    expect(trace.getTracerProvider().getTracer('probe').startSpan('x').isRecording()).toBe(mode === 'tracer');
  });
}

/** Settles to the error `promise` rejects with (undefined when it resolves), leaving no rejection unhandled. */
export function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}
