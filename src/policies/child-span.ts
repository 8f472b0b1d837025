import { type Attributes, type Context, type Span, trace } from '@opentelemetry/api';
import { getTracer, recordFailure } from '../telemetry/spans.js';
import { errorTypeOf } from './classify.js';
import type { Call } from './context.js';

/**
 * Starts a child span of the call span (an attempt, a fallback step), or returns
 * undefined when the call is not traced or the tracer fails.
 */
export function startChildSpan(call: Call, name: string, attributes: Attributes): Span | undefined {
  if (call.span === undefined || call.otelContext === undefined) return undefined;
  try {
    return getTracer()?.startSpan(name, { attributes }, call.otelContext);
  } catch {
    return undefined;
  }
}

/** The context in which `span` is active, under the call's context. */
export function childContext(call: Call, span: Span): Context {
  return trace.setSpan(call.otelContext!, span);
}

/** Ends `span` once `promise` settles, marking it failed on rejection; returns `promise`'s outcome. */
export function endWhenSettled<T>(span: Span, promise: Promise<T>): Promise<T> {
  return promise.then(
    (value) => {
      endSpan(span);
      return value;
    },
    (error: unknown) => {
      recordFailure(span, error, errorTypeOf(error));
      endSpan(span);
      throw error;
    },
  );
}

/** Ends a span; never throws (instrumentation must not break the call). */
export function endSpan(span: Span): void {
  try {
    span.end();
  } catch {
    // Instrumentation must never break the user's call.
  }
}
