import { ResilienceError } from '../policies/errors.js';
import type { Decision, HumanTask } from './human.js';
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

/**
 * The run waits for a person (status `awaiting_human`): a step failed for good and was
 * handed off, or an approval was requested. Nothing was undone; the incident (or the
 * request) is stored in the run and the notifiers were called. Once someone decides
 * (`decide`, or `npx otel-resilience runs approve|reject`), `resume` continues the run.
 * Code `WORKFLOW_AWAITING_HUMAN`, not retryable (retrying will not decide for the person).
 */
export class WorkflowAwaitingHumanError extends ResilienceError {
  readonly runId: string;
  readonly status = 'awaiting_human' as const;
  /** What the person is asked. */
  readonly task: HumanTask;

  constructor(runId: string, task: HumanTask, cause?: unknown) {
    const what = task.kind === 'hand-off' ? `handed off at step "${task.step}"` : `awaits approval "${task.step}"`;
    super(`Workflow run "${runId}" ${what}: a person decides, then resume`, 'WORKFLOW_AWAITING_HUMAN', false, undefined, {
      cause,
    });
    this.runId = runId;
    this.task = task;
  }
}

/** A person rejected an approval or a hand-off: the run gives up and compensates (this is the failure it gives up for). Code `APPROVAL_REJECTED`. */
export class ApprovalRejectedError extends ResilienceError {
  readonly runId: string;
  readonly decision: Decision;

  constructor(runId: string, task: HumanTask, decision: Decision) {
    const note = decision.note === undefined ? '' : `: ${decision.note}`;
    super(
      `${task.kind === 'hand-off' ? 'Hand-off' : 'Approval'} "${task.id}" of run "${runId}" rejected by ${decision.by}${note}`,
      'APPROVAL_REJECTED',
      false,
    );
    this.runId = runId;
    this.decision = decision;
  }
}

/** A decision could not be recorded: the run does not exist, does not wait for a person, or the task was decided already (`existing`). Code `WORKFLOW_DECISION_REFUSED`. */
export class WorkflowDecisionError extends ResilienceError {
  readonly runId: string;
  /** The decision already recorded, when that is why. */
  readonly existing: Decision | undefined;

  constructor(runId: string, reason: string, existing?: Decision) {
    super(`Cannot decide on workflow run "${runId}": ${reason}`, 'WORKFLOW_DECISION_REFUSED', false);
    this.runId = runId;
    this.existing = existing;
  }
}
