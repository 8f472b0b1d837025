/**
 * The way back in, for a person or a tool that has only the store (the CLI): list the
 * runs waiting for someone, read a run's audit trail, and record a decision. Writes are
 * compare-and-set on the run's version, so a decision is recorded once (the first
 * wins) and never lost to a concurrent write.
 */
import { type Clock, systemClock } from '../policies/clock.js';
import { ApprovalRejectedError, WorkflowDecisionError } from './errors.js';
import { type AuditEntry, awaitedTask, type Decision, type DecisionOutcome, type HumanTask, withAudit } from './human.js';
import type { RunStatus, WorkflowRun, WorkflowStore } from './workflow-store.js';

/** A decision to record: what, by whom, and for `edit` (or a hand-off) the payload to go on with. */
export interface DecisionInput {
  readonly outcome: DecisionOutcome;
  readonly by: string;
  readonly payload?: unknown;
  readonly note?: string;
}

/** Options of {@link decide}. */
export interface DecideOptions {
  /** The task decided (default: the one the run awaits). */
  readonly task?: string;
  /**
   * How long to wait, in ms, while the execution that handed off still holds the run
   * (it is calling the notifiers) before refusing (default 30000).
   */
  readonly waitMs?: number;
  /** Time source of `at` and the wait (default: the system clock). */
  readonly clock?: Clock;
}

/**
 * Records a person's decision on the task an `awaiting_human` run waits on, with an
 * audit entry; `resume` then goes on (approve / edit) or compensates (reject). The
 * decision is stored before anything it allows runs, so a crash after it loses nothing.
 *
 * @returns the task with its decision
 * @throws TypeError for a bad outcome, an empty `by`, or `edit` without a payload
 * @throws WorkflowDecisionError when the run does not exist, does not await a person, has
 *   no such task, or the task is decided already (`existing`); or when its execution
 *   still holds it after `waitMs`
 * @throws the store's error, CorruptRecordError for an unreadable run
 */
export async function decide(
  store: WorkflowStore,
  runId: string,
  input: DecisionInput,
  options: DecideOptions = {},
): Promise<HumanTask> {
  if (!['approve', 'edit', 'reject'].includes(input?.outcome)) {
    throw new TypeError(
      `Invalid decision outcome: expected "approve", "edit" or "reject", got ${JSON.stringify(input?.outcome)}`,
    );
  }
  if (typeof input.by !== 'string' || input.by === '') {
    throw new TypeError(`Invalid decision.by: expected who decided (a non-empty string), got ${JSON.stringify(input.by)}`);
  }
  if (input.outcome === 'edit' && input.payload === undefined) throw new TypeError('Invalid decision: "edit" needs a payload');
  const clock = options.clock ?? systemClock;
  const deadline = clock.now() + (options.waitMs ?? 30_000);
  for (let wait = 10; ; wait = Math.min(wait * 2, 500)) {
    const loaded = await store.load(runId);
    if (loaded === undefined) throw new WorkflowDecisionError(runId, 'no such run');
    const { run, version } = loaded;
    const task = options.task === undefined ? awaitedTask(run) : run.human?.[options.task];
    if (
      run.status !== 'awaiting_human' ||
      task === undefined ||
      (options.task !== undefined && !Object.hasOwn(run.human!, options.task))
    ) {
      const what = options.task === undefined ? '' : ` on task "${options.task}"`;
      throw new WorkflowDecisionError(runId, `it does not wait for a person${what} (status ${run.status})`);
    }
    if (task.decision !== undefined) {
      throw new WorkflowDecisionError(
        runId,
        `task "${task.id}" was decided already (${task.decision.outcome} by ${task.decision.by})`,
        task.decision,
      );
    }
    const now = clock.now();
    if (run.owner !== undefined && (run.leaseExpiresAt ?? 0) > now) {
      if (now >= deadline) throw new WorkflowDecisionError(runId, 'its execution still holds it (notifying)');
      await new Promise<void>((resolve) => clock.setTimeout(() => resolve(), wait));
      continue;
    }
    const decision: Decision = {
      outcome: input.outcome,
      by: input.by,
      at: now,
      ...(input.payload === undefined ? {} : { payload: input.payload }),
      ...(input.note === undefined ? {} : { note: input.note }),
    };
    const decided: HumanTask = { ...task, decision };
    const entry: AuditEntry = {
      at: now,
      kind: 'decision',
      step: task.step,
      task: task.id,
      by: input.by,
      outcome: input.outcome,
      detail: input.note,
    };
    const next: WorkflowRun = { ...run, human: { ...run.human, [task.id]: decided }, ...withAudit(run, entry), updatedAt: now };
    if ((await store.save(next, version)) !== undefined) return decided;
  }
}

/** What {@link listRuns} keeps. */
export interface RunFilter {
  /** Only runs in this status (e.g. `awaiting_human`). */
  readonly status?: RunStatus;
  /** Only runs of this workflow. */
  readonly workflow?: string;
}

/**
 * The runs of a store, most recently updated first.
 * @throws TypeError when the store cannot list (`list` is optional on {@link WorkflowStore})
 */
export async function listRuns(store: WorkflowStore, filter: RunFilter = {}): Promise<WorkflowRun[]> {
  if (typeof store.list !== 'function') throw new TypeError('This workflow store cannot list its runs (it has no list())');
  return (await store.list())
    .filter(
      (run) =>
        (filter.status === undefined || run.status === filter.status) &&
        (filter.workflow === undefined || run.workflow === filter.workflow),
    )
    .sort((a, b) => b.updatedAt - a.updatedAt);
}

/**
 * The audit trail of a run (hand-offs, notifications, decisions, resumes, compensations), oldest first.
 * @throws Error when there is no such run
 */
export async function runAudit(store: WorkflowStore, runId: string): Promise<readonly AuditEntry[]> {
  const loaded = await store.load(runId);
  if (loaded === undefined) throw new Error(`No workflow run "${runId}"`);
  return loaded.run.audit ?? [];
}

/** The rejection a decided task carries, if it was rejected. */
export function rejectionOf(runId: string, task: HumanTask): ApprovalRejectedError | undefined {
  return task.decision?.outcome === 'reject' ? new ApprovalRejectedError(runId, task, task.decision) : undefined;
}
