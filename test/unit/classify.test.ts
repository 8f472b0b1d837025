import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BrokenCircuitError,
  classifyError,
  errorClassName,
  errorTypeOf,
  parseRetryAfter,
  RetriesExhaustedError,
  TimeoutError,
  usageOf,
} from '../../src/index.js';

function withCause(message: string, code: string) {
  return new TypeError(message, { cause: Object.assign(new Error(code), { code }) });
}

/** Shaped like the openai / Anthropic SDKs' class (the openai SDK leaves `name` as 'Error'). */
class APIConnectionError extends Error {}
/** Shaped like the AI SDK's errors: a marker symbol and an `AI_` name. */
function aiSdkError(name: string, fields: object = {}) {
  return Object.assign(new Error(name), { name, [Symbol.for('vercel.ai.error')]: true }, fields);
}

describe('classifyError', () => {
  it.each([
    [{ status: 429 }, 'rate-limited'],
    [{ status: 408 }, 'transient'],
    [{ status: 425 }, 'transient'],
    [{ status: 500 }, 'transient'],
    [{ statusCode: 502 }, 'transient'],
    [{ response: { status: 503 } }, 'transient'],
    [{ $metadata: { httpStatusCode: 504 } }, 'transient'],
    [{ status: 529 }, 'transient'],
    [{ status: 501 }, 'permanent'],
    [{ status: 400 }, 'permanent'],
    [{ status: 404 }, 'permanent'],
    [{ status: 409 }, 'permanent'],
    [withCause('fetch failed', 'ECONNRESET'), 'transient'],
    [withCause('fetch failed', 'UND_ERR_SOCKET'), 'transient'],
    [withCause('fetch failed', 'UND_ERR_HEADERS_TIMEOUT'), 'timeout'],
    [new TypeError('fetch failed'), 'transient'],
    [new TypeError('Failed to fetch'), 'transient'],
    [Object.assign(new Error('x'), { code: 'EPIPE' }), 'transient'],
    [Object.assign(new Error('x'), { code: 'EAI_AGAIN' }), 'transient'],
    [Object.assign(new Error('x'), { code: 'ETIMEDOUT' }), 'timeout'],
    [new DOMException('timed out', 'TimeoutError'), 'timeout'],
    [new DOMException('aborted', 'AbortError'), 'permanent'],
    [new TimeoutError('attempt', 10), 'timeout'],
    [new TimeoutError('total', 10), 'permanent'],
    [new BrokenCircuitError('db', 'open', 5), 'permanent'],
    [Object.assign(new Error('mine'), { retryable: true }), 'transient'],
    [Object.assign(new Error('mine'), { retryable: false }), 'permanent'],
    // Unknown errors are transient (the peers' default); programming errors are not.
    [new Error('flaky'), 'transient'],
    [new Error('unknown'), 'transient'],
    [Object.assign(new Error('stream closed'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }), 'transient'],
    [new TypeError('x is not a function'), 'permanent'],
    [new ReferenceError('x is not defined'), 'permanent'],
    [new SyntaxError('Unexpected token'), 'permanent'],
    [new RangeError('Invalid array length'), 'permanent'],
    [Object.assign(new TypeError('The "url" argument must be of type string'), { code: 'ERR_INVALID_ARG_TYPE' }), 'permanent'],
    // node-postgres errors: a SQLSTATE `code` with `severity`
    [Object.assign(new Error('deadlock detected'), { code: '40P01', severity: 'ERROR' }), 'transient'],
    [Object.assign(new Error('could not serialize access'), { code: '40001', severity: 'ERROR' }), 'transient'],
    [Object.assign(new Error('connection failure'), { code: '08006', severity: 'FATAL' }), 'transient'],
    [Object.assign(new Error('too many connections'), { code: '53300', severity: 'FATAL' }), 'rate-limited'],
    [Object.assign(new Error('statement timeout'), { code: '57014', severity: 'ERROR' }), 'timeout'],
    [Object.assign(new Error('syntax error'), { code: '42601', severity: 'ERROR' }), 'permanent'],
    [Object.assign(new Error('unique violation'), { code: '23505', severity: 'ERROR' }), 'permanent'],
    // gRPC
    [Object.assign(new Error('unavailable'), { code: 14, details: 'x' }), 'transient'],
    [Object.assign(new Error('cancelled'), { code: 1, details: 'x' }), 'permanent'],
    // Thrown non-errors say nothing about themselves: transient.
    ['a string', 'transient'],
    [null, 'transient'],
  ])('%o is %s', (error, category) => {
    expect(classifyError(error).category).toBe(category);
  });

  it('peer parity (Polly, cockatiel, p-retry, tenacity): a plain Error is retried, a bug is not', () => {
    expect(classifyError(new Error('flaky'))).toMatchObject({ category: 'transient', retryable: true, errorType: 'Error' });
    expect(classifyError(new TypeError('x is not a function'))).toMatchObject({ category: 'permanent', retryable: false });
    // p-retry's rule: a TypeError is final unless it is fetch's network failure.
    expect(classifyError(new TypeError('fetch failed')).retryable).toBe(true);
  });

  it('marks cancellations as aborted (permanent) and nothing else', () => {
    for (const aborted of [
      new DOMException('aborted', 'AbortError'),
      Object.assign(new Error('canceled'), { name: 'CanceledError', code: 'ERR_CANCELED' }),
      Object.assign(new Error('aborted'), { code: 'UND_ERR_ABORTED' }),
      Object.assign(new Error('cancelled'), { code: 1, details: 'Cancelled on client' }),
    ]) {
      expect(classifyError(aborted)).toMatchObject({ category: 'permanent', aborted: true });
    }
    expect(classifyError({ status: 400 }).aborted).toBe(false);
    expect(classifyError(new TypeError('x is not a function')).aborted).toBe(false);
  });

  describe('the cause chain', () => {
    it('finds the undici code under an SDK connection error, for the decision and error.type', () => {
      const socket = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
      const error = new APIConnectionError('Connection error.', { cause: new TypeError('fetch failed', { cause: socket }) });
      expect(classifyError(error)).toMatchObject({ category: 'transient', code: 'UND_ERR_SOCKET', errorType: 'UND_ERR_SOCKET' });
      const timedOut = Object.assign(new Error('Connect Timeout Error'), { code: 'UND_ERR_CONNECT_TIMEOUT' });
      const slow = new APIConnectionError('Connection error.', { cause: new TypeError('fetch failed', { cause: timedOut }) });
      expect(classifyError(slow)).toMatchObject({ category: 'timeout', errorType: 'UND_ERR_CONNECT_TIMEOUT' });
    });

    it('lets a wrapped error decide when the wrapper says nothing', () => {
      const wrapped = new Error('charge failed', { cause: Object.assign(new Error('bad'), { status: 400 }) });
      expect(classifyError(wrapped)).toMatchObject({ category: 'permanent', status: 400, errorType: '400' });
      const bug = new Error('step failed', { cause: new ReferenceError('x is not defined') });
      expect(classifyError(bug)).toMatchObject({ category: 'permanent', errorType: 'Error' });
    });

    it('the outermost definite verdict wins', () => {
      const inner = Object.assign(new Error('unavailable'), { status: 503 });
      expect(classifyError(Object.assign(new Error('no', { cause: inner }), { retryable: false }))).toMatchObject({
        category: 'permanent',
        status: 503,
      });
      const bad = Object.assign(new Error('bad'), { status: 400 });
      expect(classifyError(new Error('x', { cause: new DOMException('t', 'TimeoutError') })).category).toBe('timeout');
      expect(classifyError(new TimeoutError('attempt', 5)).category).toBe('timeout');
      expect(classifyError(new TypeError('fetch failed', { cause: bad })).category).toBe('permanent');
    });

    it('reads the members of an AggregateError (happy eyeballs: one per address)', () => {
      const refused = (address: string) => Object.assign(new Error(`connect ECONNREFUSED ${address}`), { code: 'ECONNREFUSED' });
      const error = new TypeError('fetch failed', { cause: new AggregateError([refused('::1:1'), refused('127.0.0.1:1')]) });
      expect(classifyError(error)).toMatchObject({ category: 'transient', code: 'ECONNREFUSED', errorType: 'ECONNREFUSED' });
      const bugs = new AggregateError([new TypeError('a is not a function'), new Error('flaky')]);
      expect(classifyError(bugs).category).toBe('permanent');
    });

    it('stops on cycles and on very long chains', () => {
      const a = new Error('a') as Error & { cause?: unknown };
      const b = new Error('b', { cause: a });
      a.cause = b;
      expect(classifyError(a).category).toBe('transient');
      let deep: Error = Object.assign(new Error('bottom'), { status: 400 });
      for (let i = 0; i < 1000; i++) deep = new Error(`level ${i}`, { cause: deep });
      expect(classifyError(deep)).toMatchObject({ category: 'transient', status: undefined });
    });

    it("reads this SDK's errors as they are, not through their causes", () => {
      const exhausted = new RetriesExhaustedError([Object.assign(new Error('x'), { status: 503 })], 'max-retries');
      expect(classifyError(exhausted)).toMatchObject({
        category: 'permanent',
        status: undefined,
        errorType: 'RetriesExhaustedError',
      });
    });

    it("unwraps the AI SDK's RetryError to its lastError", () => {
      const last = aiSdkError('AI_APICallError', {
        statusCode: 429,
        isRetryable: true,
        responseHeaders: { 'retry-after-ms': '50' },
      });
      const first = aiSdkError('AI_APICallError', { statusCode: 400, isRetryable: false });
      const retry = aiSdkError('AI_RetryError', { reason: 'maxRetriesExceeded', errors: [first, last], lastError: last });
      expect(classifyError(retry)).toMatchObject({ category: 'rate-limited', status: 429, retryAfterMs: 50, errorType: '429' });
    });
  });

  it("reads MCP transports' HTTP status, and their 404 for an unknown session as an expired session", () => {
    class StreamableHTTPError extends Error {
      constructor(
        readonly code: number,
        message: string,
      ) {
        super(`Streamable HTTP error: ${message}`);
      }
    }
    const expired = new StreamableHTTPError(404, 'Error POSTing to endpoint: {"error":{"message":"Session not found"}}');
    expect(classifyError(expired)).toMatchObject({ category: 'transient', status: 404, code: 'MCP_SESSION_EXPIRED' });
    expect(classifyError(new StreamableHTTPError(404, 'Error POSTing to endpoint: Not Found')).category).toBe('permanent');
    expect(classifyError(new StreamableHTTPError(503, 'Error POSTing to endpoint: busy'))).toMatchObject({
      category: 'transient',
      status: 503,
    });
    // A plain error with a numeric code is no transport error.
    expect(classifyError(Object.assign(new Error('session gone'), { code: 404 })).status).toBeUndefined();
  });

  describe('explicit flags', () => {
    it("honours the AI SDK's isRetryable over the status, keeping a 429 rate-limited", () => {
      expect(classifyError(aiSdkError('AI_APICallError', { statusCode: 409, isRetryable: true })).category).toBe('transient');
      expect(classifyError(aiSdkError('AI_APICallError', { statusCode: 503, isRetryable: false })).category).toBe('permanent');
      expect(classifyError(aiSdkError('AI_APICallError', { statusCode: 429, isRetryable: true })).category).toBe('rate-limited');
    });

    it('honours x-should-retry from OpenAI and Anthropic servers', () => {
      expect(classifyError({ status: 503, headers: new Headers({ 'x-should-retry': 'false' }) }).category).toBe('permanent');
      expect(classifyError({ status: 409, headers: new Headers({ 'x-should-retry': 'true' }) }).category).toBe('transient');
      expect(classifyError({ status: 409, headers: new Headers({ 'x-should-retry': 'maybe' }) }).category).toBe('permanent');
    });

    it("treats the AI SDK's errors of the caller's making as permanent, the model's output errors as transient", () => {
      expect(classifyError(aiSdkError('AI_InvalidPromptError')).category).toBe('permanent');
      expect(classifyError(aiSdkError('AI_LoadAPIKeyError')).category).toBe('permanent');
      expect(classifyError(aiSdkError('AI_NoObjectGeneratedError')).category).toBe('transient');
      // Without the marker the name alone proves nothing.
      expect(classifyError(Object.assign(new Error('x'), { name: 'AI_InvalidPromptError' })).category).toBe('transient');
    });
  });

  it('reads Retry-After from Headers and plain objects, retry-after-ms first', () => {
    const headers = new Headers({ 'Retry-After': '2' });
    expect(classifyError({ status: 429, headers }).retryAfterMs).toBe(2000);
    expect(classifyError({ response: { status: 503, headers: { 'retry-after': '3' } } }).retryAfterMs).toBe(3000);
    expect(classifyError({ status: 429, headers: { 'retry-after-ms': '250', 'retry-after': '9' } }).retryAfterMs).toBe(250);
    expect(classifyError({ status: 429, headers: { 'RETRY-AFTER': ['4'] } }).retryAfterMs).toBe(4000);
  });

  it('says when a Retry-After header was present but ignored', () => {
    expect(classifyError({ status: 429, headers: { 'retry-after': '-1' } })).toMatchObject({
      retryAfterMs: undefined,
      retryAfterIgnored: 'retry-after: -1',
    });
    expect(classifyError({ status: 429, headers: { 'retry-after-ms': 'soon', 'retry-after': '2' } })).toMatchObject({
      retryAfterMs: 2000,
      retryAfterIgnored: 'retry-after-ms: soon',
    });
    expect(classifyError({ status: 429, headers: { 'retry-after-ms': '-3', 'retry-after': '3,4' } }).retryAfterIgnored).toBe(
      'retry-after-ms: -3, retry-after: 3,4',
    );
    expect(classifyError({ status: 429, headers: { 'retry-after': 'x'.repeat(500) } }).retryAfterIgnored).toBe(
      `retry-after: ${'x'.repeat(64)}…`,
    );
    expect(classifyError({ status: 429, headers: { 'retry-after': '1' } }).retryAfterIgnored).toBeUndefined();
    expect(classifyError({ status: 429 }).retryAfterIgnored).toBeUndefined();
  });

  it('measures HTTP-dates against the nowMs it is given', () => {
    const nowMs = Date.parse('2026-11-22T10:00:00Z');
    const error = { status: 503, headers: { 'retry-after': 'Sun, 22 Nov 2026 10:00:30 GMT' } };
    expect(classifyError(error, { nowMs }).retryAfterMs).toBe(30_000);
    expect(classifyError(error, { nowMs: nowMs + 10_000 }).retryAfterMs).toBe(20_000);
  });

  it('rejects invalid options with a TypeError naming them, but never throws for an error', () => {
    expect(() => classifyError(new Error('x'), { nowMs: Number.NaN })).toThrow(/nowMs.*NaN/);
    expect(() => classifyError(new Error('x'), { nowMs: '1' as unknown as number })).toThrow(TypeError);
    expect(() => classifyError(new Error('x'), { now: 1 } as never)).toThrow(/now.*unknown/);
    expect(() => classifyError(new Error('x'), 5 as never)).toThrow(TypeError);
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('no reads');
        },
      },
    );
    expect(classifyError(hostile)).toMatchObject({ category: 'transient', errorType: '_OTHER' });
  });
});

