import { type Clock, systemClock } from '../policies/clock.js';
import { numberOption } from '../policies/validate.js';
import { isObject } from '../stores/corrupt-record-error.js';
import { FileRecords } from '../stores/file-records.js';
import type { AuditEntry, HumanTask } from './human.js';

/**
 * Status of a workflow run:
 * - `running`: owned by an execution (or left by one that died: resumable once its lease ran out);
 * - `stalled`: an execution could not save its progress (the store failed after a step's
 *   effect); nothing was undone, `resume` continues it (`stall` says from where);
 * - `completed`, with `result`;
 * - `failed`: a step failed for good and the run was kept (`onFailure: 'keep'`) or some
 *   compensations failed (`compensationErrors`);
 * - `compensating` (interrupted compensations continue on `resume`), `compensated`;
 * - `awaiting_human`: handed off to a person (a step failed for good with
 *   `onFailure: 'hand-off'`) or waiting for an approval (`ctx.requestApproval`); `awaiting`
 *   names the task in `human`. A decision (`decide`), then `resume`, continues it.
 *
 * The set is open: statuses may be added (a run waiting for a person, say), so code
 * reading runs should treat one it does not know as "not finished".
 */
export type RunStatus = 'running' | 'stalled' | 'completed' | 'failed' | 'compensating' | 'compensated' | 'awaiting_human';

/** Statuses of a run nobody works on any more (memory stores forget them after `ttlMs`). */
export const FINISHED_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'compensated'];
const STATUSES: readonly string[] = ['running', 'stalled', ...FINISHED_STATUSES, 'compensating', 'awaiting_human'];

/** An error kept in a run, JSON-serializable. */
export interface StoredError {
  readonly name: string;
  readonly message: string;
  /** The step it came from, if any. */
  readonly step?: string | undefined;
}

/** Where a span is: enough to link to it from another trace or process. */
export interface SpanRef {
  readonly traceId: string;
  readonly spanId: string;
}

/** Everything a store keeps about one workflow run: enough to inspect, resume or compensate it. JSON-serializable. */
export interface WorkflowRun {
  readonly runId: string;
  readonly workflow: string;
  readonly status: RunStatus;
  readonly input: unknown;
  /**
   * Outputs of completed steps, by step id: a resumed run never redoes these. `span` is the
   * span in which the step's effect succeeded; its compensation's span links to it.
   */
  readonly steps: Readonly<Record<string, { readonly output: unknown; readonly span?: SpanRef }>>;
  /** Steps whose compensation has run, so a resumed compensation skips them. */
  readonly compensated: readonly string[];
  readonly result?: unknown;
  readonly error?: StoredError | undefined;
  readonly compensationErrors?: readonly StoredError[];
  /** Of a `stalled` run: what it was doing, the step whose checkpoint could not be saved, and the store's error. */
  readonly stall?:
    | { readonly while: 'running' | 'compensating'; readonly step?: string; readonly error: StoredError }
    | undefined;
  /** What people were asked (hand-offs, approvals) and what they decided, by task id. */
  readonly human?: Readonly<Record<string, HumanTask>>;
  /** Of an `awaiting_human` run: the id of the task in `human` it waits on. */
  readonly awaiting?: string | undefined;
  /** Append-only trail of hand-offs, notifications, decisions, resumes and compensations, oldest first. */
  readonly audit?: readonly AuditEntry[];
  /** When the run was created, in ms since epoch. */
  readonly startedAt?: number;
  /** The span of the execution that last claimed the run (a resumed run's span links to it). */
  readonly trace?: SpanRef | undefined;
  /** The execution holding the run, and until when (ms since epoch). */
  readonly owner?: string | undefined;
  readonly leaseExpiresAt?: number | undefined;
  readonly updatedAt: number;
}

/** A run as loaded, with the version a save must match. */
export interface StoredRun {
  readonly run: WorkflowRun;
  readonly version: number;
}

