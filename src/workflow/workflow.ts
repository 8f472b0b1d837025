import { randomUUID } from 'node:crypto';
import { context, type Span, trace } from '@opentelemetry/api';
import { errorTypeOf } from '../classify/index.js';
import { ResiliencePipeline } from '../pipeline/pipeline.js';
import { endSpan, startSpan } from '../policies/child-span.js';
import { type Clock, systemClock } from '../policies/clock.js';
import { ResilienceError } from '../policies/errors.js';
import type { RetryOptions } from '../policies/retry.js';
import { knownOptions, numberOption, stringOption } from '../policies/validate.js';
import type { ResilienceEvent } from '../telemetry/events.js';
import * as names from '../telemetry/names.js';
import { recordEvent, recordFailure } from '../telemetry/spans.js';
import { MemoryWorkflowStore, type StoredError, type WorkflowRun, type WorkflowStore } from './workflow-store.js';

/** What a step's function receives. */
export interface StepContext {
  /** `runId:stepId`: stable across retries and resumes — pass it as an `Idempotency-Key`. */
  readonly idempotencyKey: string;
  /** Aborts when the step's timeout fires. */
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

/** Another process holds the run's lease; retry after `retryAfterMs`. */
export class WorkflowLeaseHeldError extends ResilienceError {
  constructor(runId: string, retryAfterMs: number) {
    super(`Workflow run "${runId}" is owned by another execution`, 'WORKFLOW_LEASE_HELD', true, retryAfterMs);
  }
}

/** This execution lost the run's lease (another took over); it stops without writing. */
export class WorkflowLeaseLostError extends ResilienceError {
  constructor(runId: string) {
    super(`Workflow run "${runId}" was taken over by another execution`, 'WORKFLOW_LEASE_LOST', false);
  }
}

/** Thrown into the body to stop it once compensation replay reached the first unfinished step. */
class StopReplay extends Error {}

function stored(error: unknown, step?: string): StoredError {
  return error instanceof Error
    ? { name: error.name, message: error.message, step }
    : { name: 'Error', message: String(error), step };
}

interface Compensation {
  readonly step: string;
  readonly compensate: (output: unknown) => unknown;
  output: unknown;
}

/** One execution of a run by this process: owns the lease, checkpoints, compensates. */
class Execution<I, O> {
  private readonly owner = randomUUID();
  private version = 0;
  private run!: WorkflowRun;
  private readonly compensations: Compensation[] = [];
  private readonly seen = new Set<string>();
  private resumed = false;
  private failedStep: string | undefined;
  private replayOnly = false;
  private saving: Promise<unknown> = Promise.resolve();
  private renewal: unknown;
  private span: Span | undefined;

  constructor(
    private readonly definition: Workflow<I, O>,
    private readonly runId: string,
  ) {}

  private get settings() {
    return this.definition.settings;
  }

  private report(event: ResilienceEvent): void {
    recordEvent(this.span, event);
  }

  /**
   * Writes `change(run)` if this execution still owns the run (compare-and-set), renewing
   * the lease — or, with `release`, giving it up (the run's final write).
   */
  private save(change: (run: WorkflowRun) => Partial<WorkflowRun>, release = false): Promise<void> {
    const next = this.saving.then(async () => {
      const now = this.settings.clock.now();
      const lease = release ? { owner: undefined, leaseExpiresAt: undefined } : { leaseExpiresAt: now + this.settings.leaseMs };
      const run: WorkflowRun = { ...this.run, ...change(this.run), ...lease, updatedAt: now };
      const version = await this.settings.store.save(run, this.version);
      if (version === undefined) throw new WorkflowLeaseLostError(this.runId);
      this.run = run;
      this.version = version;
    });
    this.saving = next.catch(() => {});
    return next;
  }

  /** Loads or creates the run and takes its lease. */
  private async claim(input: I | undefined, create: boolean): Promise<void> {
    const { store, clock, leaseMs } = this.settings;
    for (;;) {
      const now = clock.now();
      const loaded = await store.load(this.runId);
      if (loaded === undefined) {
        if (!create) throw new Error(`No workflow run "${this.runId}" to resume`);
        const run: WorkflowRun = {
          runId: this.runId,
          workflow: this.definition.name,
          status: 'running',
          input,
          steps: {},
          compensated: [],
          owner: this.owner,
          leaseExpiresAt: now + leaseMs,
          updatedAt: now,
        };
        const version = await store.save(run, 0);
        if (version === undefined) continue;
        [this.run, this.version] = [run, version];
        return;
      }
      const { run, version } = loaded;
      if (run.status === 'completed' || run.status === 'compensated') {
        [this.run, this.version] = [run, version];
        return;
      }
      if (run.owner !== undefined && run.owner !== this.owner && (run.leaseExpiresAt ?? 0) > now) {
        throw new WorkflowLeaseHeldError(this.runId, (run.leaseExpiresAt ?? now) - now);
      }
      const taken: WorkflowRun = { ...run, owner: this.owner, leaseExpiresAt: now + leaseMs, updatedAt: now };
      const next = await store.save(taken, version);
      if (next === undefined) continue;
      [this.run, this.version] = [taken, next];
      this.resumed = true;
      return;
    }
  }

