import { type Clock, systemClock } from '../policies/clock.js';
import type { RetryOptions } from '../policies/retry.js';
import { knownOptions, numberOption, stringOption } from '../policies/validate.js';
import { type DecideOptions, type DecisionInput, decide, listRuns, runAudit } from './decide.js';
import { ApprovalRejectedError, WorkflowAwaitingHumanError, WorkflowLeaseHeldError } from './errors.js';
import { Execution } from './execution.js';
import { type Approval, type ApprovalRequest, type AuditEntry, type Decision, type HumanTask, untoldTask } from './human.js';
import { type Notifier, type NotifyOptions, notifySettings } from './notifiers.js';
import { MemoryWorkflowStore, type WorkflowRun, type WorkflowStore } from './workflow-store.js';

/** What a step's function receives. */
export interface StepContext {
  /**
   * `runId:stepId` (a `:` or `%` in the run id percent-encoded, so no two steps share
   * one): stable across retries, resumes and processes — pass it as an `Idempotency-Key`.
   * A process that dies after a step's effect and before its checkpoint leaves the step
   * to run again in the next execution, with this same key: the receiver deduplicating
   * on it is what makes that window harmless.
   */
  readonly idempotencyKey: string;
  /** Aborts when the step's timeout fires, or when this execution lost the run's lease. */
  readonly signal: AbortSignal;
  /** Attempt number within this execution of the step (1-based). */
  readonly attempt: number;
  /**
   * The person's decision on this step's latest hand-off, when the step runs again after
   * one: its `payload` is what they gave the step to go on with (a corrected recipient).
   */
  readonly decision: Decision | undefined;
}

/** What a run does when a step fails for good (see {@link WorkflowOptions.onFailure}). */
export type OnFailure = 'compensate' | 'keep' | 'hand-off';

/** Options of one step. */
export interface StepOptions<T> {
  /** Retry for this step (default: none). */
  readonly retry?: RetryOptions;
  /** Budget of each attempt, in ms (default: none). */
  readonly timeoutMs?: number;
  /**
   * Undoes the step when the run gives up (saga compensation). Registered before the step
   * runs, so a step that failed or timed out with an unknown outcome is compensated too;
   * `output` is undefined then. Compensations run in reverse order of registration.
   */
  readonly compensate?: (output: T | undefined) => unknown;
  /** What the run does when this step fails for good (default: the workflow's `onFailure`). */
  readonly onFailure?: OnFailure;
}

/** What the workflow body receives. */
export interface WorkflowContext<I> {
  readonly runId: string;
  readonly input: I;
  /**
   * Runs step `id` once per run: a step completed before (in this process or one that
   * crashed) returns its checkpointed output without running; otherwise `fn` runs (from
   * its start) and its output is checkpointed. Step ids must be unique within a run and
   * the body must call steps in the same order every time it runs.
   */
  step<T>(id: string, fn: (step: StepContext) => Promise<T> | T, options?: StepOptions<T>): Promise<T>;
  /**
   * Asks a person to approve before what follows runs (the gated effect goes in the next
   * step). The first time, the request is stored, the run becomes `awaiting_human`, the
   * notifiers are called and the execution ends with {@link WorkflowAwaitingHumanError};
   * once someone decided and the run is resumed, it returns the approval (`payload`: the
   * proposal, or the person's edit). The decision is stored before the run goes on, so a
   * crash after it neither loses it nor asks again. A rejection throws
   * {@link ApprovalRejectedError}: the run compensates. Ids are unique within a run and
   * matched by name, so a run may ask for several approvals. Call it from the body,
   * between steps: inside a step's function it is a TypeError.
   * @throws TypeError for an empty id, a request without `summary`, an id asked twice in
   *   one run, or a call inside a step
   */
  requestApproval<P = unknown>(id: string, request: ApprovalRequest<P>): Promise<Approval<P>>;
}

/** Options of {@link workflow}. */
export interface WorkflowOptions {
  /** Where runs live (default: memory, one store per workflow). */
  readonly store?: WorkflowStore;
  /** How long a process owns a run without renewing, in ms (default 30000; renewed every third of it). */
  readonly leaseMs?: number;
  /**
   * When a step fails for good: `'compensate'` (default) runs the registered
   * compensations and ends `compensated`; `'keep'` leaves the run `failed` for a person
   * to inspect, then `resume` (re-running the failed step) or `compensate`;
   * `'hand-off'` stores an incident, leaves the run `awaiting_human` and calls the
   * `notifiers`: a person decides (approve, possibly with a payload the step gets as
   * `decision`, or reject: compensate), then `resume` re-runs the step. A step's own
   * `onFailure` overrides this.
   */
  readonly onFailure?: OnFailure;
  /** Told of every hand-off and approval request (see `webhookNotifier`); default none. */
  readonly notifiers?: readonly Notifier[];
  /** How notifiers are retried (default 3 retries from 250 ms, 5000 ms per attempt). */
  readonly notify?: NotifyOptions;
  /**
   * The link to a trace, put in incidents and notices (default: the template in
   * `OTEL_RESILIENCE_TRACE_URL` with `{traceId}`, else Jaeger's UI on
   * `http://localhost:16686/trace/{traceId}`).
   */
  readonly traceUrl?: (traceId: string) => string | undefined;
  /** Clock for leases (default: the system clock). */
  readonly clock?: Clock;
}

