import { randomUUID } from 'node:crypto';
import { context, type Span, trace } from '@opentelemetry/api';
import { errorTypeOf } from '../classify/index.js';
import { ResiliencePipeline } from '../pipeline/pipeline.js';
import { endSpan, startSpan } from '../policies/child-span.js';
import { type Clock, systemClock } from '../policies/clock.js';
import type { RetryOptions } from '../policies/retry.js';
import { knownOptions, numberOption, stringOption } from '../policies/validate.js';
import { CorruptRecordError } from '../stores/corrupt-record-error.js';
import { keyOf } from '../stores/keys.js';
import { LeaseKeeper, type LeaseLoss } from '../stores/lease-keeper.js';
import { retryStoreOp } from '../stores/store-retry.js';
import type { ResilienceEvent } from '../telemetry/events.js';
import * as names from '../telemetry/names.js';
import { recordEvent, recordFailure } from '../telemetry/spans.js';
import { WorkflowFailedError, WorkflowLeaseHeldError, WorkflowLeaseLostError, WorkflowStalledError } from './errors.js';
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

/** Progress an execution of this process could not save, per store then run: merged into the run on its next claim here. */
const unsaved = new Map<WorkflowStore, Map<string, Pick<WorkflowRun, 'steps' | 'compensated'>>>();

