/**
 * The spans of attempts: one per attempt and hedge, named alike and linked in order.
 */
import type { Span } from '@opentelemetry/api';
import { endSpan, startChildSpan } from '../policies/child-span.js';
import type { Call } from '../policies/context.js';
import * as names from '../telemetry/names.js';

/** The operation whose attempts were named last, and that name: no string is built per attempt of the same operation. */
let lastOperation: string | undefined;
let lastName = '';

/**
 * The span of attempt `attempt` (`<call> attempt`, the same name for every attempt and
 * hedge), linked to the previous attempt's span (a retry or a hedge follows from it),
 * with the time the retry before it actually slept. Its attributes are set after the
 * start: a child span's sampling follows its parent, and attributes given at the start
 * cost the SDK about four times as much (they are validated twice).
 */
export function startAttemptSpan(call: Call, attempt: number): Span | undefined {
  const previous = call.lastAttemptSpan;
  const links = previous === undefined ? undefined : [{ context: previous.spanContext() }];
  if (call.operation !== lastOperation) {
    lastOperation = call.operation;
    lastName = names.attemptSpanName(lastOperation);
  }
  const span = startChildSpan(call, lastName, undefined, links);
  call.lastAttemptSpan = span;
  const slept = call.sleptMs;
  call.sleptMs = undefined;
  try {
    span?.setAttribute(names.ATTR_ATTEMPT, attempt);
    if (slept !== undefined) span?.setAttribute(names.ATTR_RETRY_SLEPT_MS, slept);
  } catch {
    // Instrumentation must never break the user's call.
  }
  return span;
}

/** Ends a hedged attempt's span, marked `won` or `lost`. Never throws. */
export function endHedgeSpan(span: Span, outcome: 'won' | 'lost'): void {
  try {
    span.setAttribute(names.ATTR_HEDGE_OUTCOME, outcome);
  } catch {
    // Instrumentation must never break the user's call.
  }
  endSpan(span);
}
