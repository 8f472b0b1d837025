/**
 * Error classification: one entry point, `classifyError`, over one module per client
 * family (HTTP statuses and headers, Retry-After, Node/undici codes, the runtime's own
 * errors, gRPC, PostgreSQL, the openai and Anthropic SDKs, the AI SDK, MCP), read along
 * the whole cause chain.
 */
import { ResilienceError, TimeoutError } from '../policies/errors.js';
import { isPermanentAiSdkError } from './ai-sdk.js';
import { causeChain } from './chain.js';
import {
  type Bag,
  type ClassifyOptions,
  type ErrorCategory,
  type ErrorClassification,
  errorClassName,
  type Finding,
  isObject,
  type Verdict,
} from './classification.js';
import { classifyGrpc } from './grpc.js';
import { categoryOfStatus, headersOf, shouldRetryHeader, statusOf } from './http.js';
import { classifyMcpError, classifyMcpSessionExpiry, mcpTransportStatus } from './mcp.js';
import { isErrorCode, verdictOfCode } from './node.js';
import { classifyPostgres } from './postgres.js';
import { type RetryAfter, readRetryAfter } from './retry-after.js';
import { verdictOfRuntimeError } from './runtime.js';
import { classifyAnthropicType, verdictOfStainlessClass } from './stainless.js';

export type { ClassifyOptions, ErrorCategory, ErrorClassification } from './classification.js';
export { errorClassName } from './classification.js';
export { type TokenUsage, usageOf } from './usage.js';

/** An error that says nothing about itself: worth retrying. */
const UNKNOWN: ErrorClassification = {
  category: 'transient',
  retryable: true,
  aborted: false,
  status: undefined,
  code: undefined,
  retryAfterMs: undefined,
  retryAfterIgnored: undefined,
  errorType: '_OTHER',
};

/**
 * Classifies an error from the shapes real clients throw, for retry and circuit-breaker
 * decisions. The error and everything behind it are read — its `cause` chain, the
 * members of an `AggregateError`, the `lastError` of the AI SDK's `RetryError` — and
 * the outermost error that says something definite decides:
 * - this SDK's own errors by their `retryable` flag (`TimeoutError` → `timeout`);
 * - an explicit flag: `retryable` or `isRetryable` (the AI SDK's `APICallError`) as a
 *   boolean, or the server's `x-should-retry: true|false` header (OpenAI, Anthropic);
 * - an HTTP status on `status`, `statusCode`, `response.status(Code)` or
 *   `$metadata.httpStatusCode` (fetch wrappers, openai, Anthropic, axios, the AI SDK,
 *   the AWS SDK), or the numeric `code` of MCP's `StreamableHTTPError`: 429 →
 *   `rate-limited`; 408, 425 and 5xx but 501, 505–510 (Anthropic's 529 overloaded
 *   included) → `transient`; other statuses → `permanent` — but MCP's 404 for an
 *   unknown session (code `MCP_SESSION_EXPIRED`) is `transient`: the spec has the
 *   client start a new session and resend, which an attempt that reconnects does;
 * - gRPC status codes (UNAVAILABLE, ABORTED → `transient`, DEADLINE_EXCEEDED →
 *   `timeout`, RESOURCE_EXHAUSTED → `rate-limited`, CANCELLED → aborted, others
 *   `permanent`), PostgreSQL SQLSTATEs (08xxx, 40001, 40P01, 57P01–57P03 → `transient`,
 *   53300 → `rate-limited`, 57014 → `timeout`, others `permanent`), MCP's JSON-RPC codes
 *   (ConnectionClosed, InternalError → `transient`; RequestTimeout → `timeout`, or
 *   aborted when the caller's signal cancelled it; ParseError, InvalidRequest,
 *   MethodNotFound, InvalidParams → `permanent`), and Anthropic's error `type` on a
 *   mid-stream `APIError` that has no status (`overloaded_error`, `api_error` →
 *   `transient`, `rate_limit_error` → `rate-limited`, the caller's mistakes `permanent`);
 * - Node and undici codes: ECONNRESET, ECONNREFUSED, EPIPE, EAI_AGAIN, UND_ERR_SOCKET …
 *   → `transient`; ETIMEDOUT, UND_ERR_*_TIMEOUT → `timeout`; ABORT_ERR,
 *   UND_ERR_ABORTED, axios' ERR_CANCELED → aborted;
 * - the AI SDK's errors of the caller's own making (`AI_InvalidArgumentError`,
 *   `AI_InvalidPromptError`, `AI_LoadAPIKeyError`, `AI_NoSuchModelError`, …) →
 *   `permanent`;
 * - the openai and Anthropic SDKs' classes: `APIConnectionTimeoutError` → `timeout`,
 *   `APIUserAbortError` → aborted, Anthropic's `RetryableError` → `transient`;
 * - `TimeoutError` by name (`AbortSignal.timeout`) → `timeout`; `AbortError` → aborted.
 * Aborted means `permanent` with `aborted: true` (the caller's cancellation).
 *
 * When no error of the chain says anything definite: a connection failure
 * (`APIConnectionError`, fetch's `TypeError: fetch failed`) is `transient`; else a
 * programming error (`ReferenceError`, `SyntaxError`, `RangeError`, `URIError`, a
 * `TypeError` that is no network failure) is `permanent`; anything else — a plain
 * `new Error('flaky')`, a thrown string — is `transient` (the peers' default: Polly,
 * cockatiel, p-retry, tenacity). Narrow with `retryOn`, or give your errors
 * `retryable: false`.
 *
 * `status`, `code` and `errorType` come from the first error along the chain that has
 * one; `retryAfterMs` and `retryAfterIgnored` from the first with a `retry-after-ms` or
 * `Retry-After` header (see `parseRetryAfter`), an HTTP-date measured against
 * `options.nowMs`.
 *
 * @param error anything thrown
 * @param options `{ nowMs }`: the wall-clock time for HTTP-dates, in ms since the epoch
 *   (default `Date.now()`)
 * @throws TypeError when `options` is not an object, has an unknown key, or `nowMs` is
 *   not a finite number; never for any `error`.
 */
