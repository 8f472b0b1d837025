import { describe, expect, it } from 'vitest';
import { resilient } from '../../src/index.js';
import { currentAttempt } from '../../src/pipeline/current-attempt.js';

// This file must not import otel-resilience/context before the first test: it checks
// that untraced calls publish their attempt only once that module is loaded.
describe('publishing the attempt without an OpenTelemetry SDK', () => {
  const readAfterAwait = resilient(async () => {
    await Promise.resolve();
    return currentAttempt()?.attempt;
  });

  it('is off until otel-resilience/context is loaded, then on for every new call', async () => {
    await expect(readAfterAwait()).resolves.toBeUndefined();
    const context = await import('../../src/context/index.js');
    expect(context.currentAttempt).toBe(currentAttempt);
    await expect(readAfterAwait()).resolves.toBe(1);
  });
});
