/**
 * Starts a throwaway Redis server on a free loopback port (no persistence). Throws if it
 * cannot: tests that need it fail, they never skip. For outage tests the server can be
 * stalled (SIGSTOP) and continued, killed (SIGKILL) and restarted on the same port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createClient } from 'redis';
import { afterAll, beforeAll } from 'vitest';
import { freePort, waitForServer } from './hooks.js';

/** A connected node-redis client as `createClient()` makes it (RESP3, no modules). */
const newClient = (port: number) => createClient({ socket: { host: '127.0.0.1', port, reconnectStrategy: false } });
export type Client = ReturnType<typeof newClient>;

export interface RunningRedis {
  readonly port: number;
  /** A connected client; closed by `stop()`. */
  connect(): Promise<Client>;
  /** Freezes the server (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void;
  /** Lets a frozen server go on (SIGCONT). */
  resume(): void;
  /** Kills the server (SIGKILL) and waits for it to exit: its data is gone. */
  kill(): Promise<void>;
  /** Starts a new, empty server on the same port (after `kill`). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RunningRedis> {
  const running = await spawnRedis(await freePort());
  const clients: Client[] = [];
  let server = running;
  return {
    port: running.port,
    async connect() {
      const client = newClient(running.port);
      client.on('error', () => {}); // failures are asserted on the commands
      await client.connect();
      clients.push(client);
      return client;
    },
    pause: () => server.child.kill('SIGSTOP'),
    resume: () => server.child.kill('SIGCONT'),
    async kill() {
      if (server.child.exitCode !== null || server.child.signalCode !== null) return;
      const exited = once(server.child, 'exit');
      server.child.kill('SIGKILL');
      await exited;
    },
    async restart() {
      server = await spawnRedis(running.port);
    },
    async stop() {
      await Promise.all(clients.map((c) => (c.isOpen ? c.close() : undefined)));
      server.child.kill('SIGCONT');
      await server.stop();
    },
  };
}

async function spawnRedis(port: number): Promise<{ port: number; child: ChildProcess; stop: () => Promise<void> }> {
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
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
  };
  const ping = async () => {
    const client = newClient(port);
    client.on('error', () => {});
    await client.connect();
    try {
      await client.ping();
    } finally {
      await client.close();
    }
  };
  await waitForServer('redis-server', { child, log: () => log, stop }, ping, 10_000);
  return { port, child, stop };
}

/**
 * A Redis server (and one connected client) for every test of the calling file: started
 * before them, stopped after them. Read them through the getters, once the tests run.
 */
export function useRedis(): { readonly server: RunningRedis; readonly client: Client } {
  let server: RunningRedis | undefined;
  let client: Client | undefined;
  beforeAll(async () => {
    server = await startRedis();
    client = await server.connect();
  }, 20_000);
  afterAll(() => server?.stop());
  return {
    get server() {
      return server!;
    },
    get client() {
      return client!;
    },
  };
}
