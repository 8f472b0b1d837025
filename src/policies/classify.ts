import { ResilienceError, TimeoutError } from './errors.js';

/**
 * What kind of failure an error is:
 * - `transient`: worth retrying (connection reset, 5xx, 408);
 * - `rate-limited`: worth retrying after the advertised wait (429);
 * - `timeout`: the call took too long (retryable);
 * - `permanent`: retrying will not help (other 4xx, cancellation, bugs, unknown errors).
 */
export type ErrorCategory = 'transient' | 'rate-limited' | 'timeout' | 'permanent';

/** The result of {@link classifyError}. */
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

/** Node socket/DNS codes and undici codes that mean "the network hiccuped; try again". */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED', // also axios: a request aborted by its timeout
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_RESPONSE_STATUS_CODE',
]);

/** Codes that mean a network-level timeout. */
const TIMEOUT_CODES = new Set([
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** Error classes of client SDKs, by class name, for errors that carry no status or code. */
const CLASS_CATEGORIES: ReadonlyMap<string, ErrorCategory> = new Map([
  ['APIConnectionTimeoutError', 'timeout'], // openai SDK
  ['APIConnectionError', 'transient'], // openai SDK
  ['APIUserAbortError', 'permanent'], // openai SDK: the caller aborted
]);

/**
 * gRPC status codes (grpc-js `ServiceError.code`): UNAVAILABLE and ABORTED are worth
 * retrying, DEADLINE_EXCEEDED is a timeout, RESOURCE_EXHAUSTED a rate limit; the rest
 * (CANCELLED, INVALID_ARGUMENT, NOT_FOUND, …) are permanent.
 */
const GRPC_CATEGORIES: ReadonlyMap<number, ErrorCategory> = new Map([
  [14, 'transient'], // UNAVAILABLE
  [10, 'transient'], // ABORTED
  [4, 'timeout'], // DEADLINE_EXCEEDED
  [8, 'rate-limited'], // RESOURCE_EXHAUSTED
]);

/**
 * PostgreSQL SQLSTATE classes and codes worth retrying: connection exceptions (class
 * 08), serialization failure (40001), deadlock (40P01), too many connections (53300),
 * the server shutting down or starting (57P01–57P03).
 */
function categoryOfSqlState(state: string): ErrorCategory {
  if (state.startsWith('08') || ['40001', '40P01', '57P01', '57P02', '57P03'].includes(state)) return 'transient';
  if (state === '53300') return 'rate-limited';
  return 'permanent';
}

/** 5xx statuses that will not change on a retry. */
const PERMANENT_5XX = new Set([501, 505, 506, 507, 508, 510]);

/** How deep to follow `cause` chains (fetch wraps the socket error in `cause`). */
const MAX_CAUSE_DEPTH = 5;

type Bag = Record<string, unknown>;

function isObject(value: unknown): value is Bag {
  return typeof value === 'object' && value !== null;
}

function asStatus(value: unknown): number | undefined {
  if (typeof value === 'string' && /^\d{3}$/.test(value)) return Number(value);
  return typeof value === 'number' && Number.isInteger(value) && value >= 100 && value <= 599
    ? value
    : undefined;
}

/** The HTTP status of an error: `status`, `statusCode`, `response.status(Code)`, `$metadata.httpStatusCode`. */
function statusOf(error: Bag): number | undefined {
  const response = isObject(error.response) ? error.response : undefined;
  const metadata = isObject(error.$metadata) ? error.$metadata : undefined;
  return (
    asStatus(error.status) ??
    asStatus(error.statusCode) ??
    asStatus(response?.status) ??
    asStatus(response?.statusCode) ??
    asStatus(metadata?.httpStatusCode)
  );
}

/** Reads one header from a `Headers`-like object (with `get`) or a plain object (any key case). */
function header(headers: unknown, name: string): string | undefined {
  if (!isObject(headers)) return undefined;
  if (typeof headers.get === 'function') {
    const value = (headers.get as (key: string) => unknown).call(headers, name);
    return typeof value === 'string' ? value : undefined;
  }
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() !== name) continue;
    const value = headers[key];
    if (Array.isArray(value)) return typeof value[0] === 'string' ? value[0] : undefined;
    return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
  }
  return undefined;
}

