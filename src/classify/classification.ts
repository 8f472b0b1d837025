/**
 * The shape `classifyError` returns, what each client family's module says about one
 * error of a chain (a `Verdict`), and the small helpers they share.
 */

/**
 * What kind of failure an error is:
 * - `transient`: worth retrying (connection reset, 5xx, 408, 425, unknown errors);
 * - `rate-limited`: worth retrying after the advertised wait (429);
 * - `timeout`: the call took too long (retryable);
 * - `permanent`: retrying will not help (other 4xx, the caller's abort, programming
 *   errors, the SDK's own non-retryable rejections).
 */
export type ErrorCategory = 'transient' | 'rate-limited' | 'timeout' | 'permanent';

/** The result of `classifyError`. */
export interface ErrorClassification {
  /** The failure kind. */
  readonly category: ErrorCategory;
  /** `true` for every category but `permanent`. */
  readonly retryable: boolean;
  /** `true` when the failure is a cancellation (the caller's abort); `category` is then `permanent`. */
  readonly aborted: boolean;
  /** The first HTTP status found on the error or its causes, if any. */
  readonly status: number | undefined;
  /**
   * The first error code found on the error or its causes: a Node/undici code
   * (`ECONNRESET`, `UND_ERR_SOCKET`), a gRPC status name (`UNAVAILABLE`), a PostgreSQL SQLSTATE, a JSON-RPC code
   * of MCP (`-32001`), or another library's upper-case code (`ERR_INVALID_URL`).
   */
  readonly code: string | undefined;
  /** Server-advertised wait from `retry-after-ms` or `Retry-After`, in ms (always finite). */
  readonly retryAfterMs: number | undefined;
  /**
   * Set when a `retry-after-ms` or `Retry-After` header was present but invalid and so
   * ignored (the wait falls back to backoff): `name: value` of each such header, the
   * value cut to 64 characters, e.g. `'retry-after: -1'`. For an attribute.
   */
  readonly retryAfterIgnored: string | undefined;
  /**
   * The `error.type` attribute value (OpenTelemetry semantic conventions): the status as
   * a string (`'503'`), else the code (`'UND_ERR_SOCKET'`), else the class name of the
   * outermost error (see `errorClassName`), else `'_OTHER'`.
   */
  readonly errorType: string;
}

/** Options of `classifyError`. */
export interface ClassifyOptions {
  /** The current wall-clock time in ms since the epoch, for HTTP-date Retry-After values (default `Date.now()`). */
  readonly nowMs?: number;
}

/**
 * What one error of a chain says about itself, from the module that knows its family
 * (undefined: it says nothing). The first definite verdict along the chain decides:
 * a category, or `aborted` (a cancellation: permanent). Two are tentative and decide
 * only when no error of the chain says anything definite:
 * - `network`: a connection-level wrapper (undici's `TypeError: fetch failed`, the
 *   openai SDK's `APIConnectionError`) whose causes may say more (a timeout code);
 *   transient otherwise;
 * - `bug`: a programming error (`ReferenceError`, a `TypeError` that is no network
 *   failure): permanent otherwise.
 */
export type Verdict = ErrorCategory | 'aborted' | 'network' | 'bug';

/** An error (or any object) read property by property. */
export type Bag = Record<string, unknown>;

/** Whether `value` is a non-null object whose properties can be read. */
export function isObject(value: unknown): value is Bag {
  return typeof value === 'object' && value !== null;
}

/** The constructor name of an object, or `''` (no constructor, or a throwing getter). */
export function constructorName(value: Bag): string {
  const name = (value.constructor as { name?: unknown } | undefined)?.name;
  return typeof name === 'string' ? name : '';
}

/** Longest class name returned (an attribute value, low-cardinality by intent). */
const MAX_NAME = 128;

/**
 * The class name of an error for `exception.type` and `error.type`: its `name` when an
 * SDK set one (`TypeError`, `AbortError`, `AI_APICallError`, `BrokenCircuitError`),
 * else its constructor's name where `name` was left as `'Error'` (the openai SDK's
 * classes, `class MyError extends Error {}`), else `'Error'`; `'_OTHER'` for a value
 * that is neither an error nor a named object. Never throws.
 *
 * OpenTelemetry JS's `recordException` puts an error's `code` in `exception.type` when it
 * has one (`BROKEN_CIRCUIT`); pass this name instead to keep the class. A `name` longer
 * than 128 characters (set at run time, not a class) is cut to 128.
 */
export function errorClassName(error: unknown): string {
  if (!isObject(error)) return '_OTHER';
  try {
    const name = error.name;
    if (typeof name === 'string' && name !== '' && name !== 'Error')
      return name.length > MAX_NAME ? name.slice(0, MAX_NAME) : name;
    const ctor = constructorName(error);
    if (ctor !== '' && ctor !== 'Object') return ctor;
    return error instanceof Error || name === 'Error' ? 'Error' : '_OTHER';
  } catch {
    return '_OTHER';
  }
}

/** What a family module found on one error of a chain: its code and its verdict, either possibly undefined. */
export interface Finding {
  readonly verdict: Verdict | undefined;
  readonly code: string | undefined;
}
