import { ResilienceError } from '../policies/errors.js';
import type { WorkflowRun } from './workflow-store.js';

/**
 * A run gave up. `cause` is the failure; `status` is where the run ended (`compensated`,
 * or `failed` when compensation was not run or some compensations failed, then listed in
 * `compensationErrors` as an `AggregateError`).
 */
export class WorkflowFailedError extends ResilienceError {
  readonly runId: string;
  readonly status: WorkflowRun['status'];
  readonly compensationErrors: AggregateError | undefined;

  constructor(runId: string, status: WorkflowRun['status'], cause: unknown, compensationErrors?: unknown[]) {
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    super(`Workflow run "${runId}" ${status}${detail}`, 'WORKFLOW_FAILED', false, undefined, { cause });
    this.runId = runId;
    this.status = status;
    this.compensationErrors =
      compensationErrors && compensationErrors.length > 0
        ? new AggregateError(compensationErrors, `${compensationErrors.length} compensation(s) of run "${runId}" failed`)
        : undefined;
  }
}

/**
 * The run's progress could not be saved: its store kept failing (retried with backoff
 * while the lease lasted) after a step's effect, or while compensating. Nothing was
 * undone and no further step ran; the run is left resumable (`status: 'stalled'` when
 * the store took that write, else `running` with a lease that runs out). Call `resume`
 * once the store is back: in this process, the step whose checkpoint was lost is not
 * run again (its output is held in memory); in another, it runs again with the same
 * `idempotencyKey`. Code `WORKFLOW_STALLED`, retryable; `cause` is the store's error.
 */
export class WorkflowStalledError extends ResilienceError {
  /** The run that stalled. */
  readonly runId: string;
  /** Where the run is left: resumable. */
  readonly status = 'stalled' as const;
  /** The step whose checkpoint could not be saved, if it was a step's. */
  readonly step: string | undefined;

  constructor(runId: string, step: string | undefined, cause: unknown) {
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    const where = step === undefined ? '' : ` after step "${step}"`;
    super(
      `Workflow run "${runId}" stalled: its progress${where} could not be saved${detail}`,
      'WORKFLOW_STALLED',
      true,
      undefined,
      {
        cause,
      },
    );
    this.runId = runId;
    this.step = step;
  }
}

/** Another process holds the run's lease; retry after `retryAfterMs`. */
export class WorkflowLeaseHeldError extends ResilienceError {
  constructor(runId: string, retryAfterMs: number) {
    super(`Workflow run "${runId}" is owned by another execution`, 'WORKFLOW_LEASE_HELD', true, retryAfterMs);
  }
}

/**
 * This execution lost the run's lease — another took over, or it ran out while the
 * store could not be reached. It aborted its step's signal, ran no further step and
 * wrote nothing more.
 */
export class WorkflowLeaseLostError extends ResilienceError {
  constructor(runId: string) {
    super(`Workflow run "${runId}" was taken over by another execution, or its lease ran out`, 'WORKFLOW_LEASE_LOST', false);
  }
}