  private renewLease(): void {
    const interval = this.settings.leaseMs / 3;
    this.renewal = this.settings.clock.setTimeout(() => {
      this.save(() => ({})).then(
        () => this.renewLease(),
        () => {},
      );
    }, interval);
    (this.renewal as { unref?: () => void })?.unref?.();
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
      this.settings.clock.clearTimeout(this.renewal);
      if (this.span !== undefined) endSpan(this.span);
    }
  }

  private async drive(input: I | undefined, mode: 'run' | 'resume' | 'compensate'): Promise<O> {
    await this.claim(input, mode === 'run');
    const run = this.run;
    if (run.status === 'completed') return run.result as O;
    if (run.status === 'compensated') throw new WorkflowFailedError(this.runId, run.status, run.error);
    this.renewLease();
    if (run.status === 'compensating' || mode === 'compensate') {
      await this.replayRegistrations();
      return this.giveUp(run.error);
    }
    if (run.status === 'failed') await this.save(() => ({ status: 'running', error: undefined }));
    let result: O;
    try {
      result = await this.definition.body(this.contextFor(), run.input as I);
    } catch (error) {
      if (error instanceof WorkflowLeaseLostError) throw error;
      const failure = stored(error, this.failedStep);
      if (this.settings.onFailure === 'keep') {
        await this.save(() => ({ status: 'failed', error: failure }), true);
        throw new WorkflowFailedError(this.runId, 'failed', error);
      }
      return this.giveUp(failure, error);
    }
    await this.save(() => ({ status: 'completed', result }), true);
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
    if (this.seen.has(id)) throw new TypeError(`Workflow "${this.definition.name}" calls step "${id}" twice in one run`);
    this.seen.add(id);
    const done = this.run.steps[id];
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
        (ctx) => fn({ idempotencyKey: `${this.runId}:${id}`, signal: ctx.signal, attempt: ctx.attempt }),
        { operation: `${this.definition.name}.${id}` },
      );
    } catch (error) {
      this.failedStep = id;
      throw error;
    }
    if (compensation) compensation.output = output;
    await this.save((run) => ({ steps: { ...run.steps, [id]: { output } } }));
    this.report({ type: 'workflow-checkpoint', workflow: this.definition.name, step: id });
    return output;
  }

  /** Compensates in reverse order, skipping what a previous execution compensated, then ends the run. */
  private async giveUp(failure: StoredError | undefined, cause: unknown = failure): Promise<never> {
    await this.save(() => ({ status: 'compensating', error: failure }));
    const errors: unknown[] = [];
    for (const entry of [...this.compensations].reverse()) {
      if (this.run.compensated.includes(entry.step)) continue;
      const span = startSpan(`workflow ${this.definition.name} compensate ${entry.step}`, {
        [names.ATTR_WORKFLOW_STEP]: entry.step,
      });
      try {
        const active = span === undefined ? context.active() : trace.setSpan(context.active(), span);
        await context.with(active, () => entry.compensate(entry.output));
        await this.save((run) => ({ compensated: [...run.compensated, entry.step] }));
        this.report({ type: 'workflow-compensation', workflow: this.definition.name, step: entry.step, outcome: 'completed' });
      } catch (error) {
        if (error instanceof WorkflowLeaseLostError) throw error;
        if (span !== undefined) recordFailure(span, error, errorTypeOf(error));
        errors.push(error);
        this.report({ type: 'workflow-compensation', workflow: this.definition.name, step: entry.step, outcome: 'failed' });
      } finally {
        if (span !== undefined) endSpan(span);
      }
    }
    const status = errors.length === 0 ? 'compensated' : 'failed';
    await this.save(() => ({ status, compensationErrors: errors.map((e) => stored(e)) }), true);
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
   * @throws WorkflowFailedError when the run gives up; WorkflowLeaseHeldError when another process owns it
   */
  run(runId: string, input: I): Promise<O> {
    return new Execution(this, runId).execute(input, 'run');
  }

  /**
   * Continues an existing run: completed steps return their checkpoints, the interrupted
   * or failed step runs again from its start; an interrupted compensation continues.
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

  /** The stored state of a run, for a person to inspect. */
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
