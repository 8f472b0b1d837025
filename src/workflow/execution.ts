/**
 * One execution of a workflow run by this process (see {@link Workflow}): the body, its steps
 * and approvals, hand-offs and compensation, written through a {@link RunWriter}.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { context, isSpanContextValid, type Span, trace } from '@opentelemetry/api';
import { ResiliencePipeline } from '../pipeline/pipeline.js';
import { endSpan, failSpan, startSpan } from '../policies/child-span.js';
import { keyOf } from '../stores/keys.js';
import type { ResilienceEvent } from '../telemetry/events.js';
import * as names from '../telemetry/names.js';
import { RunTally, recordAwaiting, recordRunOutcome, withTally } from '../telemetry/run-metrics.js';
import { recordEvent } from '../telemetry/spans.js';
import { rejectionOf } from './decide.js';
import { ApprovalRejectedError, WorkflowAwaitingHumanError, WorkflowFailedError } from './errors.js';
import { HumanGate } from './hand-off.js';
import {
  type Approval,
  type ApprovalRequest,
  type AuditEntry,
  awaitedTask,
  type Decision,
  describeFailure,
  type HumanTask,
  untoldTask,
  withAudit,
} from './human.js';
import { RunWriter, stored } from './run-writer.js';
import type { OnFailure, StepContext, StepOptions, Workflow, WorkflowContext } from './workflow.js';
import type { SpanRef, StoredError, WorkflowRun } from './workflow-store.js';

/** The step whose function is running, if any. */
const insideStep = new AsyncLocalStorage<string>();

/** Thrown into the body to stop it once compensation replay reached the first unfinished step. */
class StopReplay extends Error {}

interface Compensation {
  readonly step: string;
  readonly compensate: (output: unknown) => unknown;
  output: unknown;
  /** The span in which the step's effect succeeded, for the compensation's link. */
  span: SpanRef | undefined;
}

/** Where `span` is, or undefined without a span (or with the invalid one of no SDK). */
function spanRefOf(span: Span | undefined): SpanRef | undefined {
  const ref = span?.spanContext();
  return ref === undefined || !isSpanContextValid(ref) ? undefined : { traceId: ref.traceId, spanId: ref.spanId };
}

/** What an execution does with its run (see {@link Execution.execute}). */
type Mode = 'run' | 'resume' | 'compensate' | 'notify';

/** One execution of a run by this process: runs the body and its steps, checkpoints them through its {@link RunWriter}, compensates. */
export class Execution<I, O> {
  private readonly writer: RunWriter;
  private readonly compensations: Compensation[] = [];
  private readonly seen = new Set<string>();
  private resumed = false;
  private failedStep: string | undefined;
  private failedPolicy: OnFailure | undefined;
  private failedAttempts = 0;
  private lastDone: string | undefined;
  /** Set when the run was handed to a person: no further step runs in this execution. */
  private suspended: WorkflowAwaitingHumanError | undefined;
  private readonly gate: HumanGate;
  private replayOnly = false;
  /** Set in `'notify'` mode: this execution only tells the notifiers, late. */
  private telling = false;
  private span: Span | undefined;

  constructor(
    private readonly definition: Workflow<I, O>,
    private readonly runId: string,
  ) {
    const { store, leaseMs, clock } = definition.settings;
    this.writer = new RunWriter(store, runId, definition.name, { leaseMs, clock }, (event) => this.report(event));
    this.gate = new HumanGate(
      this.writer,
      runId,
      definition.name,
      definition.settings,
      (event) => this.report(event),
      // A notice sent late (`notify`) links to the trace that asked, not to its own.
      () => (this.telling ? this.writer.previousTrace?.traceId : undefined) ?? spanRefOf(this.span)?.traceId,
    );
  }

  private get run(): WorkflowRun {
    return this.writer.run;
  }

  private report(event: ResilienceEvent): void {
    recordEvent(this.span, event);
  }

