/** States of a circuit breaker (closed/open/half-open, plus manual isolation). */
export type CircuitState = 'closed' | 'open' | 'half_open' | 'isolated';

/**
 * Which timeout fired: one attempt's, the whole call's across retries, a stream's wait
 * for its first chunk, or a stream's gap between two chunks.
 */
export type TimeoutScope = 'attempt' | 'total' | 'first_chunk' | 'idle';

/**
 * Why a circuit breaker moved: `failure-threshold` (consecutive failures), `failure-rate`
 * / `slow-call-rate` (over the sliding window), `probe-failed` / `probe-slow` /
 * `probe-timeout` (a half-open probe failed, was slow, or is overdue), `probes-succeeded`,
 * `half-open-after` (the open period passed), `isolated`, `released`, `reset`, `shared`
 * (another process's change, through the store).
 */
export type BreakerReason =
  | 'failure-threshold'
  | 'failure-rate'
  | 'slow-call-rate'
  | 'probe-failed'
  | 'probe-slow'
  | 'probe-timeout'
  | 'probes-succeeded'
  | 'half-open-after'
  | 'isolated'
  | 'released'
  | 'reset'
  | 'shared';

/** Why a breaker moved and the numbers that decided it (each present where it applies). */
export interface BreakerWhy {
  readonly reason: BreakerReason;
  /** Consecutive failures counted and `failureThreshold`. */
  readonly failures?: number;
  readonly failureThreshold?: number;
  /** Calls in the sliding window; failure and slow-call rates (0–1) over them, with their thresholds. */
  readonly calls?: number;
  readonly failureRate?: number;
  readonly failureRateThreshold?: number;
  readonly slowCallRate?: number;
  readonly slowCallRateThreshold?: number;
  /** The deciding call's duration in ms, whether it was slow, and `slowCallDurationMs` (slow-call detection on). */
  readonly callDurationMs?: number;
  readonly callSlow?: boolean;
  readonly slowCallDurationMs?: number;
}

/** Why retrying stopped. */
export type GiveUpReason = 'max-retries' | 'retry-after-too-long' | 'deadline' | 'budget';

/**
 * What a policy reports while it works. Policies describe what happened; `telemetry/`
 * alone turns these into span events (and, later, metrics) with their attribute names.
 */
export type ResilienceEvent =
  | {
      readonly type: 'retry';
      /** The attempt that failed (1-based). */
      readonly attempt: number;
      /** The planned wait before the next attempt, in ms (the next attempt's span says what was slept). */
      readonly delayMs: number;
      /** Where the wait came from. */
      readonly delaySource: 'backoff' | 'retry-after';
      /** `error.type` of the failure, or `'result'` when a result was retried. */
      readonly errorType: string;
      /** An invalid `retry-after-ms` / `Retry-After` header that was ignored (`name: value`), if any. */
      readonly retryAfterIgnored?: string | undefined;
    }
  | {
      readonly type: 'retry-exhausted';
      readonly attempts: number;
      readonly reason: GiveUpReason;
    }
  | {
      readonly type: 'breaker-state-change';
      readonly breaker: string;
      readonly from: CircuitState;
      readonly to: CircuitState;
      /** Why it moved, with the counts that decided it. */
      readonly why: BreakerWhy;
    }
  | {
      readonly type: 'breaker-rejected';
      readonly breaker: string;
      readonly retryAfterMs: number | undefined;
    }
  | {
      readonly type: 'timeout';
      readonly scope: TimeoutScope;
      readonly timeoutMs: number;
    }
  | {
      readonly type: 'bulkhead-queued';
      readonly bulkhead: string;
      /** How long the call waited for a slot, in ms. */
      readonly waitedMs: number;
    }
  | {
      readonly type: 'bulkhead-rejected';
      readonly bulkhead: string;
      /** Why: the queue was full, or the call waited `queueTimeoutMs` in it. */
      readonly reason: 'queue-full' | 'queue-timeout';
    }
  | {
      readonly type: 'rate-limiter-waited';
      readonly limiter: string;
      readonly waitedMs: number;
    }
  | {
      readonly type: 'rate-limiter-rejected';
      readonly limiter: string;
      readonly retryAfterMs: number;
    }
  | {
      /** The limiter's shared store failed; this call was limited by the process's own buckets. */
      readonly type: 'rate-limiter-store-failed';
      readonly limiter: string;
      /** `error.type` of the store's failure. */
      readonly errorType: string;
    }
  | {
      /** One fallback step tried. */
      readonly type: 'fallback';
      /** The step's name. */
      readonly fallback: string;
      /** Why it was tried: `error.type` of the failure before it (the primary's or the previous step's), or `'result'`. */
      readonly trigger: string;
      /** `answered`; `failed` (its error in `errorType`); `refused`: its result did not satisfy `shouldFallback`. */
      readonly outcome: 'answered' | 'failed' | 'refused';
      /** `error.type` of the step's own error, when it failed. */
      readonly errorType?: string | undefined;
    }
  | {
      /** Every fallback step was tried and none answered: the call fails with the last one's error. */
      readonly type: 'fallback-exhausted';
      /** Steps tried. */
      readonly steps: number;
      /** `error.type` of what the caller gets, or `'result'`. */
      readonly errorType: string;
    }
  | {
      readonly type: 'hedge';
      /** The attempt launched (2 for the first hedge). */
      readonly attempt: number;
    }
  | {
      readonly type: 'idempotency';
      readonly namespace: string;
      /**
       * `executed` (first call), `replayed` (stored result returned), `in_progress`,
       * `conflict`, `lost_lease` (result not stored: another holder took over),
       * `record_retry` (writing the result failed once and is retried), `unrecorded`
       * (the result could not be written: held by the process, retried in the background).
       */
      readonly outcome: 'executed' | 'replayed' | 'in_progress' | 'conflict' | 'lost_lease' | 'record_retry' | 'unrecorded';
    }
  | {
      readonly type: 'workflow-checkpoint' | 'workflow-resumed' | 'workflow-step-replayed' | 'workflow-stalled';
      readonly workflow: string;
      /** The step checkpointed, resumed from, replayed from its checkpoint, or whose checkpoint could not be saved. */
      readonly step: string;
    }
  | {
      readonly type: 'workflow-compensation';
      readonly workflow: string;
      readonly step: string;
      readonly outcome: 'completed' | 'failed';
    }
  | {
      /** A run handed a task to a person: a step failed for good, or an approval is requested. */
      readonly type: 'hand-off-requested';
      readonly workflow: string;
      readonly step: string;
      readonly kind: 'hand-off' | 'approval';
      readonly task: string;
    }
  | {
      readonly type: 'hand-off-notification';
      readonly workflow: string;
      readonly notifier: string;
      readonly outcome: 'delivered' | 'failed';
      readonly attempts: number;
    }
  | {
      /** A resumed run took up a person's decision. */
      readonly type: 'hand-off-decision';
      readonly workflow: string;
      readonly step: string;
      readonly kind: 'hand-off' | 'approval';
      readonly task: string;
      readonly outcome: 'approve' | 'edit' | 'reject';
      readonly by: string;
      /** From the request to the decision, in ms. */
      readonly waitedMs: number;
    }
  | {
      readonly type: 'chaos';
      /** What was injected. */
      readonly kind: 'fault' | 'latency' | 'outcome';
      readonly chaos: string;
    };
