/**
 * A streamed result as the policies see it: the attempt that returned it is over for
 * retry once its first chunk came, but the stream still runs against the dependency
 * until it ends. A streamed result registers readers of its end under
 * {@link ON_STREAM_END}: the bulkhead frees its slot then, and the rate limiter
 * reconciles its token budget from the usage the stream reported.
 */
import { type TokenUsage, usageOf } from '../classify/usage.js';

/** The method by which a streamed result takes a reader of its end (and the usage it reported). */
export const ON_STREAM_END: unique symbol = Symbol('otel-resilience stream end');

/** The method that cancels a streamed result nobody will read (a hedge that lost the race). */
export const CANCEL_STREAM: unique symbol = Symbol('otel-resilience cancel stream');

/** A result whose stream has not ended yet. */
export interface StreamedResult {
  [ON_STREAM_END](listener: (usage: TokenUsage | undefined) => void): void;
  [CANCEL_STREAM](): void;
}

/** Cancels `value` when it is a streamed result (its source closed, its spans ended); nothing otherwise. */
export function cancelStreamedResult(value: unknown): void {
  if (isStreamedResult(value)) value[CANCEL_STREAM]();
}

/** Whether `value` is a streamed result. */
export function isStreamedResult(value: unknown): value is StreamedResult {
  return typeof value === 'object' && value !== null && ON_STREAM_END in value;
}

/** Calls `listener` with the usage of `value`: now for a plain result, when its stream ends for a streamed one. */
export function whenUsage(value: unknown, listener: (usage: TokenUsage | undefined) => void): void {
  if (isStreamedResult(value)) value[ON_STREAM_END](listener);
  else listener(usageOf(value));
}