  /**
   * Runs, resumes or compensates the run; or (`'notify'`) only tells the notifiers of the
   * task it waits on if nobody was told (see `untoldTask`: `dueAt`, the time to judge a
   * retry of failed notifications by, or none to retry them now), and resolves undefined
   * when there was none.
   */
  async execute(input: I | undefined, mode: Mode, by?: string, dueAt?: number): Promise<O> {
    this.span = startSpan(`workflow ${this.definition.name}`, {
      [names.ATTR_WORKFLOW_NAME]: this.definition.name,
      [names.ATTR_WORKFLOW_RUN_ID]: this.runId,
    });
    const tally = new RunTally();
    const active = this.span === undefined ? context.active() : trace.setSpan(context.active(), this.span);
    let outcome = 'failed';
    try {
      const result = await withTally(tally, () => context.with(active, () => this.drive(input, mode, by, dueAt)));
      outcome = this.run.status;
      this.span?.setAttribute(names.ATTR_WORKFLOW_STATUS, outcome);
      return result;
    } catch (error) {
      outcome = this.writer.halted?.name === 'WorkflowStalledError' ? 'stalled' : (this.run?.status ?? 'failed');
      if (this.span !== undefined) {
        if (this.run !== undefined) this.span.setAttribute(names.ATTR_WORKFLOW_STATUS, this.run.status);
        // Waiting for a person is not a failure of the run's span.
        if (!(error instanceof WorkflowAwaitingHumanError)) failSpan(this.span, error);
      }
      throw error;
    } finally {
      this.writer.close();
      // Telling people late is not a run of the workflow: no outcome to count.
      if (mode !== 'notify') recordRunOutcome(this.definition.name, outcome, tally);
      if (this.span !== undefined) endSpan(this.span);
    }
  }

  private async drive(input: I | undefined, mode: Mode, by: string | undefined, dueAt: number | undefined): Promise<O> {
    // This execution's span is written into the run: a later resume links to it.
    this.resumed = await this.writer.claim(input, mode === 'run', spanRefOf(this.span));
    const previous = this.writer.previousTrace;
    if (this.resumed && previous !== undefined && this.span !== undefined) {
      try {
        this.span.addLink({ context: { ...previous, traceFlags: 1 }, attributes: { [names.ATTR_WORKFLOW_RUN_ID]: this.runId } });
      } catch {
        // Instrumentation must never break the run.
      }
    }
    const run = this.run;
    if (run.status === 'completed') return run.result as O;
    if (run.status === 'compensated') throw new WorkflowFailedError(this.runId, run.status, run.error);
    this.writer.keepLease();
    if (mode === 'notify') {
      this.telling = true;
      const untold = untoldTask(run, dueAt);
      if (untold !== undefined) throw await this.gate.suspend(untold, false, undefined, true);
      await this.writer.save(() => ({}), true); // told or decided meanwhile: nothing to do
      return undefined as O;
    }
    const task = awaitedTask(run);
    if (task !== undefined && mode !== 'compensate') {
      const rejection = await this.takeUp(task, mode, by);
      if (rejection !== undefined) {
        await this.replayRegistrations();
        return this.giveUp(stored(rejection, task.step), rejection);
      }
    } else if (task !== undefined) {
      // Given up while waiting for a person: it waits no more.
      recordAwaiting(this.definition.name, -1);
    } else if (mode === 'resume') {
      await this.writer.save((r) => withAudit(r, { at: this.definition.settings.clock.now(), kind: 'resume', by }));
    }
    if (run.status === 'compensating' || run.stall?.while === 'compensating' || mode === 'compensate') {
      if (run.status === 'stalled') await this.writer.save(() => ({ status: 'compensating', stall: undefined }));
      await this.replayRegistrations();
      return this.giveUp(run.error);
    }
    if (this.run.status !== 'running') await this.writer.save(() => ({ status: 'running', error: undefined, stall: undefined }));
    let result: O;
    try {
      result = await this.definition.body(this.contextFor(), run.input as I);
    } catch (error) {
      if (this.writer.halted) throw this.writer.halted;
      if (this.suspended) throw this.suspended;
      const failure = stored(error, this.failedStep);
      const policy =
        error instanceof ApprovalRejectedError ? 'compensate' : (this.failedPolicy ?? this.definition.settings.onFailure);
      if (policy === 'hand-off') {
        const incident = this.gate.incident(this.failedStep, describeFailure(error), this.failedAttempts, this.lastDone);
        await this.writer.save(() => ({ error: failure }));
        throw await this.gate.suspend(this.gate.handOffTask(this.failedStep, incident), true, error);
      }
      if (policy === 'keep') {
        await this.writer.save(() => ({ status: 'failed', error: failure }), true);
        throw new WorkflowFailedError(this.runId, 'failed', error);
      }
      return this.giveUp(failure, error);
    }
    if (this.writer.halted) throw this.writer.halted;
    if (this.suspended) throw this.suspended;
    await this.writer.save(() => ({ status: 'completed', result }), true);
    return result;
  }

