/**
 * `otel-resilience runs …` run as a process (the built bin) against the file and Redis
 * stores: the financial-report example hands off when the email fails for good (its
 * webhook notifier posting to a real HTTP server on 127.0.0.1), the CLI lists and shows
 * the incident with its trace link, approves a corrected recipient, resumes the run in
 * its own process, and prints the audit trail; on Redis, an approval is rejected and
 * the resumed run compensates.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';

const root = mkdtempSync(join(tmpdir(), 'otel-resilience-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const built = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const bin = built('dist/cli/bin.js');
const reportMain = built('build/examples/workflows/financial-report.js');
const reportModule = built('build/examples/workflows/financial-report-workflow.js');
const payoutModule = fileURLToPath(new URL('../faults/approval-worker.mjs', import.meta.url));

/** Runs node with `args`; resolves with its exit code and output (never rejects on a non-zero exit). */
async function node(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, args, {
      timeout: 60_000,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw error;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
const cli = (args: string[], env?: Record<string, string>) => node([bin, ...args], env);

/** An HTTP server on 127.0.0.1 that records the JSON bodies posted to it. */
async function webhookServer(): Promise<{ url: string; bodies: unknown[]; close(): Promise<void> }> {
  const bodies: unknown[] = [];
  const read = async (req: IncomingMessage) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    return JSON.parse(text) as unknown;
  };
  const server = createServer((req, res) => {
    read(req).then(
      (body) => {
        bodies.push(body);
        res.writeHead(204).end();
      },
      () => res.writeHead(400).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/hooks/hand-off`, bodies, close: () => new Promise((r) => server.close(() => r())) };
}

describe('otel-resilience runs (CLI) on the file store', () => {
  it('hand-off → list → show the incident → approve a corrected recipient → resume → the audit trail', async () => {
    const dir = join(root, 'report');
    const store = `file:${join(dir, 'runs')}`;
    const hook = await webhookServer();
    try {
      const first = await node([reportMain, 'run', 'acme-q3', '--dir', dir, '--to', 'cfo@acme.invalid'], {
        REPORT_WEBHOOK: hook.url,
      });
      expect(first.code).toBe(0);
      expect(first.stdout).toContain('handed off at step "send-email"');
      expect(hook.bodies).toHaveLength(1);
      expect(hook.bodies[0]).toMatchObject({
        kind: 'hand-off',
        runId: 'acme-q3',
        workflow: 'financial-report',
        task: { step: 'send-email' },
      });

      const list = await cli(['runs', 'list', '--store', store, '--status', 'awaiting_human']);
      expect(list.code).toBe(0);
      expect(list.stdout.trim().split('\n')).toEqual([
        'RUN\tWORKFLOW\tSTATUS\tWAITING ON\tUPDATED',
        expect.stringMatching(/^acme-q3\tfinancial-report\tawaiting_human\thand-off of step send-email\t\d{4}-/),
      ]);

      const show = await cli(['runs', 'show', 'acme-q3', '--store', store]);
      expect(show.code).toBe(0);
      expect(show.stdout).toContain('Run acme-q3 (workflow financial-report): awaiting_human');
      expect(show.stdout).toContain('error: MailboxUnavailableError: 550 5.1.1 <cfo@acme.invalid>: mailbox unavailable');
      expect(show.stdout).toContain('attempts: 3');
      expect(show.stdout).toContain('last completed step: write-report');
      expect(show.stdout).toMatch(/trace: [0-9a-f]{32} {2}http:\/\/localhost:16686\/trace\/[0-9a-f]{32}/);

      const approve = await cli([
        'runs',
        'approve',
        'acme-q3',
        '--store',
        store,
        '--by',
        'ada',
        '--payload',
        '{"to":"cfo@acme.com"}',
        '--note',
        'typo in the domain',
      ]);
      expect(approve).toMatchObject({ code: 0, stdout: expect.stringContaining('approve by ada') });
      const again = await cli(['runs', 'reject', 'acme-q3', '--store', store, '--by', 'bob']);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('decided already (approve by ada)');

      const resume = await cli(['runs', 'resume', 'acme-q3', '--store', store, '--module', reportModule, '--by', 'ada'], {
        REPORT_DIR: dir,
      });
      expect(resume.stderr).toBe('');
      expect(resume).toMatchObject({ code: 0, stdout: expect.stringContaining('completed: "sent to cfo@acme.com') });

      const effects = readFileSync(join(dir, 'effects.log'), 'utf8').trim().split('\n');
      const count = (entry: string) => effects.filter((l) => l.endsWith(entry)).length;
      for (const step of ['fetch-data', 'ask-llm', 'render-chart', 'write-report', 'send-email'])
        expect(count(`done ${step}`)).toBe(1);

      const trail = await cli(['runs', 'show', 'acme-q3', '--store', store]);
      expect(trail.stdout).toContain('Run acme-q3 (workflow financial-report): completed');
      const audit = trail.stdout.slice(trail.stdout.indexOf('Audit trail')).trim().split('\n');
      console.log(`audit trail of the handed-off, approved, resumed run:\n${audit.join('\n')}`);
      expect(audit.map((l) => l.replace(/^\s+\S+\s+/, '').replace(/\s+/g, ' '))).toEqual([
        'Audit trail',
        'hand-off send-email — MailboxUnavailableError: 550 5.1.1 <cfo@acme.invalid>: mailbox unavailable',
        'notification send-email delivered — webhook (1 attempt)',
        'decision send-email approve by ada — typo in the domain',
        'resume send-email by ada',
      ]);
      const json = JSON.parse((await cli(['runs', 'show', 'acme-q3', '--store', store, '--json'])).stdout);
      expect(json.human['hand-off:send-email:1'].decision).toMatchObject({
        outcome: 'approve',
        by: 'ada',
        payload: { to: 'cfo@acme.com' },
      });
    } finally {
      await hook.close();
    }
  });

  it('says what is wrong: no store, an unknown run, a store spec it does not know, an unknown option', async () => {
    expect(await cli(['runs', 'list'])).toMatchObject({ code: 2, stderr: expect.stringContaining('Missing --store') });
    const store = `file:${join(root, 'empty')}`;
    expect(await cli(['runs', 'show', 'nope', '--store', store])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('No run "nope"'),
    });
    expect(await cli(['runs', 'list', '--store', 'postgres://x'])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('Invalid --store'),
    });
    expect(await cli(['runs', 'list', '--store', store, '--bogus'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("Unknown option '--bogus'"),
    });
    expect((await cli(['runs', 'list', '--store', store])).stdout.trim()).toBe('RUN\tWORKFLOW\tSTATUS\tWAITING ON\tUPDATED');
    expect(existsSync(join(root, 'empty'))).toBe(false);
  });
});

describe('otel-resilience runs (CLI) on the Redis store', () => {
  const redis = useRedis();

  it('lists and shows an approval, rejects it, and the resumed run compensates', async () => {
    const url = `redis://127.0.0.1:${redis.server.port}`;
    const dir = join(root, 'payout-redis');
    const env = { DIR: dir, REDIS_URL: url };
    const started = await node([payoutModule, 'run', 'p-1'], env);
    expect(started).toMatchObject({ code: 0, stdout: 'awaiting manager\n' });

    const list = await cli(['runs', 'list', '--store', url]);
    expect(list.stdout).toMatch(/\np-1\tpayout\tawaiting_human\tapproval manager\t/);
    const show = await cli(['runs', 'show', 'p-1', '--store', url]);
    expect(show.stdout).toContain('request: Pay 100?');
    expect(show.stdout).toContain('proposed: {"amount":100}');

    expect(await cli(['runs', 'reject', 'p-1', '--store', url, '--by', 'fin', '--note', 'over budget'])).toMatchObject({
      code: 0,
    });
    const resumed = await cli(['runs', 'resume', 'p-1', '--store', url, '--module', payoutModule], env);
    expect(resumed).toMatchObject({ code: 0, stderr: expect.stringContaining('Run p-1 compensated') });
    const effects = readFileSync(join(dir, 'effects.log'), 'utf8');
    expect(effects).not.toContain('start pay');

    const trail = (await cli(['runs', 'show', 'p-1', '--store', url])).stdout;
    expect(trail).toContain('Run p-1 (workflow payout): compensated');
    expect(trail).toMatch(/approval-requested\s+manager\s+— Pay 100\?/);
    expect(trail).toMatch(/decision\s+manager\s+reject by fin — over budget/);
  });
});