/**
 * Where workflow runs live. `save` is a compare-and-set on the version, so two
 * processes never both advance a run; `test/support/workflow-store-conformance.ts` is
 * the suite every store must pass.
 */
export interface WorkflowStore {
  /**
   * The run and its version, if it exists.
   * @throws CorruptRecordError when the stored run is unreadable (truncated, edited, wrong shape)
   */
  load(runId: string): Promise<StoredRun | undefined>;
  /** Writes `run` if its stored version is `expectedVersion` (0: it must not exist yet); returns the new version, or undefined on a conflict. */
  save(run: WorkflowRun, expectedVersion: number): Promise<number | undefined>;
  /**
   * Every stored run (for `listRuns` and the CLI; optional: a store without it cannot be
   * listed). Order unspecified.
   * @throws CorruptRecordError when a stored run is unreadable
   */
  list?(): Promise<WorkflowRun[]>;
}

/** Applies a compare-and-set save to the stored value. */
function casSave(
  current: StoredRun | undefined,
  run: WorkflowRun,
  expectedVersion: number,
): [StoredRun | undefined, number | undefined] {
  if ((current?.version ?? 0) !== expectedVersion) return [undefined, undefined];
  const version = expectedVersion + 1;
  return [{ run, version }, version];
}

/**
 * What is wrong with `value` as a {@link StoredRun}, or undefined when it is one: the
 * check every store that reads runs back runs.
 */
export function storedRunProblem(value: unknown): string | undefined {
  if (!isObject(value))
    return `expected a stored run, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`;
  if (!Number.isInteger(value.version) || (value.version as number) < 1) return 'no version';
  const run = value.run;
  if (!isObject(run)) return 'no run';
  if (typeof run.runId !== 'string' || typeof run.workflow !== 'string') return 'no run id or workflow name';
  if (!STATUSES.includes(run.status as string)) return `unknown status ${JSON.stringify(run.status)}`;
  if (!isObject(run.steps)) return 'steps is not an object';
  for (const [id, step] of Object.entries(run.steps)) {
    // An output of undefined is stored as a step without one.
    if (!isObject(step)) return `step ${JSON.stringify(id)} is not a checkpoint`;
  }
  if (!Array.isArray(run.compensated) || run.compensated.some((s) => typeof s !== 'string'))
    return 'compensated is not a list of steps';
  if (typeof run.updatedAt !== 'number') return 'no updatedAt';
  if (run.human !== undefined && !isObject(run.human)) return 'human is not an object';
  if (run.audit !== undefined && !Array.isArray(run.audit)) return 'audit is not a list';
  if (run.status === 'awaiting_human' && !(isObject(run.human) && Object.hasOwn(run.human, run.awaiting as string)))
    return 'awaiting_human without the task it awaits';
  if (run.owner !== undefined && typeof run.owner !== 'string') return 'owner is not a string';
  if (run.leaseExpiresAt !== undefined && typeof run.leaseExpiresAt !== 'number') return 'lease is not a number';
  return undefined;
}

/**
 * A {@link WorkflowStore} in this process's memory (the default): runs survive failures,
 * not restarts. Finished runs (`completed`, `failed`, `compensated`) are forgotten
 * `ttlMs` after they finished, so memory stays bounded; running the same run id after
 * that starts it afresh.
 */
export class MemoryWorkflowStore implements WorkflowStore {
  private readonly runs = new Map<string, StoredRun>();
  /** Finished runs by when they are forgotten, oldest first (one ttl for all: finishing order is expiry order). */
  private readonly finished = new Map<string, number>();
  private readonly ttlMs: number;
  private readonly clock: Clock;

  /**
   * @param options.ttlMs how long a finished run is kept, in ms (default 24 h)
   * @param options.clock time source for the ttl (default: the system clock)
   * @throws RangeError naming the option, for a bad ttlMs
   */
  constructor(options: { ttlMs?: number; clock?: Clock } = {}) {
    this.ttlMs = numberOption('MemoryWorkflowStore.ttlMs', options.ttlMs, 24 * 60 * 60 * 1000, { min: 1 });
    this.clock = options.clock ?? systemClock;
  }

