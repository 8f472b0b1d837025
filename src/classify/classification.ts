/**
 * The shape every client family's classifier returns, and the small helpers they share.
 */

/**
 * What kind of failure an error is:
 * - `transient`: worth retrying (connection reset, 5xx, 408);
 * - `rate-limited`: worth retrying after the advertised wait (429);
 * - `timeout`: the call took too long (retryable);
 * - `permanent`: retrying will not help (other 4xx, cancellation, bugs, unknown errors).
 */
export type ErrorCategory = 'transient' | 'rate-limited' | 'timeout' | 'permanent';

/** The result of `classifyError`. */
export interface ErrorClassification {
  /** The failure kind. */
  readonly category: ErrorCategory;
  /** `true` for every category but `permanent`. */
  readonly retryable: boolean;
  /** HTTP status found on the error (or its `response`), if any. */
  readonly status: number | undefined;
  /** Node/undici error code found on the error or its `cause` chain, if any. */
  readonly code: string | undefined;
  /** Server-advertised wait from `retry-after-ms` or `Retry-After` (seconds or HTTP date), in ms. */
  readonly retryAfterMs: number | undefined;
}

/** An error (or any object) read property by property. */
export type Bag = Record<string, unknown>;

/** Whether `value` is a non-null object whose properties can be read. */
export function isObject(value: unknown): value is Bag {
  return typeof value === 'object' && value !== null;
}

/** Builds an {@link ErrorClassification}; `retryable` follows from the category. */
export function classification(
  category: ErrorCategory,
  status?: number,
  code?: string,
  retryAfterMs?: number,
): ErrorClassification {
  return { category, retryable: category !== 'permanent', status, code, retryAfterMs };
}
