/**
 * Every span, event and attribute name the SDK writes, in one place (shared/DESIGN.md,
 * "Telemetry conventions"). OpenTelemetry semantic conventions 1.45 where one exists
 * (`error.type`, `code.function.name`); everything about retries, breakers and timeouts
 * lives under the `resilience.` prefix because no convention covers them.
 */

/** Semantic-convention attributes (stable in semconv 1.45). */
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_CODE_FUNCTION_NAME = 'code.function.name';
export const EVENT_EXCEPTION = 'exception';
export const ATTR_EXCEPTION_TYPE = 'exception.type';
export const ATTR_EXCEPTION_MESSAGE = 'exception.message';
export const ATTR_EXCEPTION_STACKTRACE = 'exception.stacktrace';

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
/** A `retry-after-ms` / `Retry-After` header that was present but invalid, so the backoff was used (`name: value`). */
export const ATTR_RETRY_AFTER_IGNORED = 'resilience.retry.retry_after_ignored';
/** On an attempt after a retry: the time actually slept before it, in ms (`resilience.retry.delay_ms` is the plan). */
export const ATTR_RETRY_SLEPT_MS = 'resilience.retry.slept_ms';
export const ATTR_BREAKER_NAME = 'resilience.circuit_breaker.name';
export const ATTR_BREAKER_FROM = 'resilience.circuit_breaker.from';
export const ATTR_BREAKER_TO = 'resilience.circuit_breaker.to';
/** Why the breaker moved (see `BreakerReason` in events.ts). */
export const ATTR_BREAKER_REASON = 'resilience.circuit_breaker.reason';
/** Consecutive failures counted, and the `failureThreshold` they reached. */
export const ATTR_BREAKER_FAILURES = 'resilience.circuit_breaker.failures';
export const ATTR_BREAKER_FAILURE_THRESHOLD = 'resilience.circuit_breaker.failure_threshold';
/** Calls in the sliding window, and the failure and slow-call rates (0–1) over them with their thresholds. */
export const ATTR_BREAKER_CALLS = 'resilience.circuit_breaker.calls';
export const ATTR_BREAKER_FAILURE_RATE = 'resilience.circuit_breaker.failure_rate';
export const ATTR_BREAKER_FAILURE_RATE_THRESHOLD = 'resilience.circuit_breaker.failure_rate_threshold';
export const ATTR_BREAKER_SLOW_CALL_RATE = 'resilience.circuit_breaker.slow_call_rate';
export const ATTR_BREAKER_SLOW_CALL_RATE_THRESHOLD = 'resilience.circuit_breaker.slow_call_rate_threshold';
/** The causing call's duration in ms and whether it counted as slow (`>= slowCallDurationMs`). */
export const ATTR_BREAKER_CALL_DURATION_MS = 'resilience.circuit_breaker.call_duration_ms';
export const ATTR_BREAKER_CALL_SLOW = 'resilience.circuit_breaker.call_slow';
export const ATTR_BREAKER_SLOW_CALL_DURATION_MS = 'resilience.circuit_breaker.slow_call_duration_ms';
export const ATTR_TIMEOUT_SCOPE = 'resilience.timeout.scope';
export const ATTR_TIMEOUT_MS = 'resilience.timeout.ms';
export const ATTR_BULKHEAD_NAME = 'resilience.bulkhead.name';
export const ATTR_BULKHEAD_WAITED_MS = 'resilience.bulkhead.waited_ms';
export const ATTR_REJECT_REASON = 'resilience.reject_reason';
export const ATTR_RATE_LIMITER_NAME = 'resilience.rate_limiter.name';
export const ATTR_RATE_LIMITER_WAITED_MS = 'resilience.rate_limiter.waited_ms';
export const ATTR_FALLBACK_NAME = 'resilience.fallback.name';
/** Why a fallback step was tried: `error.type` of the failure before it, or `'result'`. */
export const ATTR_FALLBACK_TRIGGER = 'resilience.fallback.trigger';
/** What a step did: `answered`, `failed` (its error in `error.type`) or `refused` (its result did not satisfy `shouldFallback`). */
export const ATTR_FALLBACK_OUTCOME = 'resilience.fallback.outcome';
/** Steps tried before the fallback chain ran out. */
export const ATTR_FALLBACK_STEPS = 'resilience.fallback.steps';
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
/** Where a run ended up after an execution: `completed`, `compensated`, `failed`, `awaiting_human`, `stalled`. */
export const ATTR_WORKFLOW_OUTCOME = 'resilience.workflow.outcome';
export const ATTR_HAND_OFF_KIND = 'resilience.hand_off.kind';
export const ATTR_HAND_OFF_TASK = 'resilience.hand_off.task';
export const ATTR_HAND_OFF_NOTIFIER = 'resilience.hand_off.notifier';
export const ATTR_HAND_OFF_OUTCOME = 'resilience.hand_off.outcome';
export const ATTR_HAND_OFF_BY = 'resilience.hand_off.by';
export const ATTR_HAND_OFF_WAITED_MS = 'resilience.hand_off.waited_ms';

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
export const EVENT_FALLBACK_EXHAUSTED = 'resilience.fallback.exhausted';
export const EVENT_HEDGE = 'resilience.hedge';
export const EVENT_CHAOS = 'resilience.chaos';
export const EVENT_IDEMPOTENCY = 'resilience.idempotency';
export const EVENT_WORKFLOW_CHECKPOINT = 'resilience.workflow.checkpoint';
export const EVENT_WORKFLOW_RESUMED = 'resilience.workflow.resumed';
export const EVENT_WORKFLOW_STEP_REPLAYED = 'resilience.workflow.step_replayed';
export const EVENT_WORKFLOW_STALLED = 'resilience.workflow.stalled';
export const EVENT_WORKFLOW_COMPENSATION = 'resilience.workflow.compensation';
export const EVENT_HAND_OFF_REQUESTED = 'resilience.hand_off.requested';
export const EVENT_HAND_OFF_NOTIFICATION = 'resilience.hand_off.notification';
export const EVENT_HAND_OFF_DECISION = 'resilience.hand_off.decision';