describe('classifyError (property)', () => {
  const shapes = fc.oneof(
    fc.integer({ min: 100, max: 599 }).map((status) => Object.assign(new Error('http'), { status })),
    fc
      .constantFrom('ECONNRESET', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'ERR_CANCELED', 'EWHATEVER')
      .map((code) => Object.assign(new Error(code), { code })),
    fc.integer({ min: 0, max: 16 }).map((code) => Object.assign(new Error('grpc'), { code, details: 'd' })),
    fc
      .constantFrom(-32000, -32001, -32601, -32603, -1)
      .map((code) => Object.assign(new Error('mcp'), { name: 'McpError', code })),
    fc.constantFrom(new TypeError('x is not a function'), new TypeError('fetch failed'), new Error('flaky'), new RangeError('r')),
    fc.constantFrom(new DOMException('a', 'AbortError'), new DOMException('t', 'TimeoutError')),
    fc.boolean().map((retryable) => Object.assign(new Error('flagged'), { retryable })),
  );

  it('never throws, and retryable is exactly "not permanent", for anything thrown', () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), shapes), (thrown) => {
        const c = classifyError(thrown);
        expect(c.retryable).toBe(c.category !== 'permanent');
        expect(!c.aborted || c.category === 'permanent').toBe(true);
        expect(c.errorType.length).toBeGreaterThan(0);
      }),
      { numRuns: 1000 },
    );
  });

  it('a wrapper that says nothing changes neither the decision nor status and code, however deep', () => {
    fc.assert(
      fc.property(shapes, fc.integer({ min: 1, max: 10 }), (inner, depth) => {
        let wrapped: unknown = inner;
        for (let i = 0; i < depth; i++) wrapped = new Error(`wrapper ${i}`, { cause: wrapped });
        const [a, b] = [classifyError(inner), classifyError(wrapped)];
        expect([b.category, b.aborted, b.status, b.code]).toEqual([a.category, a.aborted, a.status, a.code]);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('errorTypeOf', () => {
  it('prefers status, then code, then class name', () => {
    expect(errorTypeOf({ status: 503 })).toBe('503');
    expect(errorTypeOf(withCause('fetch failed', 'ECONNREFUSED'))).toBe('ECONNREFUSED');
    expect(errorTypeOf(Object.assign(new Error('x'), { code: 'ERR_INVALID_URL' }))).toBe('ERR_INVALID_URL');
    expect(errorTypeOf(Object.assign(new Error('x'), { code: 'not a code' }))).toBe('Error');
    expect(errorTypeOf(new RangeError('x'))).toBe('RangeError');
    expect(errorTypeOf(new RetriesExhaustedError([new Error('a')], 'max-retries'))).toBe('RetriesExhaustedError');
    expect(errorTypeOf(new BrokenCircuitError('db', 'open'))).toBe('BrokenCircuitError');
    expect(errorTypeOf(Object.assign(new Error('x'), { code: -32001, name: 'McpError' }))).toBe('-32001');
    expect(errorTypeOf(42)).toBe('_OTHER');
  });
});

describe('errorClassName', () => {
  it('is the name an SDK set, else the constructor, for exception.type', () => {
    class Plain extends Error {}
    expect(errorClassName(new Plain('x'))).toBe('Plain');
    expect(errorClassName(new APIConnectionError('x'))).toBe('APIConnectionError');
    expect(errorClassName(new BrokenCircuitError('db', 'open'))).toBe('BrokenCircuitError');
    expect(errorClassName(new DOMException('x', 'AbortError'))).toBe('AbortError');
    expect(errorClassName(aiSdkError('AI_APICallError'))).toBe('AI_APICallError');
    expect(errorClassName(new Error('x'))).toBe('Error');
    expect(errorClassName({ status: 1 })).toBe('_OTHER');
    expect(errorClassName('boom')).toBe('_OTHER');
    expect(errorClassName(Object.assign(new Error('x'), { name: 'N'.repeat(1000) }))).toBe('N'.repeat(128));
  });
});

describe('parseRetryAfter (RFC 9110 §10.2.3)', () => {
  const nowMs = Date.parse('2026-11-22T10:00:00Z');
  const parse = (value: string) => parseRetryAfter({ 'retry-after': value }, nowMs);

  it.each([
    ['0', 0],
    ['1', 1000],
    ['120', 120_000],
    ['007', 7000],
    [' 5\t', 5000], // surrounding whitespace is not part of a field value
    ['Sun, 22 Nov 2026 10:00:30 GMT', 30_000], // IMF-fixdate
    ['Sunday, 22-Nov-26 10:00:30 GMT', 30_000], // obsolete rfc850-date
    ['Sun Nov 22 10:00:30 2026', 30_000], // obsolete asctime-date
    ['Tue Dec  1 10:00:00 2026', 9 * 86_400_000], // asctime pads a one-digit day with a space
    ['Tue Dec 01 10:00:00 2026', 9 * 86_400_000],
    ['Sun, 22 Nov 2026 09:00:00 GMT', 0], // in the past: now
    ['Thu, 31 Dec 2026 23:59:60 GMT', Date.parse('2027-01-01T00:00:00Z') - nowMs], // leap second
    ['Mon, 29 Feb 2028 00:00:00 GMT', Date.parse('2028-02-29T00:00:00Z') - nowMs],
    ['Sat, 01 Jan 0000 00:00:00 GMT', 0], // year 0000 is a valid 4DIGIT
    ['Sun, 22 Nov 0026 10:00:30 GMT', 0], // year 26, long past (not 2026)
  ])('%j → %d ms', (value, ms) => {
    expect(parse(value)).toBe(ms);
  });

  it.each([
    '',
    ' ',
    '-1',
    '-5',
    '+5',
    '3,4',
    '1.5',
    '1e3',
    '0x10',
    '5 s',
    'Infinity',
    'NaN',
    '１２', // full-width digits are no DIGIT
    'soon',
    'Mar 5',
    '2026-11-22T10:00:30Z',
    'sun, 22 nov 2026 10:00:30 gmt', // HTTP-date is case-sensitive
    'Sun, 22 Nov 2026 10:00:30 UTC',
    'Sun, 22 Nov 2026 10:00:30 +0000',
    'Sun, 2 Nov 2026 10:00:30 GMT', // day is 2DIGIT
    'Sun, 22 Nov 26 10:00:30 GMT', // IMF year is 4DIGIT
    'Sun,  22 Nov 2026 10:00:30 GMT',
    'Sun, 22 Nov 2026 10:00 GMT',
    'Sun, 22 Nov 2026 24:00:00 GMT',
    'Sun, 22 Nov 2026 10:60:00 GMT',
    'Sun, 22 Nov 2026 10:00:61 GMT',
    'Tue, 31 Feb 2026 10:00:00 GMT', // no such day
    'Sun, 29 Feb 2027 10:00:00 GMT', // not a leap year
    'Sun, 00 Nov 2026 10:00:00 GMT',
    'Sun, 22 Nov 2026 10:00:30 GMT trailing',
    'Xyz, 22 Nov 2026 10:00:30 GMT',
    'Sun, 22 Foo 2026 10:00:30 GMT',
    'Sun, 22-Nov-26 10:00:30 GMT', // rfc850 needs the long day name
    'Sunday, 22-Nov-2026 10:00:30 GMT',
    'Sun Nov 2 10:00:30 2026', // asctime: one-digit day needs two spaces
    'Sun Nov 22 10:00:30 26',
    'Sun Nov 22 10:00:30 2026 GMT',
  ])('%j is ignored', (value) => {
    expect(parse(value)).toBeUndefined();
  });

  it('reads a two-digit rfc850 year as the one within 50 years of now (§5.6.7)', () => {
    expect(parse('Sunday, 22-Nov-76 10:00:00 GMT')).toBe(Date.parse('2076-11-22T10:00:00Z') - nowMs); // 2076: 50 years ahead
    expect(parse('Tuesday, 22-Nov-77 10:00:00 GMT')).toBe(0); // 2077 is more than 50 years ahead: 1977
    expect(parseRetryAfter({ 'retry-after': 'Sunday, 06-Nov-94 08:49:37 GMT' }, Date.parse('1994-11-06T08:49:00Z'))).toBe(37_000);
  });

  it('saturates a huge delay-seconds instead of waiting forever', () => {
    expect(parse('9'.repeat(400))).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('reads retry-after-ms as a non-negative decimal number of ms', () => {
    const ms = (value: string) => parseRetryAfter({ 'retry-after-ms': value }, nowMs);
    expect(ms('50')).toBe(50);
    expect(ms('12.5')).toBe(12.5);
    expect(ms('0')).toBe(0);
    for (const bad of ['-1', '+1', '1e2', '.5', '5.', 'fast', '', '1,2']) expect(ms(bad)).toBeUndefined();
  });

  it('validates nowMs', () => {
    expect(() => parseRetryAfter({ 'retry-after': '1' }, Number.POSITIVE_INFINITY)).toThrow(/nowMs/);
  });

  const toRfc850 = (date: Date) => {
    const days = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
    const [, dd, mon, yyyy, time] = date.toUTCString().split(' ') as [string, string, string, string, string];
    return `${days[date.getUTCDay()]}, ${dd}-${mon}-${yyyy.slice(2)} ${time} GMT`;
  };
  const toAsctime = (date: Date) => {
    const [day, dd, mon, yyyy, time] = date.toUTCString().split(' ') as [string, string, string, string, string];
    return `${day.slice(0, 3)} ${mon} ${dd.replace(/^0/, ' ')} ${time} ${yyyy}`;
  };

  it('fuzz: any string gives undefined or a finite wait ≥ 0, and never throws', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ maxLength: 40 }), (a, b) => {
        for (const value of [a, b]) {
          const ms = parseRetryAfter({ 'retry-after': value, 'retry-after-ms': value }, nowMs);
          expect(ms === undefined || (Number.isFinite(ms) && ms >= 0)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('fuzz: a value that is neither digits nor a date of the grammar is ignored', () => {
    const notDigits = fc
      .string({ maxLength: 30 })
      .filter((s) => !/^[ \t]*\d+[ \t]*$/.test(s) && !/ GMT[ \t]*$|\d{4}[ \t]*$/.test(s));
    fc.assert(
      fc.property(notDigits, (value) => {
        expect(parse(value)).toBeUndefined();
      }),
      { numRuns: 2000 },
    );
  });

  it('fuzz: delay-seconds and the three date forms of any instant agree with the clock', () => {
    const inWindow = fc.integer({ min: nowMs - 40 * 365 * 86_400_000, max: nowMs + 40 * 365 * 86_400_000 });
    fc.assert(
      fc.property(fc.nat({ max: 10 ** 9 }), inWindow, (seconds, instant) => {
        expect(parse(String(seconds))).toBe(seconds * 1000);
        const date = new Date(Math.floor(instant / 1000) * 1000);
        const expected = Math.max(0, date.getTime() - nowMs);
        expect(parse(date.toUTCString())).toBe(expected);
        expect(parse(toRfc850(date))).toBe(expected);
        expect(parse(toAsctime(date))).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('fuzz: one character changed in a valid date either still parses as a date or is ignored, never a delay', () => {
    const valid = 'Sun, 22 Nov 2026 10:00:30 GMT';
    fc.assert(
      fc.property(fc.nat({ max: valid.length - 1 }), fc.string({ minLength: 1, maxLength: 1 }), (at, char) => {
        const value = valid.slice(0, at) + char + valid.slice(at + 1);
        const ms = parse(value);
        // (Date.parse, the oracle, knows no leap second and reads year 0026 as 2026.)
        if (ms !== undefined && !value.includes(':60 ') && !/ 0\d{3} /.test(value))
          expect(ms).toBe(Math.max(0, Date.parse(value.replace(/^[A-Za-z]+, /, '')) - nowMs));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('usageOf', () => {
  it('reads the openai, Anthropic and AI SDK shapes', () => {
    expect(usageOf({ usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 } })).toEqual({
      inputTokens: 12,
      outputTokens: 5,
    });
    expect(usageOf({ usage: { input_tokens: 9, output_tokens: 3, input_tokens_details: { cached_tokens: 4 } } })).toEqual({
      inputTokens: 9,
      outputTokens: 3,
    });
    expect(
      usageOf({ usage: { input_tokens: 10, cache_creation_input_tokens: 100, cache_read_input_tokens: 1000, output_tokens: 2 } }),
    ).toEqual({ inputTokens: 1110, outputTokens: 2 });
    expect(usageOf({ usage: { inputTokens: 3, outputTokens: 1 }, totalUsage: { inputTokens: 7, outputTokens: 4 } })).toEqual({
      inputTokens: 7,
      outputTokens: 4,
    });
    expect(usageOf({ inputTokens: 2, outputTokens: 8 })).toEqual({ inputTokens: 2, outputTokens: 8 });
  });

  it('is undefined without a whole, valid usage', () => {
    for (const result of [
      undefined,
      'text',
      {},
      { usage: null },
      { usage: { prompt_tokens: 3 } },
      { usage: { inputTokens: undefined, outputTokens: undefined } },
      { usage: { input_tokens: -1, output_tokens: 2 } },
      { usage: { input_tokens: 1.5, output_tokens: 2 } },
      { usage: { input_tokens: '3', output_tokens: 2 } },
      { totalUsage: Promise.resolve({ inputTokens: 1, outputTokens: 1 }) },
    ]) {
      expect(usageOf(result)).toBeUndefined();
    }
  });
});
