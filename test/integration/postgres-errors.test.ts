/**
 * PostgreSQL errors as node-postgres reports them from a real server: connection
 * exceptions, serialization failures, deadlocks, terminated backends and too many
 * connections are worth retrying; syntax errors and constraint violations are not.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyError, resilient } from '../../src/index.js';
import { type RunningPostgres, startPostgres } from '../support/postgres.js';

let server: RunningPostgres;
const clients: pg.Client[] = [];

async function client(): Promise<pg.Client> {
  const c = await server.connect();
  clients.push(c);
  return c;
}

const caught = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (e: unknown) => e,
  );

beforeAll(async () => {
  server = await startPostgres({ max_connections: 8, superuser_reserved_connections: 0 });
  const setup = await client();
  await setup.query('CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)');
  await setup.query('INSERT INTO accounts VALUES (1, 100), (2, 100)');
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  await server?.stop();
});

describe('PostgreSQL errors (node-postgres, real server)', () => {
  it('a syntax error and a unique violation are permanent', async () => {
    const c = await client();
    expect(classifyError(await caught(c.query('SELEC 1')))).toMatchObject({ category: 'permanent', code: '42601' });
    expect(classifyError(await caught(c.query('INSERT INTO accounts VALUES (1, 0)')))).toMatchObject({
      category: 'permanent',
      code: '23505',
    });
  });

  it('a serialization failure is transient, and a resilient transaction succeeds on retry', async () => {
    const [a, b] = [await client(), await client()];
    const begin = 'BEGIN ISOLATION LEVEL SERIALIZABLE';
    await a.query(begin);
    await b.query(begin);
    await a.query('SELECT sum(balance) FROM accounts');
    await b.query('SELECT sum(balance) FROM accounts');
    await a.query('UPDATE accounts SET balance = balance - 10 WHERE id = 1');
    await b.query('UPDATE accounts SET balance = balance - 10 WHERE id = 2');
    await a.query('COMMIT');
    const error = await caught(b.query('COMMIT'));
    expect(classifyError(error)).toMatchObject({ category: 'transient', code: '40001' });

    let attempts = 0;
    const transfer = resilient(
      async () => {
        attempts++;
        await b.query(begin);
        try {
          await b.query('SELECT sum(balance) FROM accounts');
          if (attempts === 1) {
            // A concurrent writer commits first, so this attempt cannot be serialized.
            await a.query(begin);
            await a.query('SELECT sum(balance) FROM accounts');
            await a.query('UPDATE accounts SET balance = balance - 10 WHERE id = 1');
            await a.query('COMMIT');
          }
          await b.query('UPDATE accounts SET balance = balance + 10 WHERE id = 2');
          await b.query('COMMIT');
        } catch (e) {
          await b.query('ROLLBACK').catch(() => {});
          throw e;
        }
      },
      { name: 'transfer', retry: { baseDelayMs: 0 } },
    );
    await transfer();
    expect(attempts).toBe(2);
  });

  it('a deadlock is transient', async () => {
    const [a, b] = [await client(), await client()];
    await a.query('BEGIN');
    await b.query('BEGIN');
    await a.query('UPDATE accounts SET balance = balance WHERE id = 1');
    await b.query('UPDATE accounts SET balance = balance WHERE id = 2');
    const results = await Promise.all([
      caught(a.query('UPDATE accounts SET balance = balance WHERE id = 2')),
      caught(b.query('UPDATE accounts SET balance = balance WHERE id = 1')),
    ]);
    const deadlock = results.find((e) => e !== undefined);
    expect(classifyError(deadlock)).toMatchObject({ category: 'transient', code: '40P01' });
    await a.query('ROLLBACK').catch(() => {});
    await b.query('ROLLBACK').catch(() => {});
  });

  it('a terminated backend is transient', async () => {
    const [victim, admin] = [await client(), await client()];
    const { rows } = await victim.query('SELECT pg_backend_pid() AS pid');
    const sleeping = caught(victim.query('SELECT pg_sleep(5)'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await admin.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
    expect(classifyError(await sleeping)).toMatchObject({ category: 'transient', code: '57P01' });
  });

  it('too many connections is a rate limit, and a refused connection is transient', async () => {
    let error: unknown;
    for (let i = 0; i < 12 && error === undefined; i++) error = await caught(client());
    expect(classifyError(error)).toMatchObject({ category: 'rate-limited', code: '53300' });
    const { default: pgModule } = await import('pg');
    const refused = new pgModule.Client({ host: '127.0.0.1', port: 9, user: 'test' });
    expect(classifyError(await caught(refused.connect()))).toMatchObject({ category: 'transient', code: 'ECONNREFUSED' });
  });
});
