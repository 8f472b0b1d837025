/**
 * What a provider's rate-limit headers say about the budget left, read from a result
 * or an error of the real clients (`headers` of the openai and Anthropic SDK errors,
 * `responseHeaders` of the AI SDK's `APICallError`, `response.headers` of an AI SDK
 * result or a `fetch` response, through the cause chain and a `RetryError`'s last error):
 * - OpenAI: `x-ratelimit-remaining-requests` / `-tokens` with `x-ratelimit-reset-requests`
 *   / `-tokens` as Go-style durations (`1s`, `6m0s`, `20ms`);
 * - Anthropic: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-remaining`
 *   with `-reset` as RFC 3339 instants.
 * A budget with nothing left means: wait until its reset before sending again.
 */
import { causeChain } from './chain.js';
import { type Bag, isObject } from './classification.js';
import { header, headersOf } from './http.js';

const UNITS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
const DURATION = /^(?:\d+(?:\.\d+)?(?:h|ms|m|s))+$/;
const PART = /(\d+(?:\.\d+)?)(h|ms|m|s)/g;

/** A Go-style duration (`6m0s`, `1.5s`, `20ms`) in ms, or undefined. */
export function parseResetDuration(value: string): number | undefined {
  const text = value.trim();
  if (!DURATION.test(text)) return undefined;
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(PART)) ms += Number(amount) * UNITS[unit!]!;
  return Math.ceil(ms);
}

const OPENAI = ['requests', 'tokens'];
const ANTHROPIC = ['requests', 'tokens', 'input-tokens', 'output-tokens'];

/** The wait until the reset of the first exhausted budget the headers name, in ms, or undefined. */
function pauseOf(headers: object, nowMs: number): number | undefined {
  let pause: number | undefined;
  const consider = (remaining: string | undefined, resetMs: number | undefined) => {
    if (remaining === undefined || resetMs === undefined || Number(remaining) > 0 || remaining.trim() === '') return;
    if (resetMs > 0 && (pause === undefined || resetMs > pause)) pause = resetMs;
  };
  for (const kind of OPENAI) {
    const reset = header(headers, `x-ratelimit-reset-${kind}`);
    consider(header(headers, `x-ratelimit-remaining-${kind}`), reset === undefined ? undefined : parseResetDuration(reset));
  }
  for (const kind of ANTHROPIC) {
    const reset = header(headers, `anthropic-ratelimit-${kind}-reset`);
    const at = reset === undefined ? Number.NaN : Date.parse(reset);
    consider(header(headers, `anthropic-ratelimit-${kind}-remaining`), Number.isNaN(at) ? undefined : Math.ceil(at - nowMs));
  }
  return pause;
}

/**
 * How long to hold further requests because a provider's rate-limit headers on `value`
 * (a result or an error) say a budget is exhausted: ms until its reset (the longest
 * when several are), or undefined when they say nothing of the kind. `nowMs` is wall
 * time (for Anthropic's reset instants). Never throws.
 */
export function rateLimitPauseMs(value: unknown, nowMs: number = Date.now()): number | undefined {
  if (!isObject(value)) return undefined;
  try {
    const sources: Bag[] = value instanceof Error || 'cause' in value ? [...causeChain(value)] : [value];
    let pause: number | undefined;
    for (const source of sources) {
      const headers = headersOf(source);
      if (!isObject(headers)) continue;
      const found = pauseOf(headers, nowMs);
      if (found !== undefined && (pause === undefined || found > pause)) pause = found;
    }
    return pause;
  } catch {
    return undefined;
  }
}
