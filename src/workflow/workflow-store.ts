import { FileRecords } from '../stores/file-records.js';

/** Status of a workflow run. */
export type RunStatus = 'running' | 'completed' | 'failed' | 'compensating' | 'compensated';

/** An error kept in a run, JSON-serializable. */
export interface StoredError {
  readonly name: string;
  readonly message: string;
  /** The step it came from, if any. */
  readonly step?: string | undefined;
}

/** Everything a store keeps about one workflow run: enough to inspect, resume or compensate it. JSON-serializable. */
export interface WorkflowRun {
  readonly runId: string;
  readonly workflow: string;
  readonly status: RunStatus;
  readonly input: unknown;
  /** Outputs of completed steps, by step id: a resumed run never redoes these. */
  readonly steps: Readonly<Record<string, { readonly output: unknown }>>;
  /** Steps whose compensation has run, so a resumed compensation skips them. */
  readonly compensated: readonly string[];
  readonly result?: unknown;
  readonly error?: StoredError | undefined;
  readonly compensationErrors?: readonly StoredError[];
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
  /** The run and its version, if it exists. */
  load(runId: string): Promise<StoredRun | undefined>;
  /** Writes `run` if its stored version is `expectedVersion` (0: it must not exist yet); returns the new version, or undefined on a conflict. */
  save(run: WorkflowRun, expectedVersion: number): Promise<number | undefined>;
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

/** A {@link WorkflowStore} in this process's memory (the default): runs survive failures, not restarts. */
export class MemoryWorkflowStore implements WorkflowStore {
  private readonly runs = new Map<string, StoredRun>();

  async load(runId: string): Promise<StoredRun | undefined> {
    return this.runs.get(runId);
  }

  async save(run: WorkflowRun, expectedVersion: number): Promise<number | undefined> {
    const [next, version] = casSave(this.runs.get(run.runId), run, expectedVersion);
    if (next !== undefined) this.runs.set(run.runId, next);
    return version;
  }
}

/**
 * A {@link WorkflowStore} in a directory, for processes on one machine: runs survive
 * `kill -9` (atomic renames under per-run locks, {@link FileRecords}).
 */
export class FileWorkflowStore implements WorkflowStore {
  private readonly records: FileRecords<StoredRun>;

  /** @param directory where runs live (created if missing) */
  constructor(directory: string) {
    this.records = new FileRecords(directory);
  }

  load(runId: string): Promise<StoredRun | undefined> {
    return this.records.read(runId);
  }

  save(run: WorkflowRun, expectedVersion: number): Promise<number | undefined> {
    return this.records.update(run.runId, (current) => casSave(current, run, expectedVersion));
  }
}
