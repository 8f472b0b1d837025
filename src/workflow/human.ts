/**
 * What a run keeps about the people it involves (shared/DESIGN.md, "human hand-off"): the
 * tasks it handed them — a step that failed for good (`hand-off`) or an effect waiting
 * for approval (`approval`) — their decisions, and the run's append-only audit trail.
 * All JSON-serializable, stored in the run ({@link WorkflowRun}).
 */
import { errorTypeOf } from '../classify/index.js';
import { RetriesExhaustedError } from '../policies/errors.js';
import type { WorkflowRun } from './workflow-store.js';

/** What a person decided: `approve` (go on), `edit` (go on with `payload` instead of the proposal), `reject` (give the run up: compensate). */
export type DecisionOutcome = 'approve' | 'edit' | 'reject';

/** A person's decision on a {@link HumanTask}. */
export interface Decision {
  /** What was decided. */
  readonly outcome: DecisionOutcome;
  /** The payload the run goes on with: the edited proposal, or for a hand-off what the step needs (a corrected recipient). */
  readonly payload?: unknown;
  /** Who decided (free text: a user name, an email). */
  readonly by: string;
  /** When, in ms since epoch. */
  readonly at: number;
  /** Why, in the decider's words. */
  readonly note?: string | undefined;
}

/** What a person is told when a run hands off: everything needed to decide without reading logs. */
export interface Incident {
  readonly runId: string;
  readonly workflow: string;
  /** The step that failed for good (undefined: the body failed outside any step). */
  readonly step: string | undefined;
  /** `error.type` of the failure (the class name, or a code) and its message. */
  readonly error: { readonly type: string; readonly message: string };
  /** Attempts the step made in the execution that gave up. */
  readonly attempts: number;
  /** The last step whose output is checkpointed, if any. */
  readonly lastCompletedStep: string | undefined;
  /** The run's input (whom or what it works for) as JSON cut to 200 characters. */
  readonly input: string;
  /** Checkpointed outputs by step, each as JSON cut to 200 characters. */
  readonly outputs: Readonly<Record<string, string>>;
  /** The trace of the execution that handed off, and a link to it (`traceUrl` option). */
  readonly traceId: string | undefined;
  readonly traceUrl: string | undefined;
  /** When the run started and when it handed off, in ms since epoch. */
  readonly startedAt: number | undefined;
  readonly at: number;
}

/** Something a run asked a person. */
export interface HumanTask {
  /** Unique in the run: the approval's id, or `hand-off:<step>:<n>`. */
  readonly id: string;
  /** A step that failed for good, or an approval requested. */
  readonly kind: 'hand-off' | 'approval';
  /** The step handed off, or the approval's id. */
  readonly step: string;
  /** Of an approval: what the person is asked to approve (`summary`, proposed `payload`). */
  readonly request?: ApprovalRequest<unknown> | undefined;
  /** Of a hand-off: the incident. */
  readonly incident?: Incident | undefined;
  /** When the task was handed over, in ms since epoch. */
  readonly requestedAt: number;
  /** The person's decision, once made. */
  readonly decision?: Decision | undefined;
  /** The names of the notifiers the task was to be told through, when it was stored (none: people watch `runs list`). */
  readonly notifiers?: readonly string[] | undefined;
}

/** What `ctx.requestApproval` asks a person: a summary to read and the payload proposed. */
export interface ApprovalRequest<P> {
  /** One or two lines a person can decide on (e.g. "Send the Q3 report to cfo@acme.com?"). */
  readonly summary: string;
  /** The payload proposed; an `edit` decision replaces it. JSON-serializable. */
  readonly payload?: P;
}

/** An approval granted: `payload` is the proposal, or the person's edit of it. */
export interface Approval<P> {
  readonly outcome: 'approve' | 'edit';
  readonly payload: P;
  readonly by: string;
  readonly at: number;
  readonly note?: string | undefined;
}

/** Kinds of audit entries. */
export type AuditKind = 'hand-off' | 'approval-requested' | 'notification' | 'decision' | 'resume' | 'compensation';

/** One entry of a run's append-only audit trail. */
export interface AuditEntry {
  /** When, in ms since epoch. */
  readonly at: number;
  /** What happened. */
  readonly kind: AuditKind;
  /** The step or approval it concerns. */
  readonly step?: string | undefined;
  /** The human task it concerns. */
  readonly task?: string | undefined;
  /** Who: the decider, the resumer. */
  readonly by?: string | undefined;
  /** `approve`/`edit`/`reject`, `delivered`/`failed` (notification), `completed`/`failed` (compensation). */
  readonly outcome?: string | undefined;
  /** Free text: a notifier's name and attempts, an error message, a decision's note. */
  readonly detail?: string | undefined;
}

/** `run` with `entries` appended to its audit trail. */
export function withAudit(run: WorkflowRun, ...entries: AuditEntry[]): Pick<WorkflowRun, 'audit'> {
  return { audit: [...(run.audit ?? []), ...entries] };
}

/** The task `run` waits on, if it is `awaiting_human`. */
export function awaitedTask(run: WorkflowRun): HumanTask | undefined {
  return run.status === 'awaiting_human' && run.awaiting !== undefined && run.human !== undefined
    ? Object.hasOwn(run.human, run.awaiting)
      ? run.human[run.awaiting]
      : undefined
    : undefined;
}

/** The wait before telling again after the first round of notifications failed, in ms; it doubles per round. */
const RETELL_AFTER_MS = 60_000;
/** The longest wait between rounds of notifications that all failed, in ms. */
const RETELL_AT_MOST_MS = 3_600_000;

/**
 * The task `run` waits on when it has notifiers to be told through, nobody decided it
 * yet and no notification of it was delivered: none is recorded (the execution that
 * handed off died while notifying), or every one failed. With `nowMs`, a task whose
 * last round failed is due again only {@link RETELL_AFTER_MS} after it, doubling per
 * round up to an hour (so a notifier that is down is not called on every poll).
 */
export function untoldTask(run: WorkflowRun, nowMs?: number): HumanTask | undefined {
  const task = awaitedTask(run);
  if (task === undefined || task.decision !== undefined || !task.notifiers?.length) return undefined;
  const rounds = notificationsOf(run, task.id);
  if (rounds.length === 0) return task;
  if (rounds.some((e) => e.outcome === 'delivered')) return undefined;
  if (nowMs === undefined) return task;
  const failedRounds = Math.ceil(rounds.length / task.notifiers.length);
  const waitMs = Math.min(RETELL_AT_MOST_MS, RETELL_AFTER_MS * 2 ** (failedRounds - 1));
  return nowMs - Math.max(...rounds.map((e) => e.at)) >= waitMs ? task : undefined;
}

/** Whether a notification of task `id` is recorded in `run` (delivered or failed). */
export function told(run: WorkflowRun, id: string): boolean {
  return notificationsOf(run, id).length > 0;
}

/** The notifications of task `id` recorded in `run`, oldest first. */
function notificationsOf(run: WorkflowRun, id: string): AuditEntry[] {
  return run.audit?.filter((e) => e.kind === 'notification' && e.task === id) ?? [];
}

/**
 * `error.type` and message of what failed for good: the last attempt's error when a
 * retry gave up (what a person needs to read), else the error itself.
 */
export function describeFailure(error: unknown): { type: string; message: string } {
  const last = error instanceof RetriesExhaustedError && error.errors.length > 0 ? error.errors.at(-1) : error;
  return { type: errorTypeOf(last), message: last instanceof Error ? last.message : String(last) };
}