  /**
   * Goes on from `awaiting_human`: with a decision, takes it up (stored, reported) and
   * returns the rejection if it was one; a hand-off resumed without one is decided
   * "approve" by the resumer; otherwise the run still waits and this execution ends.
   */
  private async takeUp(
    task: HumanTask,
    mode: 'run' | 'resume',
    by: string | undefined,
  ): Promise<ApprovalRejectedError | undefined> {
    let decision = task.decision;
    const decidedNow = decision === undefined && mode === 'resume' && task.kind === 'hand-off';
    if (decidedNow) decision = { outcome: 'approve', by: by ?? 'resume', at: this.definition.settings.clock.now() };
    if (decision === undefined) throw await this.gate.suspend(task, false);
    await this.gate.takeUp(task, decision, by, decidedNow);
    return rejectionOf(this.runId, { ...task, decision });
  }

  /** Runs the body against checkpoints only, to register the compensations of a run whose compensation was interrupted. */
  private async replayRegistrations(): Promise<void> {
    this.replayOnly = true;
    try {
      await this.definition.body(this.contextFor(), this.run.input as I);
    } catch (error) {
      if (!(error instanceof StopReplay)) throw error;
    }
  }

  private contextFor(): WorkflowContext<I> {
    return {
      runId: this.runId,
      input: this.run.input as I,
      step: (id, fn, options) => this.step(id, fn as (step: StepContext) => unknown, options as StepOptions<unknown>) as never,
      requestApproval: (id, request) => this.requestApproval(id, request as ApprovalRequest<unknown>) as never,
    };
  }

  private async requestApproval(id: string, request: ApprovalRequest<unknown>): Promise<Approval<unknown>> {
    if (this.writer.halted) throw this.writer.halted;
    if (this.suspended) throw this.suspended;
    const step = insideStep.getStore();
    if (step !== undefined) {
      // A step would retry the suspension, and re-run what came before it in the step on resume.
      throw new TypeError(
        `Approval "${id}" is requested inside step "${step}": request it from the workflow body, between steps`,
      );
    }
    if (typeof id !== 'string' || id === '')
      throw new TypeError(`Invalid approval id: expected a non-empty string, got ${String(id)}`);
    if (typeof request?.summary !== 'string')
      throw new TypeError(`Invalid approval request "${id}": expected { summary: string, payload? }, got ${String(request)}`);
    if (this.seen.has(`\0approval ${id}`))
      throw new TypeError(`Workflow "${this.definition.name}" requests approval "${id}" twice in one run`);
    this.seen.add(`\0approval ${id}`);
    const human = this.run.human ?? {};
    const task = Object.hasOwn(human, id) ? human[id] : undefined;
    const decision = task?.decision;
    if (decision !== undefined) {
      const rejection = rejectionOf(this.runId, task!);
      if (rejection !== undefined) throw this.replayOnly ? new StopReplay() : rejection;
      const payload = decision.payload === undefined ? request.payload : decision.payload;
      return {
        outcome: decision.outcome === 'edit' ? 'edit' : 'approve',
        payload,
        by: decision.by,
        at: decision.at,
        note: decision.note,
      };
    }
    if (this.replayOnly) throw new StopReplay();
    const requested: HumanTask = task ?? {
      id,
      kind: 'approval',
      step: id,
      request,
      requestedAt: this.definition.settings.clock.now(),
    };
    this.suspended = await this.gate.suspend(requested, task === undefined);
    throw this.suspended;
  }

  /** The latest decision on a hand-off of step `id`, if any. */
  private handOffDecision(id: string): Decision | undefined {
    let latest: Decision | undefined;
    for (const task of Object.values(this.run.human ?? {})) {
      if (task.kind === 'hand-off' && task.step === id && task.decision !== undefined) latest = task.decision;
    }
    return latest;
  }