/**
 * A workflow definition (see {@link workflow}). `run` starts (or continues) a run,
 * `resume` continues one after a crash or a kept failure, `compensate` gives one up,
 * `status` reads it.
 */
export class Workflow<I, O> {
  /** @internal */
  readonly settings: Required<Omit<WorkflowOptions, 'store' | 'notify'>> & {
    store: WorkflowStore;
    notify: ReturnType<typeof notifySettings>;
  };

  constructor(
    readonly name: string,
    /** @internal */
    readonly body: (ctx: WorkflowContext<I>, input: I) => Promise<O>,
    options: WorkflowOptions = {},
  ) {
    knownOptions('workflow.', options, ['store', 'leaseMs', 'onFailure', 'clock', 'notifiers', 'notify', 'traceUrl']);
    stringOption('workflow name', name, '');
    this.settings = {
      store: options.store ?? new MemoryWorkflowStore(),
      leaseMs: numberOption('workflow.leaseMs', options.leaseMs, 30_000, { min: 1 }),
      onFailure: options.onFailure ?? 'compensate',
      clock: options.clock ?? systemClock,
      notifiers: options.notifiers ?? [],
      notify: notifySettings(options.notify),
      traceUrl: options.traceUrl ?? defaultTraceUrl,
    };
    if (!['compensate', 'keep', 'hand-off'].includes(this.settings.onFailure)) {
      throw new TypeError(
        `Invalid option workflow.onFailure: expected "compensate", "keep" or "hand-off", got ${JSON.stringify(options.onFailure)}`,
      );
    }
    if (!Array.isArray(this.settings.notifiers) || this.settings.notifiers.some((n) => typeof n?.notify !== 'function')) {
      throw new TypeError('Invalid option workflow.notifiers: expected a list of { name, notify(notice) }');
    }
  }

  /**
   * Runs `runId` with `input`, or continues it if it exists (a completed run returns its
   * result without running anything).
   * @throws WorkflowFailedError when the run gives up (a step failed for good);
   *   WorkflowLeaseHeldError when another process owns it; WorkflowStalledError when
   *   the store failed after a step's effect (nothing undone; `resume` later);
   *   WorkflowLeaseLostError when another execution took the run over; the store's
   *   error when the run could not even be loaded or claimed (nothing ran);
   *   CorruptRecordError when the stored run is unreadable
   */
  run(runId: string, input: I): Promise<O> {
    return new Execution(this, runId).execute(input, 'run');
  }

  /**
   * Continues an existing run: completed steps return their checkpoints, the interrupted
   * or failed step runs again from its start; an interrupted compensation continues; a
   * `stalled` run goes on from where it stalled. A run `awaiting_human` goes on once a
   * person decided (a hand-off resumed without a decision counts as approved by `by`);
   * an approval still undecided ends this call with `WorkflowAwaitingHumanError` again.
   * Its span links to the span of the execution it continues.
   * @throws WorkflowStalledError when its progress cannot be saved again (see {@link Workflow.run})
   */
  resume(runId: string, options: { readonly by?: string } = {}): Promise<O> {
    return new Execution(this, runId).execute(undefined, 'resume', options.by);
  }

  /**
   * Records a person's decision on the run's awaited hand-off or approval (see
   * {@link decide}); `resume` then goes on, or compensates after a rejection.
   */
  decide(runId: string, decision: DecisionInput, options: DecideOptions = {}): Promise<HumanTask> {
    return decide(this.settings.store, runId, decision, { clock: this.settings.clock, ...options });
  }

  /** The run's audit trail, oldest first (see {@link runAudit}). */
  audit(runId: string): Promise<readonly AuditEntry[]> {
    return runAudit(this.settings.store, runId);
  }

  /**
   * Gives a run up: runs the compensations of its steps in reverse order (those not run
   * before) and ends it `compensated`.
   * @throws WorkflowFailedError always, with the run's failure as cause
   */
  compensate(runId: string): Promise<never> {
    return new Execution(this, runId).execute(undefined, 'compensate') as Promise<never>;
  }

