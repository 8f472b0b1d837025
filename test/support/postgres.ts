/**
 * Starts a throwaway PostgreSQL server on a free loopback port (initdb into a temporary
 * directory, trust auth, as the `postgres` user when run as root). Throws if it cannot:
 * tests that need it fail, they never skip.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, globSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, waitForServer } from './hooks.js';

export interface RunningPostgres {
  readonly port: number;
  /** A connected client (`user` test, database postgres). */
  connect(): Promise<pg.Client>;
  stop(): Promise<void>;
}

export async function startPostgres(settings: Record<string, string | number> = {}): Promise<RunningPostgres> {
  const bin = globSync('/usr/lib/postgresql/*/bin').sort().at(-1);
  if (bin === undefined) throw new Error('PostgreSQL is not installed: run scripts/system-deps.sh');
  const root = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'otel-resilience-pg-'));
  if (root)
    chownSync(
      dir,
      Number(execFileSync('id', ['-u', 'postgres']).toString()),
      Number(execFileSync('id', ['-g', 'postgres']).toString()),
    );
  const asPostgres = (cmd: string, args: string[]): [string, string[]] =>
    root ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  const data = join(dir, 'data');
  execFileSync(...asPostgres(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'test', '--no-sync']), { stdio: 'ignore' });
  const port = await freePort();
  const options = Object.entries({
    listen_addresses: '127.0.0.1',
    port,
    unix_socket_directories: dir,
    fsync: 'off',
    ...settings,
  }).flatMap(([key, value]) => ['-c', `${key}=${value}`]);
  const child: ChildProcess = spawn(...asPostgres(join(bin, 'postgres'), ['-D', data, ...options]), {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  const connect = async () => {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'test', database: 'postgres' });
    client.on('error', () => {}); // errors of a terminated connection are asserted on the query
    await client.connect();
    return client;
  };
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = once(child, 'exit');
      // runuser does not pass signals on; pg_ctl tells the server itself to shut down fast.
      execFileSync(...asPostgres(join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'fast', '-w']), { stdio: 'ignore' });
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  await waitForServer('PostgreSQL', { child, log: () => log, stop }, async () => (await connect()).end(), 30_000);
  return { port, connect, stop };
}
