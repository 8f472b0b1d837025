import { randomUUID } from 'node:crypto';
import type { Clock } from '../policies/clock.js';
import { CorruptRecordError } from '../stores/corrupt-record-error.js';
import { LeaseKeeper, type LeaseLoss } from '../stores/lease-keeper.js';
import { retryStoreOp } from '../stores/store-retry.js';
import type { ResilienceEvent } from '../telemetry/events.js';
import { WorkflowLeaseHeldError, WorkflowLeaseLostError, WorkflowStalledError } from './errors.js';
import type { StoredError, WorkflowRun, WorkflowStore } from './workflow-store.js';

/** Progress an execution of this process could not save, per store then run: merged into the run on its next claim here. */
const unsaved = new Map<WorkflowStore, Map<string, Pick<WorkflowRun, 'steps' | 'compensated'>>>();

/** Executions running in this process, per store then run: a second one of the same run waits for the first. */
const running = new Map<WorkflowStore, Map<string, { readonly lease: () => LeaseKeeper | undefined }>>();

/** An error kept in a run: its name, message and the step it came from. */
export function stored(error: unknown, step?: string): StoredError {
  return error instanceof Error
    ? { name: error.name, message: error.message, step }
    : { name: 'Error', message: String(error), step };
}

/**
 * What one execution of a run writes, and the rules it writes by (shared/DESIGN.md,
 * "Faults in our own machinery"): it claims the run and keeps its lease (through failed
 * renewals, until it has really expired); every write is a compare-and-set, retried
 * with backoff while the lease lasts, and a write whose outcome was unknown is
 * recognised when it took effect; when progress cannot be saved, the execution halts
 * as stalled, keeping what it could not save in memory for the next execution here;
 * when another execution took the run, it halts as lost. Halting aborts `signal`.
 */
export class RunWriter {
  private readonly owner = randomUUID();
  private version = 0;
  /** The run as last written (or loaded). */
  run!: WorkflowRun;
  private saving: Promise<unknown> = Promise.resolve();
  /** Writes on the current version whose outcome is unknown (they failed or timed out, and may have taken effect). */
  private unknown: WorkflowRun[] = [];
  private lease: LeaseKeeper | undefined;
  /** Aborted when the execution halts: the running step's signal follows it. */
  private readonly abort = new AbortController();
  /** Why the execution stopped (stalled, lease lost): no further step runs, nothing more is written. */
  halted: WorkflowStalledError | WorkflowLeaseLostError | undefined;
  /** The span of the execution that claimed the run before this one (a resumed run links to it). */
  previousTrace: WorkflowRun['trace'];
  /** Whether this execution is in {@link running}. */
  private registered = false;

  constructor(
    private readonly store: WorkflowStore,
    private readonly runId: string,
    private readonly workflow: string,
    private readonly settings: { readonly leaseMs: number; readonly clock: Clock },
    private readonly report: (event: ResilienceEvent) => void,
  ) {}

  /** Aborts when the execution halts. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** Starts keeping the lease. A lease another execution took is lost; one that ran out because the store could not be reached is a stall. */
  keepLease(): void {
    const { leaseMs, clock } = this.settings;
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
  }

  /** Stops keeping the lease and leaves the runs of this process. */
  close(): void {
    this.lease?.stop();
    if (this.registered) {
      const here = running.get(this.store)!;
      here.delete(this.runId);
      if (here.size === 0) running.delete(this.store);
    }
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
      version = await this.store.save(run, this.version);
    } catch (error) {
      if (!this.unknown.includes(run)) this.unknown.push(run);
      throw error;
    }
    if (version !== undefined) {
      [this.run, this.version, this.unknown] = [run, version, []];
      return 'saved';
    }
    if (this.unknown.length === 0) return 'conflict';
    const loaded = await this.store.load(this.runId);
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
  save(change: (run: WorkflowRun) => Partial<WorkflowRun>, release = false, step?: string): Promise<void> {
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
    this.report({ type: 'workflow-stalled', workflow: this.workflow, step: step ?? '' });
    const compensating = intended.status === 'compensating' || this.run.status === 'compensating';
    const stalled: WorkflowRun = {
      ...intended,
      status: 'stalled',
      stall: { while: compensating ? 'compensating' : 'running', step, error: stored(cause) },
      owner: undefined,
      leaseExpiresAt: undefined,
    };
    await this.store.save(stalled, this.version).then(
      (version) => {
        if (version !== undefined) [this.run, this.version] = [stalled, version];
      },
      () => {},
    );
    return error;
  }

  /** Keeps the steps and compensations of `run` in memory for the next execution of the run in this process. */
  keepUnsaved(run: WorkflowRun): void {
    let runs = unsaved.get(this.store);
    if (runs === undefined) unsaved.set(this.store, (runs = new Map()));
    runs.set(this.runId, { steps: run.steps, compensated: run.compensated });
  }

  /** Stops the execution for good (the first reason wins) and aborts the running step. */
  halt<E extends WorkflowStalledError | WorkflowLeaseLostError>(error: E): E {
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
   * nothing ran yet); true when it took over an existing run. `trace` (this execution's
   * span) is written into the run; the one it replaces is kept as `previousTrace`. A run another execution of this process is running is held,
   * whatever its stored lease says: that execution is alive, its writes only delayed.
   */
  async claim(input: unknown, create: boolean, trace?: WorkflowRun['trace']): Promise<boolean> {
    const { clock, leaseMs } = this.settings;
    const store = this.store;
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
          workflow: this.workflow,
          status: 'running',
          input,
          steps: {},
          compensated: [],
          trace,
          startedAt: now,
          owner: this.owner,
          leaseExpiresAt: now + leaseMs,
          updatedAt: now,
        };
        if ((await retryStoreOp(() => this.saveOnce(run), retry)) === 'saved') return false;
        continue;
      }
      const { run, version } = loaded;
      this.version = version;
      if (run.status === 'completed' || run.status === 'compensated') {
        this.run = run;
        return false;
      }
      if (run.owner !== undefined && run.owner !== this.owner && (run.leaseExpiresAt ?? 0) > now) {
        throw new WorkflowLeaseHeldError(this.runId, (run.leaseExpiresAt ?? now) - now);
      }
      const kept = unsaved.get(store)?.get(this.runId);
      const merged = kept && {
        steps: { ...kept.steps, ...run.steps },
        compensated: [...new Set([...run.compensated, ...kept.compensated])],
      };
      this.previousTrace = run.trace;
      const taken: WorkflowRun = {
        ...run,
        ...merged,
        ...(trace === undefined ? {} : { trace }),
        owner: this.owner,
        leaseExpiresAt: now + leaseMs,
        updatedAt: now,
      };
      this.run = run;
      if ((await retryStoreOp(() => this.saveOnce(taken), retry)) !== 'saved') continue;
      if (kept !== undefined) unsaved.get(store)?.delete(this.runId);
      return true;
    }
  }
}