  /** How many runs are held. */
  get size(): number {
    return this.runs.size;
  }

  async load(runId: string): Promise<StoredRun | undefined> {
    this.sweep();
    return this.runs.get(runId);
  }

  async save(run: WorkflowRun, expectedVersion: number): Promise<number | undefined> {
    this.sweep();
    const [next, version] = casSave(this.runs.get(run.runId), run, expectedVersion);
    if (next !== undefined) {
      this.runs.set(run.runId, next);
      this.finished.delete(run.runId);
      if (FINISHED_STATUSES.includes(run.status)) this.finished.set(run.runId, this.clock.now() + this.ttlMs);
    }
    return version;
  }

  async list(): Promise<WorkflowRun[]> {
    this.sweep();
    return [...this.runs.values()].map((stored) => stored.run);
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [runId, expiresAt] of this.finished) {
      if (expiresAt > now) return;
      this.finished.delete(runId);
      this.runs.delete(runId);
    }
  }
}

/**
 * A {@link WorkflowStore} in a directory, for processes on one machine: runs survive
 * `kill -9` (atomic renames under per-run locks that a dead holder does not keep,
 * {@link FileRecords}). Each file carries a checksum: a truncated, edited (a step's
 * output changed by hand) or malformed run is a `CorruptRecordError` naming the run
 * and the file. Owner-only permissions. Runs are kept until you delete them, or, with
 * `ttlMs`, until `ttlMs` after they finished: an expired run reads as absent, and its
 * file is deleted when it is read or listed.
 */
export class FileWorkflowStore implements WorkflowStore {
  private readonly records: FileRecords<StoredRun>;
  private readonly ttlMs: number;
  private readonly clock: Clock;

  /**
   * @param directory where runs live (created if missing)
   * @param options.ttlMs how long a finished run (`completed`, `failed`, `compensated`) is
   *   kept after it finished, in ms (default `Infinity`: until you delete it), counted from
   *   its `updatedAt`
   * @param options.clock time source for the ttl (default: the system clock); the clock
   *   of the workflows that write the runs (their `updatedAt`), when they have their own
   * @throws RangeError naming the option, for a bad ttlMs
   */
  constructor(directory: string, options: { ttlMs?: number; clock?: Clock } = {}) {
    this.records = new FileRecords(directory, storedRunProblem);
    this.ttlMs = numberOption('FileWorkflowStore.ttlMs', options.ttlMs, Infinity, { min: 1, allowInfinity: true });
    this.clock = options.clock ?? systemClock;
  }

  async load(runId: string): Promise<StoredRun | undefined> {
    const stored = await this.records.read(runId);
    if (stored === undefined || !this.expired(stored)) return stored;
    await this.forget(runId);
    return undefined;
  }

  save(run: WorkflowRun, expectedVersion: number): Promise<number | undefined> {
    return this.records.update(run.runId, (current) =>
      casSave(current === undefined || this.expired(current) ? undefined : current, run, expectedVersion),
    );
  }

  async list(): Promise<WorkflowRun[]> {
    const runs: WorkflowRun[] = [];
    for (const stored of await this.records.list()) {
      if (this.expired(stored)) await this.forget(stored.run.runId);
      else runs.push(stored.run);
    }
    return runs;
  }

  /** Whether `stored` finished more than `ttlMs` ago (its last save, the one that finished it). */
  private expired(stored: StoredRun): boolean {
    return FINISHED_STATUSES.includes(stored.run.status) && stored.run.updatedAt + this.ttlMs <= this.clock.now();
  }

  /** Deletes the run's file if it is still expired (under its lock: a run saved anew meanwhile stays). */
  private forget(runId: string): Promise<void> {
    return this.records.update(runId, (current) => [
      current !== undefined && this.expired(current) ? null : undefined,
      undefined,
    ]);
  }
}
