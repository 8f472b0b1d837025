/**
 * Token usage of an LLM call, read from the results the clients return, for
 * `gen_ai.usage.input_tokens` / `gen_ai.usage.output_tokens` (OpenTelemetry GenAI
 * semantic conventions, development status: input tokens include cached ones).
 */
import { type Bag, isObject } from './classification.js';

/** Tokens one LLM call consumed. */
export interface TokenUsage {
  /** Input (prompt) tokens, cached ones included. */
  readonly inputTokens: number;
  /** Output (completion) tokens, reasoning ones included. */
  readonly outputTokens: number;
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

function usage(input: number | undefined, output: number | undefined): TokenUsage | undefined {
  return input === undefined || output === undefined ? undefined : { inputTokens: input, outputTokens: output };
}

/** openai Chat Completions (`prompt_tokens`), openai Responses and Anthropic (`input_tokens`). */
function fromProviderUsage(raw: Bag): TokenUsage | undefined {
  if ('prompt_tokens' in raw) return usage(count(raw.prompt_tokens), count(raw.completion_tokens));
  const input = count(raw.input_tokens);
  if (input === undefined) return undefined;
  // Anthropic counts cache writes and reads apart from input_tokens; openai's input_tokens already holds them.
  const cached = (count(raw.cache_creation_input_tokens) ?? 0) + (count(raw.cache_read_input_tokens) ?? 0);
  return usage(input + cached, count(raw.output_tokens));
}

/**
 * The token usage a result carries, or undefined when it carries none (or only half of
 * it, or a non-integer count). Reads:
 * - the openai SDK: a chat completion, or the last chunk of a stream made with
 *   `stream_options: { include_usage: true }` (`usage.prompt_tokens` /
 *   `usage.completion_tokens`); a Responses API response (`usage.input_tokens` /
 *   `usage.output_tokens`);
 * - the Anthropic SDK: a `Message` (`usage.input_tokens` plus
 *   `cache_creation_input_tokens` and `cache_read_input_tokens`, `usage.output_tokens`);
 * - the AI SDK: a `generateText` / `generateObject` result (`totalUsage`, the sum over
 *   its steps, else `usage`: `{ inputTokens, outputTokens }`). A `streamText` result holds
 *   promises there: await `result.totalUsage` and pass `{ totalUsage }`;
 * - a usage object of any of these shapes passed directly.
 * Never throws.
 */
export function usageOf(result: unknown): TokenUsage | undefined {
  if (!isObject(result)) return undefined;
  try {
    const aiSdk = isObject(result.totalUsage) ? result.totalUsage : isObject(result.usage) ? result.usage : result;
    if (typeof aiSdk.then === 'function') return undefined; // a streamText result: usage comes later
    if ('inputTokens' in aiSdk || 'outputTokens' in aiSdk) return usage(count(aiSdk.inputTokens), count(aiSdk.outputTokens));
    return fromProviderUsage(aiSdk);
  } catch {
    return undefined;
  }
}
