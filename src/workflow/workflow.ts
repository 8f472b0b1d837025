import { context, type Span, trace } from '@opentelemetry/api';
import { errorTypeOf } from '../classify/index.js';
import { ResiliencePipeline } from '../pipeline/pipeline.js';
import { endSpan, startSpan } from '../policies/child-span.js';
import { type Clock, systemClock } from '../policies/clock.js';
import type { RetryOptions } from '../policies/retry.js';
import { knownOptions, numberOption, stringOption } from '../policies/validate.js';
import { keyOf } from '../stores/keys.js';
import type { ResilienceEvent } from '../telemetry/events.js';
import * as names from '../telemetry/names.js';
import { recordEvent, recordFailure } from '../telemetry/spans.js';
import { WorkflowFailedError } from './errors.js';
import { RunWriter, stored } from './run-writer.js';
import { MemoryWorkflowStore, type StoredError, type WorkflowRun, type WorkflowStore } from './workflow-store.js';

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
}

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
   * to inspect, then `resume` (re-running the failed step) or `compensate`.
   */
  readonly onFailure?: 'compensate' | 'keep';
  /** Clock for leases (default: the system clock). */
  readonly clock?: Clock;
}

/** Thrown into the body to stop it once compensation replay reached the first unfinished step. */
class StopReplay extends Error {}

interface Compensation {
  readonly step: string;
  readonly compensate: (output: unknown) => unknown;
  output: unknown;
}

/** One execution of a run by this process: runs the body and its steps, checkpoints them through its {@link RunWriter}, compensates. */
class Execution<I, O> {
  private readonly writer: RunWriter;
  private readonly compensations: Compensation[] = [];
  private readonly seen = new Set<string>();
  private resumed = false;
  private failedStep: string | undefined;
  private replayOnly = false;
  private span: Span | undefined;

  constructor(
    private readonly definition: Workflow<I, O>,
    private readonly runId: string,
  ) {
    const { store, leaseMs, clock } = definition.settings;
    this.writer = new RunWriter(store, runId, definition.name, { leaseMs, clock }, (event) => this.report(event));
  }

  private get run(): WorkflowRun {
    return this.writer.run;
  }

  private report(event: ResilienceEvent): void {
    recordEvent(this.span, event);
  }

  async execute(input: I | undefined, mode: 'run' | 'resume' | 'compensate'): Promise<O> {
    this.span = startSpan(`workflow ${this.definition.name}`, {
      [names.ATTR_WORKFLOW_NAME]: this.definition.name,
      [names.ATTR_WORKFLOW_RUN_ID]: this.runId,
    });
    const active = this.span === undefined ? context.active() : trace.setSpan(context.active(), this.span);
    try {
      const result = await context.with(active, () => this.drive(input, mode));
      this.span?.setAttribute(names.ATTR_WORKFLOW_STATUS, this.run.status);
      return result;
    } catch (error) {
      if (this.span !== undefined) {
        if (this.run !== undefined) this.span.setAttribute(names.ATTR_WORKFLOW_STATUS, this.run.status);
        recordFailure(this.span, error, errorTypeOf(error));
      }
      throw error;
    } finally {
      this.writer.close();
      if (this.span !== undefined) endSpan(this.span);
    }
  }

