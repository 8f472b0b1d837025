/**
 * HTTP error shapes: a status on the error or its `response` (fetch wrappers, the openai
 * SDK, axios, the AWS SDK) and the server's advertised wait in its headers.
 */
import { type Bag, type ErrorCategory, isObject } from './classification.js';

/** 5xx statuses that will not change on a retry. */
const PERMANENT_5XX = new Set([501, 505, 506, 507, 508, 510]);

function asStatus(value: unknown): number | undefined {
  if (typeof value === 'string' && /^\d{3}$/.test(value)) return Number(value);
  return typeof value === 'number' && Number.isInteger(value) && value >= 100 && value <= 599 ? value : undefined;
}

/** The HTTP status of an error: `status`, `statusCode`, `response.status(Code)`, `$metadata.httpStatusCode`. */
export function statusOf(error: Bag): number | undefined {
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

/** The response headers of an HTTP error: `headers` or `response.headers`. */
export function headersOf(error: Bag): unknown {
  if (error.headers !== undefined) return error.headers;
  return isObject(error.response) ? error.response.headers : undefined;
}

/** 429 → `rate-limited`; 408 and 5xx but 501, 505–510 → `transient`; other statuses → `permanent`. */
export function categoryOfStatus(status: number): ErrorCategory {
  if (status === 429) return 'rate-limited';
  if (status === 408) return 'transient';
  if (status >= 500) return PERMANENT_5XX.has(status) ? 'permanent' : 'transient';
  return 'permanent';
}