  private async step(id: string, fn: (step: StepContext) => unknown, options: StepOptions<unknown> = {}): Promise<unknown> {
    if (this.writer.halted) throw this.writer.halted;
    if (this.suspended) throw this.suspended;
    if (typeof id !== 'string' || id === '')
      throw new TypeError(`Invalid step id: expected a non-empty string, got ${String(id)}`);
    if (this.seen.has(id)) throw new TypeError(`Workflow "${this.definition.name}" calls step "${id}" twice in one run`);
    this.seen.add(id);
    // Own properties only: a step named "constructor" or "__proto__" is a step like any other.
    const done = Object.hasOwn(this.run.steps, id) ? this.run.steps[id] : undefined;
    const compensation = options.compensate && {
      step: id,
      compensate: options.compensate,
      output: done?.output,
      span: done?.span,
    };
    if (compensation) this.compensations.push(compensation);
    if (done !== undefined) {
      this.report({ type: 'workflow-step-replayed', workflow: this.definition.name, step: id });
      this.lastDone = id;
      return done.output;
    }
    if (this.replayOnly) throw new StopReplay();
    if (this.resumed) {
      this.resumed = false;
      this.report({ type: 'workflow-resumed', workflow: this.definition.name, step: id });
    }
    const pipeline = new ResiliencePipeline({
      retry: options.retry ?? false,
      ...(options.timeoutMs === undefined ? {} : { attemptTimeoutMs: options.timeoutMs }),
    });
    let output: unknown;
    let attempts = 0;
    let span: SpanRef | undefined;
    const decision = this.handOffDecision(id);
    try {
      output = await pipeline.execute(
        (ctx) => {
          attempts = ctx.attempt;
          span = spanRefOf(trace.getActiveSpan());
          return insideStep.run(id, () =>
            fn({ idempotencyKey: keyOf(this.runId, id), signal: ctx.signal, attempt: ctx.attempt, decision }),
          );
        },
        { operation: `${this.definition.name}.${id}`, signal: this.writer.signal },
      );
    } catch (error) {
      if (this.writer.halted) throw this.writer.halted;
      [this.failedStep, this.failedPolicy, this.failedAttempts] = [id, options.onFailure, attempts];
      throw error;
    }
    if (compensation) [compensation.output, compensation.span] = [output, span];
    const checkpoint = span === undefined ? { output } : { output, span };
    // The lease went while the step ran: keep its output for a later execution here.
    if (this.writer.halted) {
      this.writer.keepUnsaved({ ...this.run, steps: { ...this.run.steps, [id]: checkpoint } });
      throw this.writer.halted;
    }
    await this.writer.save((run) => ({ steps: { ...run.steps, [id]: checkpoint } }), false, id);
    this.report({ type: 'workflow-checkpoint', workflow: this.definition.name, step: id });
    this.lastDone = id;
    return output;
  }

  /** Compensates in reverse order, skipping what a previous execution compensated, then ends the run. */
  private async giveUp(failure: StoredError | undefined, cause: unknown = failure): Promise<never> {
    await this.writer.save(() => ({ status: 'compensating', error: failure }));
    const errors: unknown[] = [];
    const failedEntries: AuditEntry[] = [];
    const { clock } = this.definition.settings;
    for (const entry of [...this.compensations].reverse()) {
      if (this.writer.halted) throw this.writer.halted;
      if (this.run.compensated.includes(entry.step)) continue;
      // Linked to the span in which the step's effect succeeded, also from another process.
      const undone = entry.span && [
        { context: { ...entry.span, traceFlags: 1 }, attributes: { [names.ATTR_WORKFLOW_STEP]: entry.step } },
      ];
      const span = startSpan(
        `workflow ${this.definition.name} compensate ${entry.step}`,
        { [names.ATTR_WORKFLOW_STEP]: entry.step },
        context.active(),
        undefined,
        undone,
      );
      try {
        const active = span === undefined ? context.active() : trace.setSpan(context.active(), span);
        await context.with(active, () => entry.compensate(entry.output));
        const audit: AuditEntry = { at: clock.now(), kind: 'compensation', step: entry.step, outcome: 'completed' };
        await this.writer.save((run) => ({ compensated: [...run.compensated, entry.step], ...withAudit(run, audit) }));
        this.report({ type: 'workflow-compensation', workflow: this.definition.name, step: entry.step, outcome: 'completed' });
      } catch (error) {
        if (this.writer.halted) throw this.writer.halted;
        if (span !== undefined) failSpan(span, error);
        errors.push(error);
        failedEntries.push({
          at: clock.now(),
          kind: 'compensation',
          step: entry.step,
          outcome: 'failed',
          detail: stored(error).message,
        });
        this.report({ type: 'workflow-compensation', workflow: this.definition.name, step: entry.step, outcome: 'failed' });
      } finally {
        if (span !== undefined) endSpan(span);
      }
    }
    const status = errors.length === 0 ? 'compensated' : 'failed';
    await this.writer.save(
      (run) => ({
        status,
        awaiting: undefined,
        compensationErrors: errors.map((e) => stored(e)),
        ...withAudit(run, ...failedEntries),
      }),
      true,
    );
    throw new WorkflowFailedError(this.runId, status, cause, errors);
  }
}
