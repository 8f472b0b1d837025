/**
 * The Vercel AI SDK (`ai`, `@ai-sdk/*`): errors marked with `Symbol.for('vercel.ai.error')`
 * and named `AI_<Class>`. `APICallError` carries `statusCode`, `isRetryable` and
 * `responseHeaders` (read by the HTTP classifier and the explicit-flag rule); with its
 * own retries on, the SDK throws `RetryError` whose `lastError` is the one that counts.
 */
import { type Bag, isObject } from './classification.js';

const MARKER = Symbol.for('vercel.ai.error');

/**
 * Errors of the caller's own making that no retry mends: bad arguments or prompt,
 * missing API key or setting, unknown model or provider, an unsupported feature.
 * (Errors in what the model produced — `AI_NoObjectGeneratedError`,
 * `AI_TypeValidationError`, `AI_NoSuchToolError` — may pass on another attempt.)
 */
const PERMANENT = new Set([
  'AI_InvalidArgumentError',
  'AI_InvalidPromptError',
  'AI_InvalidMessageRoleError',
  'AI_InvalidDataContentError',
  'AI_LoadAPIKeyError',
  'AI_LoadSettingError',
  'AI_NoSuchModelError',
  'AI_NoSuchProviderError',
  'AI_NoSuchProviderReferenceError',
  'AI_UnsupportedFunctionalityError',
  'AI_TooManyEmbeddingValuesForCallError',
  'AI_MessageConversionError',
  'AI_MissingToolResultsError',
  'AI_InvalidToolApprovalError',
  'AI_InvalidToolApprovalSignatureError',
  'AI_ToolCallNotFoundForApprovalError',
]);

function isAiSdkError(error: Bag): boolean {
  return MARKER in error && error[MARKER as unknown as string] === true;
}

/** Whether an AI SDK error is one of the caller's own mistakes (permanent). */
export function isPermanentAiSdkError(error: Bag): boolean {
  return typeof error.name === 'string' && PERMANENT.has(error.name) && isAiSdkError(error);
}

/**
 * The error a `RetryError` stands for — its `lastError` (what the final attempt met) —
 * or undefined when `error` is no AI SDK `RetryError`.
 */
export function lastErrorOfRetryError(error: Bag): Bag | undefined {
  if (error.name !== 'AI_RetryError' || !isAiSdkError(error)) return undefined;
  return isObject(error.lastError) ? error.lastError : undefined;
}
