import type { StoredRun, WorkflowRun, WorkflowStore } from '../workflow/workflow-store.js';
import { type RedisClient, RedisScript, type RedisStoreOptions, redisStoreSettings, sendCommand } from './redis-client.js';

/** ARGV: expected version, run JSON → the new version, or nil on a conflict. */
const SAVE = new RedisScript(`
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version ~= tonumber(ARGV[1]) then return false end
redis.call('HSET', KEYS[1], 'version', version + 1, 'run', ARGV[2])
return version + 1`);

/**
 * A {@link WorkflowStore} in Redis, for workers on many machines: one hash per run
 * (`keyPrefix` + run id: its version and the run as JSON), saved by a Lua
 * compare-and-set, so two workers never both advance a run. Runs are kept until you
 * delete them. Redis errors and timeouts reject the load or save.
 *
 * @throws TypeError naming the option, for invalid options
 */
export class RedisWorkflowStore implements WorkflowStore {
  private readonly client: RedisClient;
  private readonly prefix: string;
  private readonly timeoutMs: number;

  constructor(options: RedisStoreOptions) {
    const settings = redisStoreSettings(options, 'otel-resilience:workflow:');
    this.client = settings.client;
    this.prefix = settings.keyPrefix;
    this.timeoutMs = settings.commandTimeoutMs;
  }

  async load(runId: string): Promise<StoredRun | undefined> {
    const reply = await sendCommand(this.client, ['HMGET', this.prefix + runId, 'version', 'run'], this.timeoutMs);
    const [version, run] = reply as [string | null, string | null];
    if (version === null || run === null) return undefined;
    return { run: JSON.parse(run) as WorkflowRun, version: Number(version) };
  }

  async save(run: WorkflowRun, expectedVersion: number): Promise<number | undefined> {
    const reply = await SAVE.run(this.client, this.prefix + run.runId, [String(expectedVersion), JSON.stringify(run)], this.timeoutMs);
    return typeof reply === 'number' ? reply : undefined;
  }
}