export function classifyError(error: unknown, options?: ClassifyOptions): ErrorClassification {
  const nowMs = nowMsOf(options);
  if (!isObject(error)) return UNKNOWN;
  try {
    return classifyChain(error, nowMs);
  } catch {
    // A getter or proxy that throws: the error is unknown, so retryable.
    return UNKNOWN;
  }
}

function nowMsOf(options: ClassifyOptions | undefined): number | undefined {
  if (options === undefined) return undefined;
  if (!isObject(options)) throw new TypeError(`Invalid options of classifyError: expected an object, got ${String(options)}`);
  for (const key in options) {
    if (key !== 'nowMs') throw new TypeError(`Invalid option ${key} of classifyError: unknown option (expected nowMs)`);
  }
  const { nowMs } = options;
  if (nowMs !== undefined && (typeof nowMs !== 'number' || !Number.isFinite(nowMs))) {
    throw new TypeError(`Invalid option nowMs: expected a finite number of ms since the epoch, got ${String(nowMs)}`);
  }
  return nowMs;
}

function classifyChain(error: Bag, nowMs: number | undefined): ErrorClassification {
  let verdict: ErrorCategory | 'aborted' | undefined;
  let tentative: 'network' | 'bug' | undefined;
  let status: number | undefined;
  let code: string | undefined;
  let retryAfter: RetryAfter | undefined;
  let ownRetryAfterMs: number | undefined;
  // Most errors stand alone: no chain to build.
  const chain =
    error.cause === undefined && error.errors === undefined && error.lastError === undefined ? [error] : causeChain(error);
  for (const node of chain) {
    if (node instanceof ResilienceError) {
      verdict ??=
        node instanceof TimeoutError ? (node.retryable ? 'timeout' : 'permanent') : node.retryable ? 'transient' : 'permanent';
      ownRetryAfterMs ??= node.retryAfterMs;
      continue;
    }
    const nodeStatus = statusOf(node) ?? mcpTransportStatus(node);
    const family =
      classifyGrpc(node) ??
      classifyPostgres(node) ??
      classifyMcpError(node) ??
      classifyMcpSessionExpiry(node) ??
      classifyAnthropicType(node);
    const nodeCode = isErrorCode(node.code) ? node.code : undefined;
    status ??= nodeStatus;
    code ??= family?.code ?? nodeCode;
    const headers = headersOf(node);
    if (retryAfter === undefined && isObject(headers)) {
      const found = readRetryAfter(headers, nowMs ?? Date.now());
      if (found.ms !== undefined || found.ignored !== undefined) retryAfter = found;
    }
    if (verdict !== undefined) continue;
    const said = verdictOf(node, nodeStatus, headers, family, nodeCode);
    if (said === 'network' || said === 'bug') tentative = tentative === 'network' ? tentative : said;
    else verdict = said;
  }
  const decided = verdict ?? (tentative === 'bug' ? 'permanent' : 'transient');
  const category: ErrorCategory = decided === 'aborted' ? 'permanent' : decided;
  return {
    category,
    retryable: category !== 'permanent',
    aborted: decided === 'aborted',
    status,
    code,
    retryAfterMs: retryAfter?.ms ?? ownRetryAfterMs,
    retryAfterIgnored: retryAfter?.ignored,
    errorType: status !== undefined ? statusText(status) : (code ?? errorClassName(error)),
  };
}

