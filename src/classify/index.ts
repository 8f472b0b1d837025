/**
 * Error classification: one entry point, `classifyError`, over one module per client
 * family (HTTP statuses and headers, Node/undici codes, gRPC, PostgreSQL, openai).
 */
import { ResilienceError, TimeoutError } from '../policies/errors.js';
import { classification, type ErrorClassification, isObject } from './classification.js';
import { classifyGrpc } from './grpc.js';
import { categoryOfStatus, headersOf, parseRetryAfter, statusOf } from './http.js';
import { categoryOfCode } from './node.js';
import { categoryOfOpenAiClass } from './openai.js';
import { classifyPostgres } from './postgres.js';

export type { ErrorCategory, ErrorClassification } from './classification.js';
export { parseRetryAfter } from './http.js';

/** How deep to follow `cause` chains (fetch wraps the socket error in `cause`). */
const MAX_CAUSE_DEPTH = 5;

/**
 * Classifies an error from the shapes real clients throw, for retry and circuit-breaker
 * decisions:
 * - this SDK's own errors by their `retryable` flag (`TimeoutError` → `timeout`);
 * - an HTTP status on `status`, `statusCode`, `response.status`, `response.statusCode`
 *   or `$metadata.httpStatusCode` (fetch wrappers, the openai SDK, axios, AWS SDK):
 *   429 → `rate-limited`; 408, 500, 502, 503, 504 and other 5xx → `transient`
 *   (501, 505–510 → `permanent`); other 4xx → `permanent`; with the wait from
 *   `retry-after-ms` / `Retry-After` on `headers` or `response.headers`;
 * - Node and undici error codes anywhere on the `cause` chain (undici's
 *   `TypeError: fetch failed` carries `cause.code`): ECONNRESET, ECONNREFUSED, EPIPE,
 *   EAI_AGAIN, UND_ERR_SOCKET … → `transient`; ETIMEDOUT, UND_ERR_*_TIMEOUT → `timeout`;
 * - gRPC status codes (grpc-js): UNAVAILABLE, ABORTED → `transient`, DEADLINE_EXCEEDED →
 *   `timeout`, RESOURCE_EXHAUSTED → `rate-limited`, others `permanent`;
 * - PostgreSQL SQLSTATE (node-postgres): connection exceptions (08xxx), serialization
 *   failure (40001), deadlock (40P01), shutdown (57P01–57P03) → `transient`, too many
 *   connections (53300) → `rate-limited`, others `permanent`;
 * - the openai SDK's classes: `APIConnectionError` → `transient`,
 *   `APIConnectionTimeoutError` → `timeout`, `APIUserAbortError` → `permanent`
 *   (its HTTP errors carry `status` and `headers`, covered above);
 * - a `TimeoutError` by name (e.g. `AbortSignal.timeout`) → `timeout`;
 *   an `AbortError` (cancellation) → `permanent`;
 * - any other error, or a non-error value → `permanent`: retry only what is known to be
 *   transient; widen with `retryOn`, or give your own errors `retryable: true`.
 *
 * Never throws.
 */
export function classifyError(error: unknown): ErrorClassification {
  if (!isObject(error)) return classification('permanent');
  if (error instanceof TimeoutError) return classification(error.retryable ? 'timeout' : 'permanent');
  if (error instanceof ResilienceError) {
    return classification(error.retryable ? 'transient' : 'permanent', undefined, undefined, error.retryAfterMs);
  }
  let current: unknown = error;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && isObject(current); depth++) {
    const status = statusOf(current);
    if (status !== undefined) {
      return classification(categoryOfStatus(status), status, undefined, parseRetryAfter(headersOf(current)));
    }
    const byFamily = classifyGrpc(current) ?? classifyPostgres(current);
    if (byFamily !== undefined) return byFamily;
    const code = typeof current.code === 'string' ? current.code : undefined;
    const byCode = code === undefined ? undefined : categoryOfCode(code);
    if (byCode !== undefined) return classification(byCode, undefined, code);
    const byClass = categoryOfOpenAiClass(current);
    if (byClass !== undefined) return classification(byClass, undefined, code);
    if (current.name === 'TimeoutError') return classification('timeout');
    if (current.name === 'AbortError') return classification('permanent');
    if (typeof current.retryable === 'boolean') {
      return classification(current.retryable ? 'transient' : 'permanent', undefined, code);
    }
    current = current.cause;
  }
  return classification('permanent');
}

/**
 * The `error.type` attribute value for an error (semantic conventions: low-cardinality
 * class of the error): the HTTP status as a string when known (`'503'`), else a Node or
 * undici error code (`'ECONNRESET'`), else the error's class name, else `'_OTHER'`.
 * Never throws.
 */
export function errorTypeOf(error: unknown): string {
  try {
    const { status, code } = classifyError(error);
    if (status !== undefined) return String(status);
    if (code !== undefined) return code;
    if (error instanceof Error) {
      // Prefer the class name where an SDK leaves `name` as plain 'Error' (the openai SDK does).
      const name = error.name === 'Error' ? error.constructor.name : error.name;
      return name || '_OTHER';
    }
    return '_OTHER';
  } catch {
    return '_OTHER';
  }
}
