import {
  type Attributes,
  context,
  createContextKey,
  ROOT_CONTEXT,
  type Span,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import type { BreakerWhy, ResilienceEvent } from './events.js';
import * as names from './names.js';

let cachedProvider: TracerProvider | undefined;
let cachedTracer: Tracer | undefined;
let cachedPropagates = false;

const PROBE = createContextKey('otel-resilience probe');

/** Whether the registered context manager carries values into callbacks (it does unless none is registered). */
function contextPropagates(): boolean {
  return context.with(ROOT_CONTEXT.setValue(PROBE, true), () => context.active().getValue(PROBE) === true);
}

/**
 * Whether values set in the OpenTelemetry context reach the code run in it — true with
 * the AsyncLocalStorage context manager that `startTelemetry()` (or the Node SDK)
 * registers. Checked when a tracer provider is first seen.
 */
export function tracingPropagatesContext(): boolean {
  return cachedPropagates;
}

/**
 * The SDK's tracer, or undefined while no tracer provider is registered (then the SDK
 * skips spans and context switches altogether) or the provider throws. Never throws. Cached per provider, so a provider
 * registered later (or swapped by tests) is picked up at the next call.
 */
export function getTracer(): Tracer | undefined {
  const provider = trace.getTracerProvider() as TracerProvider & {
    getDelegateTracer?: (name: string) => Tracer | undefined;
  };
  if (provider === cachedProvider && cachedTracer !== undefined) return cachedTracer;
  let tracer: Tracer | undefined;
  try {
    tracer =
      typeof provider.getDelegateTracer === 'function'
        ? provider.getDelegateTracer(names.INSTRUMENTATION_SCOPE)
        : provider.getTracer(names.INSTRUMENTATION_SCOPE);
  } catch {
    return undefined; // a broken provider: run untraced
  }
  if (tracer !== undefined) {
    cachedProvider = provider;
    cachedTracer = tracer;
    cachedPropagates = contextPropagates();
  }
  return tracer;
}

/**
 * Marks `span` failed — the one function that does it: status Error with the message,
 * `error.type` set to `errorType` (the classification's, which walks the cause chain),
 * and, unless `exception` is false (the same error was already recorded on a child
 * span of this call: its stack is not written twice), an `exception` event with
 * `exception.type` = `exceptionType` (the class name, `errorClassName`; OpenTelemetry
 * JS's `recordException` would put an error's `code` there), `exception.message` and
 * `exception.stacktrace`. Without `exceptionType` the SDK's `recordException` is used.
 * Never throws.
 */
export function recordFailure(span: Span, error: unknown, errorType: string, exceptionType?: string, exception = true): void {
  try {
    if (!span.isRecording()) return;
    const message = error instanceof Error ? error.message : String(error);
    if (!exception) {
      // Recorded on a child span already.
    } else if (exceptionType === undefined) {
      span.recordException(error instanceof Error ? error : message);
    } else {
      const attributes: Attributes = { [names.ATTR_EXCEPTION_TYPE]: exceptionType, [names.ATTR_EXCEPTION_MESSAGE]: message };
      const stack = error instanceof Error ? error.stack : undefined;
      if (typeof stack === 'string') attributes[names.ATTR_EXCEPTION_STACKTRACE] = stack;
      span.addEvent(names.EVENT_EXCEPTION, attributes);
    }
    span.setAttribute(names.ATTR_ERROR_TYPE, errorType);
    span.setStatus({ code: SpanStatusCode.ERROR, message });
  } catch {
    // Instrumentation must never break the user's call.
  }
}

/** `attributes` with `key` set to `value` when it is defined. */
function withOptional(attributes: Attributes, key: string, value: string | number | boolean | undefined): Attributes {
  if (value !== undefined) attributes[key] = value;
  return attributes;
}

/** The span-event attributes of a breaker's reasons, those that apply, added to `attributes`. */
function breakerWhy(why: BreakerWhy, attributes: Attributes): Attributes {
  attributes[names.ATTR_BREAKER_REASON] = why.reason;
  withOptional(attributes, names.ATTR_BREAKER_FAILURES, why.failures);
  withOptional(attributes, names.ATTR_BREAKER_FAILURE_THRESHOLD, why.failureThreshold);
  withOptional(attributes, names.ATTR_BREAKER_CALLS, why.calls);
  withOptional(attributes, names.ATTR_BREAKER_FAILURE_RATE, why.failureRate);
  withOptional(attributes, names.ATTR_BREAKER_FAILURE_RATE_THRESHOLD, why.failureRateThreshold);
  withOptional(attributes, names.ATTR_BREAKER_SLOW_CALL_RATE, why.slowCallRate);
  withOptional(attributes, names.ATTR_BREAKER_SLOW_CALL_RATE_THRESHOLD, why.slowCallRateThreshold);
  withOptional(attributes, names.ATTR_BREAKER_CALL_DURATION_MS, why.callDurationMs);
  withOptional(attributes, names.ATTR_BREAKER_CALL_SLOW, why.callSlow);
  return withOptional(attributes, names.ATTR_BREAKER_SLOW_CALL_DURATION_MS, why.slowCallDurationMs);
}

/** The span event name and attributes for a resilience event. */
function toSpanEvent(event: ResilienceEvent): [string, Attributes] {
  switch (event.type) {
    case 'retry':
      return [
        names.EVENT_RETRY,
        withOptional(
          {
            [names.ATTR_ATTEMPT]: event.attempt,
            [names.ATTR_RETRY_DELAY_MS]: event.delayMs,
            [names.ATTR_RETRY_DELAY_SOURCE]: event.delaySource,
            [names.ATTR_ERROR_TYPE]: event.errorType,
          },
          names.ATTR_RETRY_AFTER_IGNORED,
          event.retryAfterIgnored,
        ),
      ];
    case 'retry-exhausted':
      return [
        names.EVENT_RETRY_EXHAUSTED,
        { [names.ATTR_ATTEMPTS]: event.attempts, [names.ATTR_RETRY_GIVE_UP_REASON]: event.reason },
      ];
    case 'breaker-state-change':
      return [
        names.EVENT_BREAKER_STATE_CHANGE,
        breakerWhy(event.why, {
          [names.ATTR_BREAKER_NAME]: event.breaker,
          [names.ATTR_BREAKER_FROM]: event.from,
          [names.ATTR_BREAKER_TO]: event.to,
        }),
      ];
    case 'breaker-rejected':
      return [
        names.EVENT_BREAKER_REJECTED,
        withOptional({ [names.ATTR_BREAKER_NAME]: event.breaker }, names.ATTR_RETRY_AFTER_MS, event.retryAfterMs),
      ];
    case 'timeout':
      return [names.EVENT_TIMEOUT, { [names.ATTR_TIMEOUT_SCOPE]: event.scope, [names.ATTR_TIMEOUT_MS]: event.timeoutMs }];
    case 'bulkhead-queued':
      return [
        names.EVENT_BULKHEAD_QUEUED,
        { [names.ATTR_BULKHEAD_NAME]: event.bulkhead, [names.ATTR_BULKHEAD_WAITED_MS]: event.waitedMs },
      ];
    case 'bulkhead-rejected':
      return [
        names.EVENT_BULKHEAD_REJECTED,
        { [names.ATTR_BULKHEAD_NAME]: event.bulkhead, [names.ATTR_REJECT_REASON]: event.reason },
      ];
    case 'rate-limiter-waited':
      return [
        names.EVENT_RATE_LIMITER_WAITED,
        { [names.ATTR_RATE_LIMITER_NAME]: event.limiter, [names.ATTR_RATE_LIMITER_WAITED_MS]: event.waitedMs },
      ];
    case 'rate-limiter-rejected':
      return [
        names.EVENT_RATE_LIMITER_REJECTED,
        { [names.ATTR_RATE_LIMITER_NAME]: event.limiter, [names.ATTR_RETRY_AFTER_MS]: event.retryAfterMs },
      ];
    case 'rate-limiter-store-failed':
      return [
        names.EVENT_RATE_LIMITER_STORE_FAILED,
        { [names.ATTR_RATE_LIMITER_NAME]: event.limiter, [names.ATTR_ERROR_TYPE]: event.errorType },
      ];
    case 'fallback':
      return [
        names.EVENT_FALLBACK,
        withOptional(
          {
            [names.ATTR_FALLBACK_NAME]: event.fallback,
            [names.ATTR_FALLBACK_TRIGGER]: event.trigger,
            [names.ATTR_FALLBACK_OUTCOME]: event.outcome,
          },
          names.ATTR_ERROR_TYPE,
          event.errorType,
        ),
      ];
    case 'fallback-exhausted':
      return [
        names.EVENT_FALLBACK_EXHAUSTED,
        { [names.ATTR_FALLBACK_STEPS]: event.steps, [names.ATTR_ERROR_TYPE]: event.errorType },
      ];
    case 'hedge':
      return [names.EVENT_HEDGE, { [names.ATTR_ATTEMPT]: event.attempt }];
    case 'idempotency':
      return [
        names.EVENT_IDEMPOTENCY,
        { [names.ATTR_IDEMPOTENCY_NAMESPACE]: event.namespace, [names.ATTR_IDEMPOTENCY_OUTCOME]: event.outcome },
      ];
    case 'workflow-checkpoint':
    case 'workflow-resumed':
    case 'workflow-step-replayed':
    case 'workflow-stalled': {
      const name =
        event.type === 'workflow-checkpoint'
          ? names.EVENT_WORKFLOW_CHECKPOINT
          : event.type === 'workflow-resumed'
            ? names.EVENT_WORKFLOW_RESUMED
            : event.type === 'workflow-stalled'
              ? names.EVENT_WORKFLOW_STALLED
              : names.EVENT_WORKFLOW_STEP_REPLAYED;
      return [name, { [names.ATTR_WORKFLOW_NAME]: event.workflow, [names.ATTR_WORKFLOW_STEP]: event.step }];
    }
    case 'workflow-compensation':
      return [
        names.EVENT_WORKFLOW_COMPENSATION,
        {
          [names.ATTR_WORKFLOW_NAME]: event.workflow,
          [names.ATTR_WORKFLOW_STEP]: event.step,
          [names.ATTR_COMPENSATION_OUTCOME]: event.outcome,
        },
      ];
    case 'chaos':
      return [names.EVENT_CHAOS, { [names.ATTR_CHAOS_KIND]: event.kind, [names.ATTR_CHAOS_NAME]: event.chaos }];
  }
}

/** The span-event (and `event.name`) name of a resilience event. */
export function eventName(event: ResilienceEvent): string {
  return toSpanEvent(event)[0];
}

/**
 * Adds a resilience event to `span` as a span event — the one function every event
 * goes through (so it can move to the Logs API when span events are deprecated).
 * Never throws.
 */
export function recordEvent(span: Span | undefined, event: ResilienceEvent): void {
  try {
    if (span === undefined || !span.isRecording()) return;
    const [name, attributes] = toSpanEvent(event);
    span.addEvent(name, attributes);
  } catch {
    // Instrumentation must never break the user's call.
  }
}

/** The active span if it records, for standalone policies to put their events on. */
export function activeSpan(): Span | undefined {
  const span = trace.getActiveSpan();
  return span?.isRecording() ? span : undefined;
}
