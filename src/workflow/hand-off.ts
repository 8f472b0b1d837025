/**
 * Handing a run to a person, for one execution: storing the task (an incident or an
 * approval request) with the run `awaiting_human` while the lease is still held, then
 * calling the notifiers, then recording what came of them and giving the lease up — so
 * a decision can only land once the hand-off and its notifications are stored, and a
 * notifier that is down never loses the hand-off. And taking a decision up on resume.
 */
import type { ResilienceEvent } from '../telemetry/events.js';
import { recordAwaiting, recordDecisionTime } from '../telemetry/run-metrics.js';
import { WorkflowAwaitingHumanError } from './errors.js';
import type { AuditEntry, Decision, HumanTask, Incident } from './human.js';
import { told, withAudit } from './human.js';
import { type Notifier, notifyAll } from './notifiers.js';
import type { RunWriter } from './run-writer.js';
import type { WorkflowRun } from './workflow-store.js';

/** What a gate needs of its workflow's settings. */
export interface GateSettings {
  readonly notifiers: readonly Notifier[];
  readonly notify: Parameters<typeof notifyAll>[2];
  readonly traceUrl: (traceId: string) => string | undefined;
  readonly clock: { now(): number };
}

/** Checkpointed outputs as JSON cut to 200 characters, by step. */
function summarise(run: WorkflowRun): Record<string, string> {
  const outputs: Record<string, string> = {};
  for (const [step, { output }] of Object.entries(run.steps)) outputs[step] = brief(output);
  return outputs;
}

/** `value` as JSON cut to 200 characters. */
function brief(value: unknown): string {
  const json = value === undefined ? 'undefined' : (JSON.stringify(value) ?? String(value));
  return json.length > 200 ? `${json.slice(0, 199)}…` : json;
}

/** The CLI's command line for `verb` on `runId`. */
function command(verb: string, runId: string): string {
  return `npx otel-resilience runs ${verb} ${JSON.stringify(runId)} --store <store>`;
}

/** Hands one execution's run to people and takes their decisions up (see the file's comment). */
export class HumanGate {
  constructor(
    private readonly writer: RunWriter,
    private readonly runId: string,
    private readonly workflow: string,
    private readonly settings: GateSettings,
    private readonly report: (event: ResilienceEvent) => void,
    private readonly traceId: () => string | undefined,
  ) {}

  /** The incident of a step that failed for good. */
  incident(
    step: string | undefined,
    error: { type: string; message: string },
    attempts: number,
    lastCompletedStep: string | undefined,
  ): Incident {
    const run = this.writer.run;
    const traceId = this.traceId();
    return {
      runId: this.runId,
      workflow: this.workflow,
      step,
      error,
      attempts,
      lastCompletedStep,
      input: brief(run.input),
      outputs: summarise(run),
      traceId,
      traceUrl: traceId === undefined ? undefined : this.settings.traceUrl(traceId),
      startedAt: run.startedAt,
      at: this.settings.clock.now(),
    };
  }

  /** A new hand-off task of `step`: `hand-off:<step>:<n>`, n counting this step's hand-offs. */
  handOffTask(step: string | undefined, incident: Incident): HumanTask {
    const name = step ?? '(body)';
    const previous = Object.values(this.writer.run.human ?? {}).filter((t) => t.kind === 'hand-off' && t.step === name).length;
    return {
      id: `hand-off:${name}:${previous + 1}`,
      kind: 'hand-off',
      step: name,
      incident,
      requestedAt: this.settings.clock.now(),
    };
  }

  /**
   * Stores `task` (new) with the run `awaiting_human`, notifies, records the
   * notifications and gives the lease up. For a task stored already, gives the lease up —
   * after notifying, if no notification of it was recorded (the execution that handed off
   * died while notifying) or `retell` (every one failed). Returns the error the
   * execution ends with.
   */
  async suspend(given: HumanTask, fresh: boolean, cause?: unknown, retell = false): Promise<WorkflowAwaitingHumanError> {
    const task = fresh ? { ...given, notifiers: this.settings.notifiers.map((n) => n.name) } : given;
    if (fresh) {
      const entry: AuditEntry = {
        at: this.settings.clock.now(),
        kind: task.kind === 'hand-off' ? 'hand-off' : 'approval-requested',
        step: task.step,
        task: task.id,
        detail:
          task.incident === undefined ? task.request?.summary : `${task.incident.error.type}: ${task.incident.error.message}`,
      };
      await this.writer.save((run) => ({
        status: 'awaiting_human',
        awaiting: task.id,
        human: { ...run.human, [task.id]: task },
        ...withAudit(run, entry),
      }));
      this.report({ type: 'hand-off-requested', workflow: this.workflow, step: task.step, kind: task.kind, task: task.id });
      recordAwaiting(this.workflow, 1);
    }
    const entries = !retell && told(this.writer.run, task.id) ? [] : await this.notify(task);
    await this.writer.save((run) => withAudit(run, ...entries), true);
    return new WorkflowAwaitingHumanError(this.runId, task, cause);
  }

  /** Calls the notifiers about `task`; one audit entry per notifier. */
  private notify(task: HumanTask): Promise<AuditEntry[]> {
    const traceId = task.incident?.traceUrl === undefined ? this.traceId() : undefined;
    const traceUrl = task.incident?.traceUrl ?? (traceId && this.settings.traceUrl(traceId));
    const notice = {
      kind: task.kind,
      runId: this.runId,
      workflow: this.workflow,
      task,
      traceUrl,
      commands: {
        show: command('show', this.runId),
        approve: command('approve', this.runId),
        reject: command('reject', this.runId),
      },
    };
    return notifyAll(
      this.settings.notifiers,
      notice,
      this.settings.notify,
      () => this.settings.clock.now(),
      (notifier, outcome, attempts) =>
        this.report({ type: 'hand-off-notification', workflow: this.workflow, notifier, outcome, attempts }),
    );
  }

  /**
   * Takes up the decision on `task` (the run was `awaiting_human`): reports it, and —
   * unless it is a rejection, which the caller compensates — stores the run `running`
   * again with a `resume` entry (and `decision`, when the resumer made it) before any
   * step runs.
   */
  async takeUp(task: HumanTask, decision: Decision, by: string | undefined, decidedNow: boolean): Promise<void> {
    const waitedMs = Math.max(0, decision.at - task.requestedAt);
    this.report({
      type: 'hand-off-decision',
      workflow: this.workflow,
      step: task.step,
      kind: task.kind,
      task: task.id,
      outcome: decision.outcome,
      by: decision.by,
      waitedMs,
    });
    recordDecisionTime(this.workflow, task.kind, decision.outcome, waitedMs);
    recordAwaiting(this.workflow, -1);
    if (decision.outcome === 'reject') return;
    const now = this.settings.clock.now();
    const entries: AuditEntry[] = [];
    if (decidedNow)
      entries.push({
        at: now,
        kind: 'decision',
        step: task.step,
        task: task.id,
        by: decision.by,
        outcome: decision.outcome,
        detail: 'resumed as it was',
      });
    entries.push({ at: now, kind: 'resume', step: task.step, task: task.id, by });
    await this.writer.save((run) => ({
      status: 'running',
      awaiting: undefined,
      error: undefined,
      ...(decidedNow ? { human: { ...run.human, [task.id]: { ...task, decision } } } : {}),
      ...withAudit(run, ...entries),
    }));
  }
}