  private async drive(input: I | undefined, mode: 'run' | 'resume' | 'compensate'): Promise<O> {
    this.resumed = await this.writer.claim(input, mode === 'run');
    const run = this.run;
    if (run.status === 'completed') return run.result as O;
    if (run.status === 'compensated') throw new WorkflowFailedError(this.runId, run.status, run.error);
    this.writer.keepLease();
    if (run.status === 'compensating' || run.stall?.while === 'compensating' || mode === 'compensate') {
      if (run.status === 'stalled') await this.writer.save(() => ({ status: 'compensating', stall: undefined }));
      await this.replayRegistrations();
      return this.giveUp(run.error);
    }
    if (run.status !== 'running') await this.writer.save(() => ({ status: 'running', error: undefined, stall: undefined }));
    let result: O;
    try {
      result = await this.definition.body(this.contextFor(), run.input as I);
    } catch (error) {
      if (this.writer.halted) throw this.writer.halted;
      const failure = stored(error, this.failedStep);
      if (this.definition.settings.onFailure === 'keep') {
        await this.writer.save(() => ({ status: 'failed', error: failure }), true);
        throw new WorkflowFailedError(this.runId, 'failed', error);
      }
      return this.giveUp(failure, error);
    }
    if (this.writer.halted) throw this.writer.halted;
    await this.writer.save(() => ({ status: 'completed', result }), true);
    return result;
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
    };
  }

  private async step(id: string, fn: (step: StepContext) => unknown, options: StepOptions<unknown> = {}): Promise<unknown> {
    if (this.writer.halted) throw this.writer.halted;
    if (typeof id !== 'string' || id === '')
      throw new TypeError(`Invalid step id: expected a non-empty string, got ${String(id)}`);
    if (this.seen.has(id)) throw new TypeError(`Workflow "${this.definition.name}" calls step "${id}" twice in one run`);
    this.seen.add(id);
    // Own properties only: a step named "constructor" or "__proto__" is a step like any other.
    const done = Object.hasOwn(this.run.steps, id) ? this.run.steps[id] : undefined;
    const compensation = options.compensate && { step: id, compensate: options.compensate, output: done?.output };
    if (compensation) this.compensations.push(compensation);
    if (done !== undefined) {
      this.report({ type: 'workflow-step-replayed', workflow: this.definition.name, step: id });
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
    try {
      output = await pipeline.execute(
        (ctx) => fn({ idempotencyKey: keyOf(this.runId, id), signal: ctx.signal, attempt: ctx.attempt }),
        { operation: `${this.definition.name}.${id}`, signal: this.writer.signal },
      );
    } catch (error) {
      if (this.writer.halted) throw this.writer.halted;
      this.failedStep = id;
      throw error;
    }
    if (compensation) compensation.output = output;
    // The lease went while the step ran: keep its output for a later execution here.
    if (this.writer.halted) {
      this.writer.keepUnsaved({ ...this.run, steps: { ...this.run.steps, [id]: { output } } });
      throw this.writer.halted;
    }
    await this.writer.save((run) => ({ steps: { ...run.steps, [id]: { output } } }), false, id);
    this.report({ type: 'workflow-checkpoint', workflow: this.definition.name, step: id });
    return output;
  }

  /** Compensates in reverse order, skipping what a previous execution compensated, then ends the run. */
  private async giveUp(failure: StoredError | undefined, cause: unknown = failure): Promise<never> {
    await this.writer.save(() => ({ status: 'compensating', error: failure }));
    const errors: unknown[] = [];
    for (const entry of [...this.compensations].reverse()) {
      if (this.writer.halted) throw this.writer.halted;
      if (this.run.compensated.includes(entry.step)) continue;
      const span = startSpan(`workflow ${this.definition.name} compensate ${entry.step}`, {
        [names.ATTR_WORKFLOW_STEP]: entry.step,
      });
      try {
        const active = span === undefined ? context.active() : trace.setSpan(context.active(), span);
        await context.with(active, () => entry.compensate(entry.output));
        await this.writer.save((run) => ({ compensated: [...run.compensated, entry.step] }));
        this.report({ type: 'workflow-compensation', workflow: this.definition.name, step: entry.step, outcome: 'completed' });
      } catch (error) {
        if (this.writer.halted) throw this.writer.halted;
        if (span !== undefined) recordFailure(span, error, errorTypeOf(error));
        errors.push(error);
        this.report({ type: 'workflow-compensation', workflow: this.definition.name, step: entry.step, outcome: 'failed' });
      } finally {
        if (span !== undefined) endSpan(span);
      }
    }
    const status = errors.length === 0 ? 'compensated' : 'failed';
    await this.writer.save(() => ({ status, compensationErrors: errors.map((e) => stored(e)) }), true);
    throw new WorkflowFailedError(this.runId, status, cause, errors);
  }
}

/**
 * A workflow definition (see {@link workflow}). `run` starts (or continues) a run,
 * `resume` continues one after a crash or a kept failure, `compensate` gives one up,
 * `status` reads it.
 */
export class Workflow<I, O> {
  /** @internal */
  readonly settings: Required<Omit<WorkflowOptions, 'store'>> & { store: WorkflowStore };

  constructor(
    readonly name: string,
    /** @internal */
    readonly body: (ctx: WorkflowContext<I>, input: I) => Promise<O>,
    options: WorkflowOptions = {},
  ) {
    knownOptions('workflow.', options, ['store', 'leaseMs', 'onFailure', 'clock']);
    stringOption('workflow name', name, '');
    this.settings = {
      store: options.store ?? new MemoryWorkflowStore(),
      leaseMs: numberOption('workflow.leaseMs', options.leaseMs, 30_000, { min: 1 }),
      onFailure: options.onFailure ?? 'compensate',
      clock: options.clock ?? systemClock,
    };
    if (this.settings.onFailure !== 'compensate' && this.settings.onFailure !== 'keep') {
      throw new TypeError(
        `Invalid option workflow.onFailure: expected "compensate" or "keep", got ${JSON.stringify(options.onFailure)}`,
      );
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
   * `stalled` run goes on from where it stalled.
   * @throws WorkflowStalledError when its progress cannot be saved again (see {@link Workflow.run})
   */
  resume(runId: string): Promise<O> {
    return new Execution(this, runId).execute(undefined, 'resume');
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
