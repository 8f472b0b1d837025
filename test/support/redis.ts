/**
 * Starts a throwaway Redis server on a free loopback port (no persistence). Throws if it
 * cannot: tests that need it fail, they never skip.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createClient } from 'redis';
import { freePort, waitForServer } from './hooks.js';

/** A connected node-redis client as `createClient()` makes it (RESP3, no modules). */
const newClient = (port: number) => createClient({ socket: { host: '127.0.0.1', port, reconnectStrategy: false } });
export type Client = ReturnType<typeof newClient>;

export interface RunningRedis {
  readonly port: number;
  /** A connected client; closed by `stop()`. */
  connect(): Promise<Client>;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RunningRedis> {
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--enable-debug-command',
    'local',
  ];
  let child: ChildProcess;
  try {
    child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    await once(child, 'spawn');
  } catch (error) {
    throw new Error('Redis is not installed: run scripts/system-deps.sh', { cause: error });
  }
  let log = '';
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const clients: Client[] = [];
  const connect = async () => {
    const client = newClient(port);
    client.on('error', () => {}); // failures are asserted on the commands
    await client.connect();
    clients.push(client);
    return client;
  };
  const stop = async () => {
    await Promise.all(clients.map((c) => (c.isOpen ? c.close() : undefined)));
    if (child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
  };
  await waitForServer('redis-server', { child, log: () => log, stop }, async () => (await connect()).ping(), 10_000);
  return { port, connect, stop };
}
