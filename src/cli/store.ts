/**
 * Opens the workflow store a CLI command names: `file:<dir>` (a {@link FileWorkflowStore})
 * or `redis://…` / `rediss://…` (a {@link RedisWorkflowStore} over node-redis, loaded
 * only then: `redis` is an optional peer dependency).
 */
import { RedisWorkflowStore } from '../redis/redis-workflow-store.js';
import { FileWorkflowStore, type WorkflowStore } from '../workflow/workflow-store.js';

/** A store and how to let it go. */
export interface OpenStore {
  readonly store: WorkflowStore;
  close(): Promise<void>;
}

/**
 * @param spec `file:<dir>`, `redis://…` or `rediss://…`
 * @param keyPrefix the Redis store's key prefix (default: the store's)
 * @throws TypeError for any other spec; the Redis client's error when it cannot connect
 */
export async function openStore(spec: string, keyPrefix?: string): Promise<OpenStore> {
  if (spec.startsWith('file:')) {
    const directory = spec.slice('file:'.length);
    if (directory === '') throw new TypeError('Invalid --store file: expected file:<directory>');
    return { store: new FileWorkflowStore(directory), close: async () => {} };
  }
  if (spec.startsWith('redis://') || spec.startsWith('rediss://')) {
    let redis: typeof import('redis');
    try {
      redis = await import('redis');
    } catch (error) {
      throw new Error('--store redis://… needs the "redis" package (npm install redis)', { cause: error });
    }
    const client = redis.createClient({ url: spec, socket: { reconnectStrategy: false, connectTimeout: 5000 } });
    client.on('error', () => {}); // a failed command rejects and is reported by the command
    await client.connect();
    return {
      store: new RedisWorkflowStore({ client, ...(keyPrefix === undefined ? {} : { keyPrefix }) }),
      close: async () => {
        await client.close();
      },
    };
  }
  throw new TypeError(`Invalid --store ${JSON.stringify(spec)}: expected file:<directory> or redis://host:port`);
}
