/**
 * HTTP error shapes: a status on the error or its `response` (fetch wrappers, the openai
 * and Anthropic SDKs, axios, the AI SDK, the AWS SDK), the response headers, and what
 * the server says there about retrying (`x-should-retry`).
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

/** The response headers of an HTTP error: `headers`, `responseHeaders` (the AI SDK) or `response.headers`. */
export function headersOf(error: Bag): unknown {
  if (error.headers !== undefined) return error.headers;
  if (error.responseHeaders !== undefined) return error.responseHeaders;
  return isObject(error.response) ? error.response.headers : undefined;
}

/**
 * Reads one header from a `Headers`-like object (with `get`) or a plain object (any key
 * case, e.g. node:http's `IncomingHttpHeaders`, the AI SDK's `responseHeaders`). Several
 * values are joined with `, ` as `Headers.get` does — which no singleton header accepts.
 */
export function header(headers: object, name: string): string | undefined {
  const bag = headers as Record<string, unknown>;
  if (typeof bag.get === 'function') {
    const value = (bag.get as (key: string) => unknown).call(headers, name);
    return typeof value === 'string' ? value : undefined;
  }
  for (const key of Object.keys(bag)) {
    if (key.length !== name.length || key.toLowerCase() !== name) continue;
    const value = bag[key];
    if (Array.isArray(value)) return value.join(', ');
    return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
  }
  return undefined;
}

/**
 * What `x-should-retry` says (`true`/`false`), a header OpenAI's and Anthropic's servers
 * send and their SDKs obey over the status; undefined when absent or another value.
 */
export function shouldRetryHeader(headers: unknown): boolean | undefined {
  if (!isObject(headers)) return undefined;
  const value = header(headers, 'x-should-retry');
  return value === 'true' ? true : value === 'false' ? false : undefined;
}

/**
 * 429 → `rate-limited`; 408 (Request Timeout), 425 (Too Early) and 5xx but 501, 505–510
 * → `transient`; every other status (4xx, and anything below 400 thrown as an error) →
 * `permanent`.
 */
export function categoryOfStatus(status: number): ErrorCategory {
  if (status === 429) return 'rate-limited';
  if (status === 408 || status === 425) return 'transient';
  if (status >= 500) return PERMANENT_5XX.has(status) ? 'permanent' : 'transient';
  return 'permanent';
}