/** Metric attributes. */
export const ATTR_EVENT_NAME = 'event.name';
export const ATTR_POLICY_NAME = 'resilience.policy.name';

/** Metrics. */
export const METRIC_EVENTS = 'resilience.events';
export const METRIC_ATTEMPT_DURATION = 'resilience.attempt.duration';
export const METRIC_BREAKER_STATE = 'resilience.circuit_breaker.state';
/** Executions of workflow runs by where they left the run (`resilience.workflow.outcome`): success rate = completed / all, compensation rate = compensated / all. */
export const METRIC_WORKFLOW_RUNS = 'resilience.workflow.runs';
/** Runs handed to a person and not yet resumed (up-down counter: +1 on hand-off, -1 on resume, in whichever process). */
export const METRIC_WORKFLOW_AWAITING = 'resilience.workflow.awaiting_human';
/** Time from a hand-off or approval request to the person's decision (histogram, s). */
export const METRIC_HAND_OFF_DECISION_TIME = 'resilience.hand_off.decision.duration';
/** Per run execution (histograms): retries, breaker trips (transitions to open), fallbacks taken. */
export const METRIC_WORKFLOW_RUN_RETRIES = 'resilience.workflow.run.retries';
export const METRIC_WORKFLOW_RUN_BREAKER_TRIPS = 'resilience.workflow.run.breaker_trips';
export const METRIC_WORKFLOW_RUN_FALLBACKS = 'resilience.workflow.run.fallbacks';
/** Spans that telemetry export lost (`error.type`: `queue_full`, or why the export failed). */
export const METRIC_DROPPED_SPANS = 'resilience.telemetry.dropped_spans';

/** The instrumentation scope every tracer and meter of this SDK is created with. */
export const INSTRUMENTATION_SCOPE = 'otel-resilience';

/** Span name of fallback step `step` of the call named `callName`. */
export function fallbackSpanName(callName: string, step: string): string {
  return `${callName} fallback ${step}`;
}

/**
 * Span name of every attempt (and hedge) of the call named `callName`: the same for all,
 * so span names stay low-cardinality (gRPC A72 names each `Attempt.<method>`); the
 * number is the `resilience.attempt` attribute.
 */
export function attemptSpanName(callName: string): string {
  return `${callName} attempt`;
}

/**
 * Span names of a call's waits, child spans of the call span: named for the policy, the
 * same for every call (the instance in `resilience.bulkhead.name` /
 * `resilience.rate_limiter.name`), short enough for Jaeger's span column.
 */
export const SPAN_BULKHEAD_WAIT = 'bulkhead wait';
export const SPAN_RATE_LIMITER_WAIT = 'rate limiter wait';
