import type { StoredRun, WorkflowRun, WorkflowStore } from '../workflow/workflow-store.js';
import { RedisScript, RedisStore, type RedisStoreOptions } from './redis-client.js';

/** ARGV: (time, unused), expected version, run JSON → the new version, or nil on a conflict. */
const SAVE = new RedisScript(`
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version ~= tonumber(ARGV[2]) then return false end
redis.call('HSET', KEYS[1], 'version', version + 1, 'run', ARGV[3])
return version + 1`);

/**
 * A {@link WorkflowStore} in Redis, for workers on many machines: one hash per run
 * (`keyPrefix` + run id: its version and the run as JSON), saved by a Lua
 * compare-and-set, so two workers never both advance a run. Runs are kept until you
 * delete them. Redis errors and timeouts reject the load or save.
 *
 * @throws TypeError naming the option, for invalid options
 */
export class RedisWorkflowStore extends RedisStore implements WorkflowStore {
  constructor(options: Omit<RedisStoreOptions, 'clock'>) {
    super(options, 'otel-resilience:workflow:', false);
  }

  async load(runId: string): Promise<StoredRun | undefined> {
    const [version, run] = (await this.send('HMGET', runId, ['version', 'run'])) as [string | null, string | null];
    if (version === null || run === null) return undefined;
    return { run: JSON.parse(run) as WorkflowRun, version: Number(version) };
  }

  async save(run: WorkflowRun, expectedVersion: number): Promise<number | undefined> {
    const reply = await this.runScript(SAVE, run.runId, [String(expectedVersion), JSON.stringify(run)]);
    return typeof reply === 'number' ? reply : undefined;
  }
}
