/**
 * otel-resilience: resilience policies whose every decision shows in an OpenTelemetry
 * trace. The core depends on `@opentelemetry/api` only; export is set up by
 * `otel-resilience/setup`, test helpers live in `otel-resilience/testing`, and
 * `currentAttempt()` in `otel-resilience/context`.
 */

export {
  type ClassifyOptions,
  classifyError,
  type ErrorCategory,
  type ErrorClassification,
  errorClassName,
  errorTypeOf,
  parseRetryAfter,
  type TokenUsage,
  usageOf,
} from './classify/index.js';
export { idempotent } from './decorators/idempotent.js';
export { type AsyncMethod, type ResilientDecorator, type ResilientOptions, resilient } from './decorators/resilient.js';
export { type TraceOptions, trace, traced } from './decorators/trace.js';
export {
  IdempotencyConflictError,
  IdempotencyInProgressError,
  IdempotencyKeyMissingError,
  IdempotencyReplayedFailureError,
} from './idempotency/errors.js';
export { FileIdempotencyStore } from './idempotency/file-idempotency-store.js';
export {
  type AcquireResult,
  type IdempotencyRecord,
  type IdempotencyStatus,
  type IdempotencyStore,
  MemoryIdempotencyStore,
} from './idempotency/idempotency-store.js';
export {
  currentIdempotencyKey,
  type IdempotencyContext,
  type IdempotencyOptions,
  type PendingIdempotencyRecord,
  pendingIdempotencyRecords,
} from './idempotency/idempotent.js';
export { ResiliencePipeline } from './pipeline/pipeline.js';
export type { ResilienceOptions } from './pipeline/pipeline-options.js';
export type { StreamOptions } from './pipeline/stream.js';
export { Backoff, type BackoffFunction, type BackoffKind, type BackoffOptions, type Jitter } from './policies/backoff.js';
export { Bulkhead, type BulkheadOptions } from './policies/bulkhead.js';
export { type ChaosOptions, ChaosPolicy, chaosFaults, seededRandom } from './policies/chaos.js';
export { CircuitBreaker } from './policies/circuit-breaker.js';
export type { CircuitBreakerOptions, CircuitIsolation, CircuitStateChange } from './policies/circuit-breaker-options.js';
export type { CircuitBreakerStore, SharedCircuit, SharedCircuitState } from './policies/circuit-breaker-store.js';
export { type Clock, MAX_TIMER_MS, type RandomSource, systemClock } from './policies/clock.js';
export {
  type Attempt,
  type AttemptGuard,
  type ExecuteOptions,
  type ExecutionContext,
  type InnerSteps,
  type Policy,
  StandalonePolicy,
  type Work,
} from './policies/context.js';
export {
  BrokenCircuitError,
  BulkheadRejectedError,
  HedgeLostError,
  KEPT_ATTEMPT_ERRORS,
  RateLimitedError,
  ResilienceError,
  RetriesExhaustedError,
  TimeoutError,
} from './policies/errors.js';
export { type Failure, type FallbackOptions, FallbackPolicy, type FallbackStep } from './policies/fallback.js';
export { type HedgingOptions, HedgingPolicy } from './policies/hedging.js';
export type { BucketLimit, RateLimitStore } from './policies/rate-limit-store.js';
export { type Cost, RateLimiter, type RateLimiterOptions, type TokenBucketOptions } from './policies/rate-limiter.js';
export {
  type GiveUpInfo,
  type RetryGiveUpReason,
  type RetryInfo,
  type RetryOptions,
  RetryPolicy,
} from './policies/retry.js';
export {
  MemoryRetryBudgetStore,
  RetryBudget,
  type RetryBudgetOptions,
  type RetryBudgetStore,
} from './policies/retry-budget.js';
export { type TimeoutOptions, TimeoutPolicy } from './policies/timeout.js';
export { CorruptRecordError } from './stores/corrupt-record-error.js';
export { SpanClockProcessor, spanClockNow } from './telemetry/clock.js';
export type {
  BreakerReason,
  BreakerWhy,
  CircuitState,
  GiveUpReason,
  ResilienceEvent,
  TimeoutScope,
} from './telemetry/events.js';
export {
  type DecideOptions,
  type DecisionInput,
  decide,
  listRuns,
  type RunFilter,
  runAudit,
} from './workflow/decide.js';
export {
  ApprovalRejectedError,
  WorkflowAwaitingHumanError,
  WorkflowDecisionError,
  WorkflowFailedError,
  WorkflowLeaseHeldError,
  WorkflowLeaseLostError,
  WorkflowStalledError,
} from './workflow/errors.js';
export type {
  Approval,
  ApprovalRequest,
  AuditEntry,
  AuditKind,
  Decision,
  DecisionOutcome,
  HumanTask,
  Incident,
} from './workflow/human.js';
export {
  type HandOffNotice,
  type Notifier,
  type NotifyOptions,
  WebhookError,
  type WebhookNotifierOptions,
  webhookNotifier,
} from './workflow/notifiers.js';
export {
  type OnFailure,
  type StepContext,
  type StepOptions,
  Workflow,
  type WorkflowContext,
  type WorkflowOptions,
  workflow,
} from './workflow/workflow.js';
export {
  FINISHED_STATUSES,
  FileWorkflowStore,
  MemoryWorkflowStore,
  type RunStatus,
  type StoredError,
  type StoredRun,
  type WorkflowRun,
  type WorkflowStore,
} from './workflow/workflow-store.js';