  /**
   * The stored state of a run, for a person to inspect.
   * @throws CorruptRecordError when the stored run is unreadable
   */
  async status(runId: string): Promise<WorkflowRun | undefined> {
    return (await this.settings.store.load(runId))?.run;
  }

  /**
   * Tells the notifiers about the task the run waits on, if nobody was told and nobody
   * decided it yet: the execution that handed off died while notifying (the hand-off was
   * stored first; no notification recorded), or every notification of it failed. The
   * notifications and what came of them are recorded as a hand-off's are; once one was
   * delivered, nobody is told again.
   * @returns whether the notifiers were called (false too for a task stored without
   *   notifiers, or a workflow defined here without them); see the run's audit trail for
   *   what came of it
   * @throws WorkflowLeaseHeldError while an execution holds the run (it may be notifying
   *   now; a dead one's lease runs out after `leaseMs`); the store's error
   */
  async notify(runId: string): Promise<boolean> {
    return this.tell(await this.status(runId), undefined);
  }

  /**
   * {@link Workflow.notify} for every run of this workflow that waits on a task nobody
   * was told about — call it when a worker starts, and now and then (a minute apart,
   * say), so that a process killed while notifying, or a notifier that was down, does
   * not leave a person untold. After a round of notifications that all failed, the next
   * is due a minute later, then two, four … up to an hour apart. Runs whose lease still
   * runs (their execution may be alive) are left for a later call.
   * @returns the ids of the runs whose notifiers were called
   * @throws AggregateError of the errors of runs that could not be notified, after trying
   *   every run; TypeError when the store cannot list its runs
   */
  async notifyPending(): Promise<string[]> {
    const now = this.settings.clock.now();
    const waiting = await listRuns(this.settings.store, { workflow: this.name, status: 'awaiting_human' });
    const pending = waiting.filter((run) => untoldTask(run, now) !== undefined && !((run.leaseExpiresAt ?? 0) > now));
    const notified: string[] = [];
    const errors: unknown[] = [];
    for (const run of pending) {
      try {
        if (await this.tell(run, now)) notified.push(run.runId);
      } catch (error) {
        if (!(error instanceof WorkflowLeaseHeldError)) errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, `Could not notify about ${errors.length} of ${pending.length} runs`);
    return notified;
  }

  /**
   * Notifies about the untold task of `run` as last read (due at `dueAt`, or now regardless
   * of failed rounds; the execution reads the run again when it claims it); whether it did.
   */
  private async tell(run: WorkflowRun | undefined, dueAt: number | undefined): Promise<boolean> {
    if (this.settings.notifiers.length === 0) return false; // this process has nobody to call
    if (run === undefined || untoldTask(run, dueAt) === undefined) return false;
    try {
      await new Execution(this, run.runId).execute(undefined, 'notify', undefined, dueAt);
      return false; // told or decided meanwhile
    } catch (error) {
      if (error instanceof WorkflowAwaitingHumanError) return true;
      throw error;
    }
  }
}

/**
 * Defines a checkpointed, resumable workflow with saga compensation (LangGraph-style
 * checkpoints of completed steps; Temporal-style compensations in reverse order):
 *
 * ```ts
 * const report = workflow('financial-report', async (ctx, { company }) => {
 *   const data = await ctx.step('fetch-data', () => fetchFilings(company), { retry: { maxRetries: 3 } });
 *   const text = await ctx.step('ask-llm', () => llm.summarise(data), { timeoutMs: 30_000 });
 *   await ctx.step('send-email', (s) => mail.send(text, { idempotencyKey: s.idempotencyKey }));
 *   return text;
 * }, { store: new FileWorkflowStore('.runs') });
 * await report.run('acme-2026-q3', { company: 'ACME' });
 * ```
 *
 * Every run is traced: a `workflow <name>` span with a child span per executed step (and
 * its attempts), events `resilience.workflow.checkpoint`, `.resumed` (with the step it
 * resumed from), `.step_replayed`, `.compensation`. One process at a time owns a run
 * (a lease renewed while it runs; a crashed owner's lease runs out).
 *
 * @throws TypeError/RangeError naming the option, for invalid options
 */
export function workflow<I, O>(
  name: string,
  body: (ctx: WorkflowContext<I>, input: I) => Promise<O>,
  options?: WorkflowOptions,
): Workflow<I, O> {
  return new Workflow(name, body, options);
}

/** The trace link of {@link WorkflowOptions.traceUrl} by default. */
function defaultTraceUrl(traceId: string): string {
  const template = process.env.OTEL_RESILIENCE_TRACE_URL ?? 'http://localhost:16686/trace/{traceId}';
  return template.replaceAll('{traceId}', traceId);
}
