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
import type { ResilienceEvent } from './events.js';
import * as names from './names.js';
import { tallyEvent } from './run-metrics.js';

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
 * Marks `span` failed: exception recorded (as a span event, the one place that does it,
 * ready to move to the Logs API), status Error with the message, `error.type` set.
 * Never throws.
 */
export function recordFailure(span: Span, error: unknown, errorType: string): void {
  try {
    if (!span.isRecording()) return;
    const message = error instanceof Error ? error.message : String(error);
    span.recordException(error instanceof Error ? error : message);
    span.setAttribute(names.ATTR_ERROR_TYPE, errorType);
    span.setStatus({ code: SpanStatusCode.ERROR, message });
  } catch {
    // Instrumentation must never break the user's call.
  }
}

/** The span event name and attributes for a resilience event. */
function toSpanEvent(event: ResilienceEvent): [string, Attributes] {
  switch (event.type) {
    case 'retry':
      return [
        names.EVENT_RETRY,
        {
          [names.ATTR_ATTEMPT]: event.attempt,
          [names.ATTR_RETRY_DELAY_MS]: event.delayMs,
          [names.ATTR_RETRY_DELAY_SOURCE]: event.delaySource,
          [names.ATTR_ERROR_TYPE]: event.errorType,
        },
      ];
    case 'retry-exhausted':
      return [
        names.EVENT_RETRY_EXHAUSTED,
        { [names.ATTR_ATTEMPTS]: event.attempts, [names.ATTR_RETRY_GIVE_UP_REASON]: event.reason },
      ];
    case 'breaker-state-change':
      return [
        names.EVENT_BREAKER_STATE_CHANGE,
        {
          [names.ATTR_BREAKER_NAME]: event.breaker,
          [names.ATTR_BREAKER_FROM]: event.from,
          [names.ATTR_BREAKER_TO]: event.to,
        },
      ];
    case 'breaker-rejected': {
      const attributes: Attributes = { [names.ATTR_BREAKER_NAME]: event.breaker };
      if (event.retryAfterMs !== undefined) attributes[names.ATTR_RETRY_AFTER_MS] = event.retryAfterMs;
      return [names.EVENT_BREAKER_REJECTED, attributes];
    }
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
      return [names.EVENT_FALLBACK, { [names.ATTR_FALLBACK_NAME]: event.fallback, [names.ATTR_ERROR_TYPE]: event.errorType }];
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
    case 'hand-off-requested':
      return [
        names.EVENT_HAND_OFF_REQUESTED,
        {
          [names.ATTR_WORKFLOW_NAME]: event.workflow,
          [names.ATTR_WORKFLOW_STEP]: event.step,
          [names.ATTR_HAND_OFF_KIND]: event.kind,
          [names.ATTR_HAND_OFF_TASK]: event.task,
        },
      ];
    case 'hand-off-notification':
      return [
        names.EVENT_HAND_OFF_NOTIFICATION,
        {
          [names.ATTR_WORKFLOW_NAME]: event.workflow,
          [names.ATTR_HAND_OFF_NOTIFIER]: event.notifier,
          [names.ATTR_HAND_OFF_OUTCOME]: event.outcome,
          [names.ATTR_ATTEMPTS]: event.attempts,
        },
      ];
    case 'hand-off-decision':
      return [
        names.EVENT_HAND_OFF_DECISION,
        {
          [names.ATTR_WORKFLOW_NAME]: event.workflow,
          [names.ATTR_WORKFLOW_STEP]: event.step,
          [names.ATTR_HAND_OFF_KIND]: event.kind,
          [names.ATTR_HAND_OFF_TASK]: event.task,
          [names.ATTR_HAND_OFF_OUTCOME]: event.outcome,
          [names.ATTR_HAND_OFF_BY]: event.by,
          [names.ATTR_HAND_OFF_WAITED_MS]: event.waitedMs,
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
    tallyEvent(event);
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
