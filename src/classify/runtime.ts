/**
 * Errors of the JavaScript runtime itself: fetch's network failures (a `TypeError` by
 * the spec), `AbortSignal`'s `TimeoutError` and `AbortError`, and programming errors.
 */
import type { Bag, Verdict } from './classification.js';

/**
 * The messages of fetch's network-failure `TypeError` across runtimes (the list p-retry's
 * `is-network-error` keeps): undici (`fetch failed`, `terminated` for a body cut off),
 * Chromium, Firefox, Safari, cross-fetch.
 */
const NETWORK_MESSAGES = new Set([
  'fetch failed',
  'terminated',
  'Failed to fetch',
  'network error',
  'NetworkError when attempting to fetch resource.',
  'Load failed',
  'The Internet connection appears to be offline.',
  'Network request failed',
]);

/** Errors the engine throws for code that cannot work: retrying runs the same code. */
const PROGRAMMING_ERRORS = new Set(['TypeError', 'ReferenceError', 'SyntaxError', 'RangeError', 'URIError']);

/**
 * `TimeoutError` (e.g. `AbortSignal.timeout`) → `timeout`; `AbortError` and axios'
 * `CanceledError` → `aborted`; fetch's network-failure `TypeError` → `network`; another
 * `TypeError`, `ReferenceError`, `SyntaxError`, `RangeError` or `URIError` → `bug`.
 */
export function verdictOfRuntimeError(error: Bag): Verdict | undefined {
  const name = error.name;
  if (typeof name !== 'string') return undefined;
  if (name === 'TimeoutError') return 'timeout';
  if (name === 'AbortError' || name === 'CanceledError') return 'aborted';
  if (!PROGRAMMING_ERRORS.has(name)) return undefined;
  return name === 'TypeError' && typeof error.message === 'string' && NETWORK_MESSAGES.has(error.message) ? 'network' : 'bug';
}
