/**
 * kill -9 around a hand-off, with the file store and real processes: while the run is
 * being handed off (its notifier hanging), and between a person's approval and the
 * effect it gates. After resume, the effect runs exactly once and the decision is
 * neither lost nor asked for again.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'otel-resilience-handoff-kill-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const built = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const bin = built('dist/cli/bin.js');
const reportMain = built('build/examples/workflows/financial-report.js');
const reportModule = built('build/examples/workflows/financial-report-workflow.js');
const payout = fileURLToPath(new URL('./approval-worker.mjs', import.meta.url));

const run = async (args: string[], env: Record<string, string>) =>
  (await promisify(execFile)(process.execPath, args, { timeout: 60_000, env: { ...process.env, ...env } })).stdout;

function effects(dir: string): string[] {
  const log = join(dir, 'effects.log');
  return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function kill9(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

describe('kill -9 around a hand-off (file store)', () => {
  it('killed while handing off (its notifier hangs): the hand-off stands, `runs notify` tells the person, who approves; resume sends the email once', async () => {
    const dir = join(root, 'report');
    let posted = 0;
    const hang = createServer((request, response) => {
      posted++; // the first notification never gets an answer; later ones do
      if (posted > 1) request.resume().on('end', () => response.end('ok'));
    });
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(hang.address() as { port: number }).port}/hook`;
      const worker = spawn(process.execPath, [reportMain, 'run', 'q3', '--dir', dir, '--to', 'cfo@acme.invalid'], {
        stdio: 'ignore',
        env: { ...process.env, REPORT_WEBHOOK: url },
      });
      await waitFor(() => posted > 0, 'the hand-off notification');
      await kill9(worker);

      const store = `file:${join(dir, 'runs')}`;
      // Nobody was told: `runs list` says so, and `runs notify` (once the dead worker's
      // lease ran out) tells them.
      expect(await run([bin, 'runs', 'list', '--store', store], {})).toMatch(
        /q3\t.*awaiting_human\thand-off of step send-email \(nobody told\)/,
      );
      const env = { REPORT_DIR: dir, REPORT_WEBHOOK: url };
      let told = '';
      for (let i = 0; i < 40 && !told.includes('notified about'); i++) {
        told = await run([bin, 'runs', 'notify', 'q3', '--store', store, '--module', reportModule], env).catch(
          async (e: { stderr?: string }) => {
            if (!e.stderr?.includes('WorkflowLeaseHeldError')) throw e;
            await new Promise((resolve) => setTimeout(resolve, 100));
            return '';
          },
        );
      }
      expect(told).toMatch(/^Run q3: notified about hand-off:send-email:1: webhook \(1 attempt\)\./);
      expect(posted).toBe(2);
      expect(await run([bin, 'runs', 'notify', 'q3', '--store', store, '--module', reportModule], env)).toContain(
        'nobody to tell',
      );
      expect(posted).toBe(2);
      await run([bin, 'runs', 'approve', 'q3', '--store', store, '--by', 'ada', '--payload', '{"to":"cfo@acme.com"}'], {});
      const out = await run([bin, 'runs', 'resume', 'q3', '--store', store, '--module', reportModule, '--by', 'ada'], {
        REPORT_DIR: dir,
      });
      expect(out).toContain('completed: "sent to cfo@acme.com');
      const lines = effects(dir);
      expect(lines.filter((l) => l.endsWith('done send-email'))).toHaveLength(1);
      for (const step of ['fetch-data', 'ask-llm', 'render-chart', 'write-report']) {
        expect(lines.filter((l) => l.endsWith(`done ${step}`))).toHaveLength(1);
      }
      const shown = await run([bin, 'runs', 'show', 'q3', '--store', store], {});
      // The hand-off stored first, the worker died notifying; one notification, by `runs notify`.
      expect(
        shown
          .slice(shown.indexOf('Audit trail'))
          .match(/^\s+\S+ (\S+)/gm)!
          .map((l) => l.trim().split(' ')[1]),
      ).toEqual(['hand-off', 'notification', 'decision', 'resume']);
    } finally {
      await new Promise((resolve) => hang.close(resolve));
    }
  });

  it('killed between the approval and the effect it gates: the approval is kept, the effect runs once', async () => {
    const dir = join(root, 'payout');
    const env = { DIR: dir };
    expect(await run([payout, 'run', 'p'], env)).toBe('awaiting manager\n');
    await run(
      [bin, 'runs', 'approve', 'p', '--store', `file:${join(dir, 'runs')}`, '--by', 'mia', '--payload', '{"amount":90}'],
      {},
    );

    // The resumed worker takes the approval up and is killed inside the gated step, before its effect.
    const worker = spawn(process.execPath, [payout, 'resume', 'p'], {
      stdio: 'ignore',
      env: { ...process.env, ...env, SLOW: 'pay' },
    });
    await waitFor(() => effects(dir).some((l) => l.endsWith('start pay')), 'the gated step');
    await kill9(worker);
    expect(effects(dir).filter((l) => l.endsWith('done pay'))).toHaveLength(0);

    // Random kills of further resumes, then one that finishes.
    let kills = 1;
    for (let i = 0; i < 8; i++) {
      const again = spawn(process.execPath, [payout, 'resume', 'p'], { stdio: 'ignore', env: { ...process.env, ...env } });
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.floor(Math.random() * 250)));
      if (again.exitCode === null) {
        await kill9(again);
        kills++;
      }
    }
    let result = '';
    for (let i = 0; i < 20 && !result.startsWith('"receipt'); i++) {
      result = await run([payout, 'resume', 'p'], env).catch((e: { stderr?: string }) => {
        if (!e.stderr?.includes('WorkflowLeaseHeldError')) throw e;
        return '';
      });
      if (result === '') await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(result).toBe('"receipt by mia"\n');
    const pays = effects(dir).filter((l) => l.endsWith('done pay'));
    const shown = await run([bin, 'runs', 'show', 'p', '--store', `file:${join(dir, 'runs')}`, '--json'], {});
    const stored = JSON.parse(shown);
    const kinds = stored.audit.map((e: { kind: string }) => e.kind);
    console.log(`approval → effect under ${kills} kill -9: effect executions ${pays.length}; audit ${kinds.join(', ')}`);
    expect(pays.length).toBe(1);
    expect(kinds.filter((k: string) => k === 'approval-requested')).toHaveLength(1);
    expect(kinds.filter((k: string) => k === 'decision')).toHaveLength(1);
    expect(stored.human.manager.decision).toMatchObject({ outcome: 'edit', by: 'mia', payload: { amount: 90 } });
    expect(stored.steps.pay.output).toBe('paid 90 key=p:pay');
  }, 120_000);
});
