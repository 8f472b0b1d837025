/**
 * Token usage of a result as the policies read it (the rate limiter reconciles its token
 * budget from it): known at once for a plain result, or once its stream ends for a
 * streamed one (which registers readers under {@link USAGE_LATER}).
 */
import { type TokenUsage, usageOf } from '../classify/usage.js';

/** The method by which a streamed result takes a reader of the usage known when it ends. */
export const USAGE_LATER: unique symbol = Symbol('otel-resilience usage later');

/** Whether `value` is a streamed result whose usage comes later. */
export function usageComesLater(
  value: unknown,
): value is { [USAGE_LATER](listener: (usage: TokenUsage | undefined) => void): void } {
  return typeof value === 'object' && value !== null && USAGE_LATER in value;
}

/** Calls `listener` with the usage of `value`: now for a plain result, when its stream ends for a streamed one. */
export function whenUsage(value: unknown, listener: (usage: TokenUsage | undefined) => void): void {
  if (usageComesLater(value)) value[USAGE_LATER](listener);
  else listener(usageOf(value));
}
