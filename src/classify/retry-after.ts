/**
 * The server's advertised wait: `Retry-After` exactly as RFC 9110 §10.2.3 defines it
 * (`HTTP-date / delay-seconds`, HTTP-date in the three forms of §5.6.7) and the
 * `retry-after-ms` header that OpenAI, Anthropic and Azure send (milliseconds). A value
 * outside those grammars is ignored — the caller falls back to its backoff — and
 * reported, so a trace can say that a header was present but not honoured.
 */
import { isObject } from './classification.js';
import { header } from './http.js';

/** What the headers of one response say about when to try again. */
export interface RetryAfter {
  /** The wait in ms, or undefined when no valid header was present. */
  readonly ms: number | undefined;
  /** `name: value` of each header present but ignored (invalid), `, `-joined; else undefined. */
  readonly ignored: string | undefined;
}

const NONE: RetryAfter = { ms: undefined, ignored: undefined };

/** A raw value reported as ignored is cut to this many characters (attribute size). */
const MAX_REPORTED_VALUE = 64;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = `(${MONTHS.join('|')})`;
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
/** IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`. */
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
/** rfc850-date (obsolete): `Sunday, 06-Nov-94 08:49:37 GMT`. */
const RFC850_DATE = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`,
);
/** asctime-date (obsolete): `Sun Nov  6 08:49:37 1994` (a one-digit day is padded with a space). */
const ASCTIME_DATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} (\\d{2}| \\d) ${TIME} (\\d{4})$`);

/** Milliseconds in 400 Gregorian years (146,097 days): the calendar repeats after it. */
const GREGORIAN_CYCLE_MS = 146_097 * 86_400_000;

/**
 * The instant an RFC 9110 §5.6.7 HTTP-date names, in ms since the epoch, or undefined
 * when `value` is not one (grammar, case and a real calendar date and time of day,
 * second 60 allowed for a leap second; the day name must be one of the grammar's but is
 * not checked against the date, which the grammar does not ask). A two-digit rfc850 year is read as the year
 * closest to `nowMs` with those digits, never more than 50 years ahead (§5.6.7).
 */
export function parseHttpDate(value: string, nowMs: number): number | undefined {
  let day: string;
  let month: string;
  let year: number;
  let time: string[];
  let match = IMF_FIXDATE.exec(value);
  if (match !== null) {
    [, day, month] = match as unknown as [string, string, string];
    year = Number(match[3]);
    time = match.slice(4);
  } else if ((match = RFC850_DATE.exec(value)) !== null) {
    [, day, month] = match as unknown as [string, string, string];
    year = fullYear(Number(match[3]), nowMs);
    time = match.slice(4);
  } else if ((match = ASCTIME_DATE.exec(value)) !== null) {
    month = match[1]!;
    day = match[2]!;
    time = match.slice(3, 6);
    year = Number(match[6]);
  } else {
    return undefined;
  }
  const [hour, minute, second] = time.map(Number) as [number, number, number];
  const monthIndex = MONTHS.indexOf(month);
  const dayOfMonth = Number(day.trim());
  if (dayOfMonth < 1 || dayOfMonth > daysInMonth(year, monthIndex) || hour > 23 || minute > 59 || second > 60) {
    return undefined;
  }
  // Date.UTC maps years 0–99 to 1900–1999; shifting by one 400-year cycle avoids that.
  return Date.UTC(year + 400, monthIndex, dayOfMonth, hour, minute, second) - GREGORIAN_CYCLE_MS;
}

function daysInMonth(year: number, monthIndex: number): number {
  return new Date(Date.UTC(2000 + (year % 400), monthIndex + 1, 0)).getUTCDate();
}

/** The four-digit year of a two-digit rfc850 year: within (now − 50, now + 50] years. */
function fullYear(twoDigits: number, nowMs: number): number {
  const nowYear = new Date(nowMs).getUTCFullYear();
  const year = nowYear - (nowYear % 100) + twoDigits;
  if (year > nowYear + 50) return year - 100;
  return year <= nowYear - 50 ? year + 100 : year;
}

/**
 * `delay-seconds = 1*DIGIT` (RFC 9110 §10.2.3) in ms: no sign, fraction, exponent or
 * inner space. A huge value saturates at `Number.MAX_SAFE_INTEGER` ms, so the result is
 * always finite (a policy's `maxRetryAfterMs` then gives up on it).
 */
function delaySeconds(value: string): number | undefined {
  if (!/^\d+$/.test(value)) return undefined;
  return Math.min(Number(value) * 1000, Number.MAX_SAFE_INTEGER);
}

/**
 * `retry-after-ms`: a non-negative decimal number of milliseconds (`1*DIGIT [ "." 1*DIGIT ]`,
 * the form OpenAI, Anthropic and Azure send), saturating at `Number.MAX_SAFE_INTEGER`.
 */
function delayMilliseconds(value: string): number | undefined {
  if (!/^\d+(?:\.\d+)?$/.test(value)) return undefined;
  return Math.min(Number(value), Number.MAX_SAFE_INTEGER);
}

/** Field values exclude leading and trailing whitespace (RFC 9110 §5.5): SP and HTAB. */
function trimOws(value: string): string {
  return value.replace(/^[ \t]+|[ \t]+$/g, '');
}

function reported(name: string, value: string): string {
  return `${name}: ${value.length > MAX_REPORTED_VALUE ? `${value.slice(0, MAX_REPORTED_VALUE)}…` : value}`;
}

/**
 * The advertised wait in the headers of one response: a valid `retry-after-ms` wins over
 * `Retry-After` (as in the openai, Anthropic and AI SDK clients); an HTTP-date is measured
 * against `nowMs` (a date in the past means 0 ms). Never throws.
 *
 * @param headers a `Headers` instance or a plain header object (anything else: no headers)
 * @param nowMs the current wall-clock time, in ms since the epoch
 */
export function readRetryAfter(headers: unknown, nowMs: number): RetryAfter {
  if (!isObject(headers)) return NONE;
  let ignored: string | undefined;
  const rawMs = header(headers, 'retry-after-ms');
  if (rawMs !== undefined) {
    const ms = delayMilliseconds(trimOws(rawMs));
    if (ms !== undefined) return { ms, ignored: undefined };
    ignored = reported('retry-after-ms', rawMs);
  }
  const raw = header(headers, 'retry-after');
  if (raw === undefined) return ignored === undefined ? NONE : { ms: undefined, ignored };
  const value = trimOws(raw);
  const seconds = delaySeconds(value);
  if (seconds !== undefined) return { ms: seconds, ignored };
  const date = parseHttpDate(value, nowMs);
  if (date !== undefined) return { ms: Math.max(0, date - nowMs), ignored };
  const also = reported('retry-after', raw);
  return { ms: undefined, ignored: ignored === undefined ? also : `${ignored}, ${also}` };
}
