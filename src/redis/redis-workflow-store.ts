import { numberOption } from '../policies/validate.js';
import { CorruptRecordError, sha256 as checksum } from '../stores/corrupt-record-error.js';
import {
  FINISHED_STATUSES,
  type StoredRun,
  storedRunProblem,
  type WorkflowRun,
  type WorkflowStore,
} from '../workflow/workflow-store.js';
import { RedisScript, RedisStore, type RedisStoreOptions } from './redis-client.js';

/**
 * ARGV: (time, unused), expected version, run JSON, its checksum, ms to keep it or '' (for
 * ever) → the new version, or nil on a conflict.
 */
const SAVE = new RedisScript(`
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version ~= tonumber(ARGV[2]) then return false end
redis.call('HSET', KEYS[1], 'version', version + 1, 'run', ARGV[3], 'sum', ARGV[4])
if ARGV[5] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[5]) else redis.call('PERSIST', KEYS[1]) end
return version + 1`);

/** Options of {@link RedisWorkflowStore}. */
export interface RedisWorkflowStoreOptions extends Omit<RedisStoreOptions, 'clock'> {
  /**
   * How long Redis keeps a finished run (`completed`, `failed`, `compensated`) after it
   * finished, in ms (default `Infinity`: until you delete it). Runs not finished
   * (running, stalled, compensating, awaiting a person) are kept however long they take.
   */
  readonly ttlMs?: number;
}

/**
 * A {@link WorkflowStore} in Redis, for workers on many machines: one hash per run
 * (`keyPrefix` + run id: its version, the run as JSON and the JSON's SHA-256), saved by
 * a Lua compare-and-set, so two workers never both advance a run. A run that is not
 * JSON, does not match its checksum (a step's output edited by hand) or has the wrong
 * shape is a `CorruptRecordError` naming the run and the Redis key. Runs are kept until
 * you delete them, or, with `ttlMs`, until `ttlMs` after they finished (Redis expires the
 * key). Redis errors and timeouts reject the load or save.
 *
 * @throws TypeError/RangeError naming the option, for invalid options
 */
export class RedisWorkflowStore extends RedisStore implements WorkflowStore {
  /** ms to keep a finished run, as Redis wants it, or '' (for ever). */
  private readonly finishedTtl: string;

  constructor(options: RedisWorkflowStoreOptions) {
    super(options, 'otel-resilience:workflow:', false, ['ttlMs']);
    const ttlMs = numberOption('ttlMs', options.ttlMs, Infinity, { min: 1, allowInfinity: true });
    this.finishedTtl = ttlMs === Infinity ? '' : String(Math.ceil(ttlMs));
  }

  async load(runId: string): Promise<StoredRun | undefined> {
    const [version, run, sum] = (await this.send('HMGET', runId, ['version', 'run', 'sum'])) as (string | null)[];
    if (version === null && run === null) return undefined;
    const corrupt = (reason: string, cause?: unknown) =>
      new CorruptRecordError(runId, `Redis key ${this.redisKey(runId)}`, reason, cause === undefined ? undefined : { cause });
    if (run === null || run === undefined) throw corrupt('no run');
    if (sum !== checksum(run)) throw corrupt('checksum mismatch (truncated or edited)');
    let parsed: unknown;
    try {
      parsed = JSON.parse(run);
    } catch (error) {
      throw corrupt('not JSON', error);
    }
    const stored = { run: parsed, version: Number(version) };
    const problem = storedRunProblem(stored);
    if (problem !== undefined) throw corrupt(problem);
    return stored as StoredRun;
  }

  /** Every run under the prefix (`SCAN`, then one `HMGET` each). */
  async list(): Promise<WorkflowRun[]> {
    const runs: WorkflowRun[] = [];
    for (const runId of await this.scan()) {
      const stored = await this.load(runId);
      if (stored !== undefined) runs.push(stored.run);
    }
    return runs;
  }

  async save(run: WorkflowRun, expectedVersion: number): Promise<number | undefined> {
    const json = JSON.stringify(run);
    const ttl = FINISHED_STATUSES.includes(run.status) ? this.finishedTtl : '';
    const reply = await this.runScript(SAVE, run.runId, [String(expectedVersion), json, checksum(json), ttl]);
    return typeof reply === 'number' ? reply : undefined;
  }
}