/** `String(status)` for every HTTP status, made once (error.type is read on every failure). */
const STATUS_TEXT = Array.from({ length: 600 }, (_, status) => String(status));

function statusText(status: number): string {
  return STATUS_TEXT[status] ?? String(status);
}

/** What one error (not this SDK's) says about itself; the order is the precedence. */
function verdictOf(
  node: Bag,
  status: number | undefined,
  headers: unknown,
  family: Finding | undefined,
  code: string | undefined,
): Verdict | undefined {
  const flag =
    typeof node.retryable === 'boolean'
      ? node.retryable
      : typeof node.isRetryable === 'boolean'
        ? node.isRetryable
        : shouldRetryHeader(headers);
  const byStatus = status === undefined ? undefined : categoryOfStatus(status);
  if (flag !== undefined)
    return !flag ? 'permanent' : byStatus === undefined || byStatus === 'permanent' ? 'transient' : byStatus;
  if (family?.verdict !== undefined) return family.verdict;
  if (byStatus !== undefined) return byStatus;
  const byCode = code === undefined ? undefined : verdictOfCode(code);
  if (byCode !== undefined) return byCode;
  if (isPermanentAiSdkError(node)) return 'permanent';
  return verdictOfStainlessClass(node) ?? verdictOfRuntimeError(node);
}

/**
 * The `error.type` attribute value for an error (semantic conventions: a low-cardinality
 * class of the error), looked for along the whole cause chain: the first HTTP status as
 * a string (`'503'`), else the first error code (`'UND_ERR_SOCKET'` inside an openai
 * `APIConnectionError`, `'-32001'` of an `McpError`), else the class name of the
 * outermost error (`errorClassName`), else `'_OTHER'`. Same as
 * `classifyError(error).errorType`. Never throws.
 */
export function errorTypeOf(error: unknown): string {
  return classifyError(error).errorType;
}

/**
 * Parses a server's advertised wait, in milliseconds: a valid `retry-after-ms`
 * (milliseconds, `1*DIGIT ["." 1*DIGIT]`, as OpenAI, Anthropic and Azure send) wins over
 * `Retry-After`, which is `delay-seconds` (`1*DIGIT`) or an HTTP-date (IMF-fixdate, or the
 * obsolete rfc850 and asctime forms) exactly as RFC 9110 §10.2.3 and §5.6.7 define them.
 * Anything else is ignored (undefined: fall back to backoff). A date in the past yields
 * 0; a huge value saturates at `Number.MAX_SAFE_INTEGER` ms.
 *
 * @param headers a `Headers` instance or a plain header object (any key case)
 * @param nowMs the current wall-clock time in ms since the epoch, for HTTP-dates
 *   (default `Date.now()`)
 * @throws TypeError when `nowMs` is given and not a finite number
 */
export function parseRetryAfter(headers: unknown, nowMs?: number): number | undefined {
  return readRetryAfter(headers, nowMsOf(nowMs === undefined ? undefined : { nowMs }) ?? Date.now()).ms;
}