/** Executions running in this process, per store then run: a second one of the same run waits for the first. */
const running = new Map<WorkflowStore, Map<string, { readonly lease: () => LeaseKeeper | undefined }>>();

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
  /** Writes on the current version whose outcome is unknown (they failed or timed out, and may have taken effect). */
  private unknown: WorkflowRun[] = [];
  private lease: LeaseKeeper | undefined;
  /** Aborted when the lease is lost: the running step's signal follows it. */
  private readonly abort = new AbortController();
  /** Why this execution stopped (stalled, lease lost): no further step runs, nothing more is written. */
  private halted: WorkflowStalledError | WorkflowLeaseLostError | undefined;
  private span: Span | undefined;
  /** Whether this execution is in {@link running}. */
  private registered = false;

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
   * One write of `run` on the current version: `'saved'`; `'conflict'` when another
   * execution wrote; `'adopted'` when an earlier write of this execution whose outcome
   * was unknown (it failed or timed out, and took effect) is found stored instead — the
   * caller then writes its change again on top of it.
   */
  private async saveOnce(run: WorkflowRun): Promise<'saved' | 'conflict' | 'adopted'> {
    let version: number | undefined;
    try {
      version = await this.settings.store.save(run, this.version);
    } catch (error) {
      if (!this.unknown.includes(run)) this.unknown.push(run);
      throw error;
    }
    if (version !== undefined) {
      [this.run, this.version, this.unknown] = [run, version, []];
      return 'saved';
    }
    if (this.unknown.length === 0) return 'conflict';
    const loaded = await this.settings.store.load(this.runId);
    const stored = loaded === undefined ? undefined : JSON.stringify(loaded.run);
    const was = this.unknown.find((w) => JSON.stringify(w) === stored);
    this.unknown = [];
    if (was === undefined || loaded!.version !== this.version + 1) return 'conflict';
    [this.run, this.version] = [was, loaded!.version];
    return was === run ? 'saved' : 'adopted';
  }

  /** Queues `write` behind the writes before it (a run's versions advance one at a time). */
  private serial<T>(write: () => Promise<T>): Promise<T> {
    const next = this.saving.then(write);
    this.saving = next.catch(() => {});
    return next;
  }

  /**
   * Writes `change(run)`, renewing the lease — or, with `release`, giving it up (the
   * run's final write). A failed write is retried with backoff while the lease lasts;
   * when it still fails, the execution stalls ({@link WorkflowStalledError}). A conflict
   * means another execution took the run ({@link WorkflowLeaseLostError}).
   */
  private save(change: (run: WorkflowRun) => Partial<WorkflowRun>, release = false, step?: string): Promise<void> {
    return this.serial(async () => {
      if (this.halted) throw this.halted;
      const { clock, leaseMs } = this.settings;
      // Made once per base run, so that a retried write is recognised when it took effect.
      let base: WorkflowRun | undefined;
      let run!: WorkflowRun;
      const intended = () => {
        if (base !== this.run) {
          base = this.run;
          const now = clock.now();
          const lease = release ? { owner: undefined, leaseExpiresAt: undefined } : { leaseExpiresAt: now + leaseMs };
          run = { ...base, ...change(base), ...lease, updatedAt: now };
        }
        return run;
      };
      try {
        await retryStoreOp(
          async () => {
            for (;;) {
              const outcome = await this.saveOnce(intended());
              if (outcome === 'conflict') throw this.halt(new WorkflowLeaseLostError(this.runId));
              // The lease written runs from when the write was made, not when it got through.
              if (outcome === 'saved') return this.lease?.renewed(intended().updatedAt);
            }
          },
          {
            clock,
            // Gives up a little before the lease runs out, so the stall names the step.
            until: () => (this.lease?.expiresAt ?? clock.now() + leaseMs) - leaseMs / 10,
            isFinal: (error) => error instanceof WorkflowLeaseLostError || error instanceof CorruptRecordError,
          },
        );
      } catch (error) {
        if (error instanceof WorkflowLeaseLostError) throw error;
        throw await this.stall(intended(), step, error);
      }
    });
  }

  /**
   * Stops this execution after a write that could not be made, keeping what it could not
   * save in memory (a later execution here merges it), and tries once to leave the run
   * `stalled` for whoever looks.
   */
  private async stall(intended: WorkflowRun, step: string | undefined, cause: unknown): Promise<WorkflowStalledError> {
    const error = this.halt(new WorkflowStalledError(this.runId, step, cause));
    this.keepUnsaved(intended);
    this.report({ type: 'workflow-stalled', workflow: this.definition.name, step: step ?? '' });
    const compensating = intended.status === 'compensating' || this.run.status === 'compensating';
    const stalled: WorkflowRun = {
      ...intended,
      status: 'stalled',
      stall: { while: compensating ? 'compensating' : 'running', step, error: stored(cause) },
      owner: undefined,
      leaseExpiresAt: undefined,
    };
    await this.settings.store.save(stalled, this.version).then(
      (version) => {
        if (version !== undefined) [this.run, this.version] = [stalled, version];
      },
      () => {},
    );
    return error;
  }

  /** Keeps the steps and compensations of `run` in memory for the next execution of the run in this process. */
  private keepUnsaved(run: WorkflowRun): void {
    let runs = unsaved.get(this.settings.store);
    if (runs === undefined) unsaved.set(this.settings.store, (runs = new Map()));
    runs.set(this.runId, { steps: run.steps, compensated: run.compensated });
  }

  /** Stops the execution for good (the first reason wins) and aborts the running step. */
  private halt<E extends WorkflowStalledError | WorkflowLeaseLostError>(error: E): E {
    if (this.halted === undefined) {
      this.halted = error;
      this.lease?.stop();
      this.abort.abort(error);
    }
    return error;
  }

  /** One renewal of the lease: a write of the run as it is. */
  private touch(): Promise<boolean> {
    return this.serial(async () => {
      if (this.halted) return true;
      const now = this.settings.clock.now();
      return (await this.saveOnce({ ...this.run, leaseExpiresAt: now + this.settings.leaseMs, updatedAt: now })) !== 'conflict';
    });
  }

  /**
   * Loads or creates the run and takes its lease (store errors here are the caller's:
   * nothing ran yet). A run another execution of this process is running is held,
   * whatever its stored lease says: that execution is alive, its writes only delayed.
   */
  private async claim(input: I | undefined, create: boolean): Promise<void> {
    const { store, clock, leaseMs } = this.settings;
    let here = running.get(store);
    const other = here?.get(this.runId);
    if (other !== undefined) {
      throw new WorkflowLeaseHeldError(
        this.runId,
        Math.max(1, (other.lease()?.expiresAt ?? clock.now() + leaseMs) - clock.now()),
      );
    }
    if (here === undefined) running.set(store, (here = new Map()));
    here.set(this.runId, { lease: () => this.lease });
    this.registered = true;
    const retry = { clock, attempts: 3, isFinal: (e: unknown) => e instanceof CorruptRecordError };
    for (;;) {
      const now = clock.now();
      const loaded = await retryStoreOp(() => store.load(this.runId), retry);
      if (loaded === undefined) {
        if (!create) throw new Error(`No workflow run "${this.runId}" to resume`);
        this.version = 0;
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
        if ((await retryStoreOp(() => this.saveOnce(run), retry)) === 'saved') return;
        continue;
      }
      const { run, version } = loaded;
      this.version = version;
      if (run.status === 'completed' || run.status === 'compensated') {
        this.run = run;
        return;
      }
      if (run.owner !== undefined && run.owner !== this.owner && (run.leaseExpiresAt ?? 0) > now) {
        throw new WorkflowLeaseHeldError(this.runId, (run.leaseExpiresAt ?? now) - now);
      }
      const kept = unsaved.get(store)?.get(this.runId);
      const merged = kept && {
        steps: { ...kept.steps, ...run.steps },
        compensated: [...new Set([...run.compensated, ...kept.compensated])],
      };
      const taken: WorkflowRun = { ...run, ...merged, owner: this.owner, leaseExpiresAt: now + leaseMs, updatedAt: now };
      this.run = run;
      if ((await retryStoreOp(() => this.saveOnce(taken), retry)) !== 'saved') continue;
      if (kept !== undefined) unsaved.get(store)?.delete(this.runId);
      this.resumed = true;
      return;
    }
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
      this.lease?.stop();
      if (this.registered) {
        const here = running.get(this.settings.store)!;
        here.delete(this.runId);
        if (here.size === 0) running.delete(this.settings.store);
      }
      if (this.span !== undefined) endSpan(this.span);
    }
  }

  private async drive(input: I | undefined, mode: 'run' | 'resume' | 'compensate'): Promise<O> {
    await this.claim(input, mode === 'run');
    const run = this.run;
    if (run.status === 'completed') return run.result as O;
    if (run.status === 'compensated') throw new WorkflowFailedError(this.runId, run.status, run.error);
    const { leaseMs, clock } = this.settings;
    // A lease another execution took is lost; one that ran out because the store could
    // not be reached is a stall (resumable, nothing undone).
    const lost = (why: LeaseLoss) =>
      this.halt(
        why === 'taken'
          ? new WorkflowLeaseLostError(this.runId)
          : new WorkflowStalledError(
              this.runId,
              undefined,
              new Error(`its lease (${leaseMs} ms) ran out while the store failed`),
            ),
      );
    this.lease = new LeaseKeeper(() => this.touch(), leaseMs, clock, lost).start();
    if (run.status === 'compensating' || run.stall?.while === 'compensating' || mode === 'compensate') {
      if (run.status === 'stalled') await this.save(() => ({ status: 'compensating', stall: undefined }));
      await this.replayRegistrations();
      return this.giveUp(run.error);
    }
    if (run.status !== 'running') await this.save(() => ({ status: 'running', error: undefined, stall: undefined }));
    let result: O;
    try {
      result = await this.definition.body(this.contextFor(), run.input as I);
    } catch (error) {
      if (this.halted) throw this.halted;
      const failure = stored(error, this.failedStep);
      if (this.settings.onFailure === 'keep') {
        await this.save(() => ({ status: 'failed', error: failure }), true);
        throw new WorkflowFailedError(this.runId, 'failed', error);
      }
      return this.giveUp(failure, error);
    }
    if (this.halted) throw this.halted;
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
    if (this.halted) throw this.halted;
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
        { operation: `${this.definition.name}.${id}`, signal: this.abort.signal },
      );
    } catch (error) {
      if (this.halted) throw this.halted;
      this.failedStep = id;
      throw error;
    }
    if (compensation) compensation.output = output;
    // The lease went while the step ran: keep its output for a later execution here.
    if (this.halted) {
      this.keepUnsaved({ ...this.run, steps: { ...this.run.steps, [id]: { output } } });
      throw this.halted;
    }
    await this.save((run) => ({ steps: { ...run.steps, [id]: { output } } }), false, id);
    this.report({ type: 'workflow-checkpoint', workflow: this.definition.name, step: id });
    return output;
  }

  /** Compensates in reverse order, skipping what a previous execution compensated, then ends the run. */
  private async giveUp(failure: StoredError | undefined, cause: unknown = failure): Promise<never> {
    await this.save(() => ({ status: 'compensating', error: failure }));
    const errors: unknown[] = [];
    for (const entry of [...this.compensations].reverse()) {
      if (this.halted) throw this.halted;
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
        if (this.halted) throw this.halted;
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
