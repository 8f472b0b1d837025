import { describe, expect, it } from 'vitest';
import {
  BrokenCircuitError,
  classifyError,
  errorTypeOf,
  parseRetryAfter,
  RetriesExhaustedError,
  TimeoutError,
} from '../../src/index.js';

function withCause(message: string, code: string) {
  return new TypeError(message, { cause: Object.assign(new Error(code), { code }) });
}

describe('classifyError', () => {
  it.each([
    [{ status: 429 }, 'rate-limited'],
    [{ status: 408 }, 'transient'],
    [{ status: 500 }, 'transient'],
    [{ statusCode: 502 }, 'transient'],
    [{ response: { status: 503 } }, 'transient'],
    [{ $metadata: { httpStatusCode: 504 } }, 'transient'],
    [{ status: 501 }, 'permanent'],
    [{ status: 400 }, 'permanent'],
    [{ status: 404 }, 'permanent'],
    [withCause('fetch failed', 'ECONNRESET'), 'transient'],
    [withCause('fetch failed', 'UND_ERR_SOCKET'), 'transient'],
    [withCause('fetch failed', 'UND_ERR_HEADERS_TIMEOUT'), 'timeout'],
    [Object.assign(new Error('x'), { code: 'EPIPE' }), 'transient'],
    [Object.assign(new Error('x'), { code: 'EAI_AGAIN' }), 'transient'],
    [Object.assign(new Error('x'), { code: 'ETIMEDOUT' }), 'timeout'],
    [new DOMException('timed out', 'TimeoutError'), 'timeout'],
    [new DOMException('aborted', 'AbortError'), 'permanent'],
    [new TimeoutError('attempt', 10), 'timeout'],
    [new TimeoutError('total', 10), 'permanent'],
    [new BrokenCircuitError('db', 'open', 5), 'permanent'],
    [Object.assign(new Error('mine'), { retryable: true }), 'transient'],
    [new Error('unknown'), 'permanent'],
    // node-postgres errors: a SQLSTATE `code` with `severity`
    [Object.assign(new Error('deadlock detected'), { code: '40P01', severity: 'ERROR' }), 'transient'],
    [Object.assign(new Error('could not serialize access'), { code: '40001', severity: 'ERROR' }), 'transient'],
    [Object.assign(new Error('connection failure'), { code: '08006', severity: 'FATAL' }), 'transient'],
    [Object.assign(new Error('too many connections'), { code: '53300', severity: 'FATAL' }), 'rate-limited'],
    [Object.assign(new Error('syntax error'), { code: '42601', severity: 'ERROR' }), 'permanent'],
    [Object.assign(new Error('unique violation'), { code: '23505', severity: 'ERROR' }), 'permanent'],
    ['a string', 'permanent'],
    [null, 'permanent'],
  ])('%o is %s', (error, category) => {
    expect(classifyError(error).category).toBe(category);
  });

  it('reads Retry-After from Headers and plain objects', () => {
    const headers = new Headers({ 'Retry-After': '2' });
    expect(classifyError({ status: 429, headers }).retryAfterMs).toBe(2000);
    expect(classifyError({ response: { status: 503, headers: { 'retry-after': '1.5' } } }).retryAfterMs).toBe(1500);
    expect(classifyError({ status: 429, headers: { 'retry-after-ms': '250', 'retry-after': '9' } }).retryAfterMs).toBe(250);
  });

  it('parses HTTP-date Retry-After relative to now, never negative', () => {
    const now = Date.parse('2026-11-22T10:00:00Z');
    expect(parseRetryAfter({ 'Retry-After': 'Sun, 22 Nov 2026 10:00:30 GMT' }, now)).toBe(30000);
    expect(parseRetryAfter({ 'Retry-After': 'Sun, 22 Nov 2026 09:00:00 GMT' }, now)).toBe(0);
    expect(parseRetryAfter({ 'Retry-After': 'soon' }, now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe('errorTypeOf', () => {
  it('prefers status, then code, then class name', () => {
    expect(errorTypeOf({ status: 503 })).toBe('503');
    expect(errorTypeOf(withCause('fetch failed', 'ECONNREFUSED'))).toBe('ECONNREFUSED');
    expect(errorTypeOf(new RangeError('x'))).toBe('RangeError');
    expect(errorTypeOf(new RetriesExhaustedError([new Error('a')], 'max-retries'))).toBe('RetriesExhaustedError');
    expect(errorTypeOf(42)).toBe('_OTHER');
  });
});
