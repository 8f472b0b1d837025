/**
 * Token usage per call: each attempt's usage goes on its attempt span, and the sum over
 * every attempt of the call (failed ones included: their tokens were spent too) on the
 * call span, as `gen_ai.usage.input_tokens` / `gen_ai.usage.output_tokens`
 * (OpenTelemetry GenAI semantic conventions v1.37, development status; whether usage
 * counts attempts or operations is still open there, semantic-conventions#4025).
 */
import type { Span } from '@opentelemetry/api';
import type { TokenUsage } from '../classify/usage.js';
import type { Call } from '../policies/context.js';
import * as names from '../telemetry/names.js';

/** Adds one attempt's usage to its call's sum (nothing for undefined). */
export function addUsage(call: Call, usage: TokenUsage | undefined): void {
  if (usage === undefined) return;
  const total = call.usage;
  if (total === undefined) call.usage = { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens };
  else {
    total.inputTokens += usage.inputTokens;
    total.outputTokens += usage.outputTokens;
  }
}

/** The sum of a call's attempts' usage, or undefined when none reported any. */
export function callUsage(call: Call): TokenUsage | undefined {
  return call.usage;
}

/** Sets `gen_ai.usage.*` on `span` (nothing for undefined); never throws. */
export function recordUsage(span: Span, usage: TokenUsage | undefined): void {
  if (usage === undefined) return;
  try {
    span.setAttribute(names.ATTR_GEN_AI_USAGE_INPUT_TOKENS, usage.inputTokens);
    span.setAttribute(names.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS, usage.outputTokens);
  } catch {
    // Instrumentation must never break the user's call.
  }
}
