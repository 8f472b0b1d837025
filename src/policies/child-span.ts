import { type Attributes, type Context, context, type Link, type Span, type Tracer, trace } from '@opentelemetry/api';
import { errorClassName, errorTypeOf } from '../classify/index.js';
import { getTracer, recordFailure } from '../telemetry/spans.js';
import type { Call } from './context.js';

/**
 * Starts a span under `parent` (with `links`, if any), or returns undefined when no SDK
 * is registered or the tracer throws: instrumentation never breaks the call it describes.
 */
export function startSpan(
  name: string,
  attributes: Attributes | undefined,
  parent: Context = context.active(),
  tracer: Tracer | undefined = getTracer(),
  links?: Link[],
): Span | undefined {
  try {
    const options = attributes === undefined && links === undefined ? undefined : { attributes, links };
    return tracer?.startSpan(name, options, parent);
  } catch {
    return undefined;
  }
}

/**
 * Starts a child span of the call span (an attempt, a fallback step), or returns
 * undefined when the call is not traced or the tracer fails.
 */
export function startChildSpan(call: Call, name: string, attributes?: Attributes, links?: Link[]): Span | undefined {
  if (call.span === undefined || call.otelContext === undefined) return undefined;
  return startSpan(name, attributes, call.otelContext, undefined, links);
}

/** The context in which `span` is active, under the call's context. */
export function childContext(call: Call, span: Span): Context {
  return trace.setSpan(call.otelContext!, span);
}

/**
 * Marks `span` failed with `error`: `error.type` from the classification (walking the
 * cause chain), `exception.type` the class name, the exception recorded unless
 * `exception` is false (recorded on a child span already). Never throws.
 */
export function failSpan(span: Span, error: unknown, exception = true): void {
  recordFailure(span, error, errorTypeOf(error), errorClassName(error), exception);
}

/**
 * Ends `span` once `promise` settles, marking it failed on rejection; returns `promise`'s
 * outcome. With `call`, a recorded error is remembered there, so the call span that
 * fails with the same error does not record its exception a second time.
 */
export function endWhenSettled<T>(span: Span, promise: Promise<T>, call?: Call): Promise<T> {
  return promise.then(
    (value) => {
      endSpan(span);
      return value;
    },
    (error: unknown) => {
      endFailed(span, error, call);
      throw error;
    },
  );
}

/**
 * Ends `span` failed with `error`; with `call`, the error is remembered there as
 * recorded, so the call span that fails with the same error does not record its
 * exception a second time. Never throws.
 */
export function endFailed(span: Span, error: unknown, call?: Call): void {
  failSpan(span, error);
  if (call !== undefined) call.recordedError = { error };
  endSpan(span);
}

/**
 * Ends the span of a wait (a bulkhead queue, rate-limit budget; started with
 * {@link startChildSpan}) with the time waited, in ms, as `waitedAttribute` and any
 * `extra` attributes. Does nothing for an undefined span; never throws.
 */
export function endWaitSpan(span: Span | undefined, waitedAttribute: string, waitedMs: number, extra?: Attributes): void {
  if (span === undefined) return;
  try {
    span.setAttribute(waitedAttribute, waitedMs);
    if (extra !== undefined) span.setAttributes(extra);
  } catch {
    // Instrumentation must never break the user's call.
  }
  endSpan(span);
}

/** Ends a span; never throws (instrumentation must not break the call). */
export function endSpan(span: Span): void {
  try {
    span.end();
  } catch {
    // Instrumentation must never break the user's call.
  }
}
