/**
 * Every span, event and attribute name the SDK writes, in one place (shared/DESIGN.md,
 * "Telemetry conventions"). OpenTelemetry semantic conventions 1.45 where one exists
 * (`error.type`, `code.function.name`); everything about retries, breakers and timeouts
 * lives under the `resilience.` prefix because no convention covers them.
 */

/** Semantic-convention attributes (stable in semconv 1.45). */
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_CODE_FUNCTION_NAME = 'code.function.name';

/**
 * GenAI token usage (OpenTelemetry GenAI semantic conventions v1.37, development
 * status): on each attempt span its own usage, on the call span the sum over every
 * attempt, failed ones included.
 */
export const ATTR_GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens';
export const ATTR_GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';

/** Attributes of the resilience namespace. Durations are milliseconds (`_ms`). */
export const ATTR_ATTEMPT = 'resilience.attempt';
export const ATTR_ATTEMPTS = 'resilience.attempts';
export const ATTR_OUTCOME = 'resilience.outcome';
export const ATTR_RETRY_DELAY_MS = 'resilience.retry.delay_ms';
export const ATTR_RETRY_DELAY_SOURCE = 'resilience.retry.delay_source';
export const ATTR_RETRY_GIVE_UP_REASON = 'resilience.retry.give_up_reason';
export const ATTR_RETRY_AFTER_MS = 'resilience.retry_after_ms';
export const ATTR_BREAKER_NAME = 'resilience.circuit_breaker.name';
export const ATTR_BREAKER_FROM = 'resilience.circuit_breaker.from';
export const ATTR_BREAKER_TO = 'resilience.circuit_breaker.to';
export const ATTR_TIMEOUT_SCOPE = 'resilience.timeout.scope';
export const ATTR_TIMEOUT_MS = 'resilience.timeout.ms';
export const ATTR_BULKHEAD_NAME = 'resilience.bulkhead.name';
export const ATTR_BULKHEAD_WAITED_MS = 'resilience.bulkhead.waited_ms';
export const ATTR_REJECT_REASON = 'resilience.reject_reason';
export const ATTR_RATE_LIMITER_NAME = 'resilience.rate_limiter.name';
export const ATTR_RATE_LIMITER_WAITED_MS = 'resilience.rate_limiter.waited_ms';
export const ATTR_FALLBACK_NAME = 'resilience.fallback.name';
export const ATTR_HEDGE_OUTCOME = 'resilience.hedge.outcome';
/** Chunks a streamed attempt delivered to the caller (set when its stream ends, also on failure). */
export const ATTR_STREAM_CHUNKS = 'resilience.stream.chunks';
/** Whether a streamed attempt was ended by the caller before its last chunk (`break`). */
export const ATTR_STREAM_CANCELLED = 'resilience.stream.cancelled';
export const ATTR_RETRY_BUDGET_NAME = 'resilience.retry_budget.name';
export const ATTR_CHAOS_KIND = 'resilience.chaos.kind';
export const ATTR_CHAOS_NAME = 'resilience.chaos.name';
export const ATTR_IDEMPOTENCY_NAMESPACE = 'resilience.idempotency.namespace';
export const ATTR_IDEMPOTENCY_OUTCOME = 'resilience.idempotency.outcome';
export const ATTR_WORKFLOW_NAME = 'resilience.workflow.name';
export const ATTR_WORKFLOW_RUN_ID = 'resilience.workflow.run_id';
export const ATTR_WORKFLOW_STEP = 'resilience.workflow.step';
export const ATTR_WORKFLOW_STATUS = 'resilience.workflow.status';
export const ATTR_COMPENSATION_OUTCOME = 'resilience.workflow.compensation.outcome';

/** Span events. */
export const EVENT_RETRY = 'resilience.retry';
export const EVENT_RETRY_EXHAUSTED = 'resilience.retry.exhausted';
export const EVENT_BREAKER_STATE_CHANGE = 'resilience.circuit_breaker.state_change';
export const EVENT_BREAKER_REJECTED = 'resilience.circuit_breaker.rejected';
export const EVENT_TIMEOUT = 'resilience.timeout';
export const EVENT_BULKHEAD_QUEUED = 'resilience.bulkhead.queued';
export const EVENT_BULKHEAD_REJECTED = 'resilience.bulkhead.rejected';
export const EVENT_RATE_LIMITER_WAITED = 'resilience.rate_limiter.waited';
export const EVENT_RATE_LIMITER_REJECTED = 'resilience.rate_limiter.rejected';
export const EVENT_RATE_LIMITER_STORE_FAILED = 'resilience.rate_limiter.store_failed';
export const EVENT_FALLBACK = 'resilience.fallback';
export const EVENT_HEDGE = 'resilience.hedge';
export const EVENT_CHAOS = 'resilience.chaos';
export const EVENT_IDEMPOTENCY = 'resilience.idempotency';
export const EVENT_WORKFLOW_CHECKPOINT = 'resilience.workflow.checkpoint';
export const EVENT_WORKFLOW_RESUMED = 'resilience.workflow.resumed';
export const EVENT_WORKFLOW_STEP_REPLAYED = 'resilience.workflow.step_replayed';
export const EVENT_WORKFLOW_STALLED = 'resilience.workflow.stalled';
export const EVENT_WORKFLOW_COMPENSATION = 'resilience.workflow.compensation';

/** Metric attributes. */
export const ATTR_EVENT_NAME = 'event.name';
export const ATTR_POLICY_NAME = 'resilience.policy.name';

/** Metrics. */
export const METRIC_EVENTS = 'resilience.events';
export const METRIC_ATTEMPT_DURATION = 'resilience.attempt.duration';
export const METRIC_BREAKER_STATE = 'resilience.circuit_breaker.state';
/** Spans that telemetry export lost (`error.type`: `queue_full`, or why the export failed). */
export const METRIC_DROPPED_SPANS = 'resilience.telemetry.dropped_spans';

/** The instrumentation scope every tracer and meter of this SDK is created with. */
export const INSTRUMENTATION_SCOPE = 'otel-resilience';

/** Span name of fallback step `step` of the call named `callName`. */
export function fallbackSpanName(callName: string, step: string): string {
  return `${callName} fallback ${step}`;
}

/** Span name of attempt `n` of the call named `callName`. */
export function attemptSpanName(callName: string, attempt: number): string {
  return `${callName} attempt ${attempt}`;
}
