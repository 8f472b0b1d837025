import { type Attributes, type Context, context, type Link, type Span, type Tracer, trace } from '@opentelemetry/api';
import { errorTypeOf } from '../classify/index.js';
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
