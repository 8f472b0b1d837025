/**
 * otel-resilience: resilience policies whose every decision shows in an OpenTelemetry
 * trace. The core depends on `@opentelemetry/api` only; export is set up by
 * `otel-resilience/setup`, test helpers live in `otel-resilience/testing`.
 */
export { type ResilientOptions, resilient } from './decorators/resilient.js';
export { type TraceOptions, trace, traced } from './decorators/trace.js';
export { currentAttempt } from './pipeline/current-attempt.js';
export { ResiliencePipeline, type ResilienceOptions } from './pipeline/pipeline.js';
export { Backoff, type BackoffFunction, type BackoffKind, type BackoffOptions, type Jitter } from './policies/backoff.js';
export {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitStateChange,
} from './policies/circuit-breaker.js';
export {
  classifyError,
  type ErrorCategory,
  type ErrorClassification,
  errorTypeOf,
  parseRetryAfter,
} from './policies/classify.js';
export { type Clock, type RandomSource, systemClock } from './policies/clock.js';
export type { ExecuteOptions, ExecutionContext, Policy, Work } from './policies/context.js';
export {
  BrokenCircuitError,
  ResilienceError,
  RetriesExhaustedError,
  TimeoutError,
} from './policies/errors.js';
export { RetryPolicy, type RetryOptions } from './policies/retry.js';
export { TimeoutPolicy, type TimeoutOptions } from './policies/timeout.js';
export type { CircuitState, GiveUpReason, ResilienceEvent, TimeoutScope } from './telemetry/events.js';