/**
 * Parses a server's advertised wait, in milliseconds: the `retry-after-ms` header
 * (milliseconds, as sent by OpenAI and Azure) wins over `Retry-After` (delta-seconds or
 * an HTTP date, RFC 9110 §10.2.3). Returns undefined when absent or unparseable; a date
 * in the past yields 0.
 *
 * @param headers a `Headers` instance or a plain header object
 * @param nowMs the current time, for HTTP dates (default `Date.now()`)
 */
export function parseRetryAfter(headers: unknown, nowMs?: number): number | undefined {
  const ms = header(headers, 'retry-after-ms');
  if (ms !== undefined && ms.trim() !== '') {
    const value = Number(ms);
    if (Number.isFinite(value) && value >= 0) return value;
  }
  const raw = header(headers, 'retry-after')?.trim();
  if (!raw) return undefined;
  if (/^\d+(\.\d+)?$/.test(raw)) return Number(raw) * 1000;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - (nowMs ?? Date.now()));
}

function headersOf(error: Bag): unknown {
  if (error.headers !== undefined) return error.headers;
  return isObject(error.response) ? error.response.headers : undefined;
}

function categoryOfStatus(status: number): ErrorCategory {
  if (status === 429) return 'rate-limited';
  if (status === 408) return 'transient';
  if (status >= 500) return PERMANENT_5XX.has(status) ? 'permanent' : 'transient';
  return 'permanent';
}

function categoryOfCode(code: string): ErrorCategory | undefined {
  if (TRANSIENT_CODES.has(code)) return 'transient';
  if (TIMEOUT_CODES.has(code)) return 'timeout';
  return undefined;
}

function result(
  category: ErrorCategory,
  status?: number,
  code?: string,
  retryAfterMs?: number,
): ErrorClassification {
  return { category, retryable: category !== 'permanent', status, code, retryAfterMs };
}

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
  if (!isObject(error)) return result('permanent');
  if (error instanceof TimeoutError) return result(error.retryable ? 'timeout' : 'permanent');
  if (error instanceof ResilienceError) {
    return result(error.retryable ? 'transient' : 'permanent', undefined, undefined, error.retryAfterMs);
  }
  let current: unknown = error;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && isObject(current); depth++) {
    const status = statusOf(current);
    if (status !== undefined) {
      return result(categoryOfStatus(status), status, undefined, parseRetryAfter(headersOf(current)));
    }
    if (typeof current.code === 'number' && typeof current.details === 'string') {
      // A gRPC ServiceError: numeric status code plus details.
      return result(GRPC_CATEGORIES.get(current.code) ?? 'permanent', undefined, `GRPC_${current.code}`);
    }
    const code = typeof current.code === 'string' ? current.code : undefined;
    if (code !== undefined && typeof current.severity === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
      // A PostgreSQL error (node-postgres): a SQLSTATE code plus severity.
      return result(categoryOfSqlState(code), undefined, code);
    }
    const byCode = code === undefined ? undefined : categoryOfCode(code);
    if (byCode !== undefined) return result(byCode, undefined, code);
    const byClass = CLASS_CATEGORIES.get((current.constructor as { name?: string } | undefined)?.name ?? '');
    if (byClass !== undefined) return result(byClass, undefined, code);
    if (current.name === 'TimeoutError') return result('timeout');
    if (current.name === 'AbortError') return result('permanent');
    if (typeof current.retryable === 'boolean') {
      return result(current.retryable ? 'transient' : 'permanent', undefined, code);
    }
    current = current.cause;
  }
  return result('permanent');
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
