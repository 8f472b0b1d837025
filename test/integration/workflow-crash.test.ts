/**
 * A worker process is killed with SIGKILL in the middle of a step; a new one resumes the
 * run. The side-effect log proves every completed step ran exactly once, the interrupted
 * step ran again from its start, and the email went out exactly once.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { FileWorkflowStore } from '../../src/index.js';
import { describeWorkflowStoreConformance } from '../support/workflow-store-conformance.js';

const root = mkdtempSync(join(tmpdir(), 'otel-resilience-wf-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
describeWorkflowStoreConformance('FileWorkflowStore', async () => new FileWorkflowStore(join(root, `store-${n++}`)));

const example = fileURLToPath(new URL('../../build/examples/workflows/financial-report.js', import.meta.url));

async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('financial-report workflow under kill -9', () => {
  it('resumes after SIGKILL mid-step without redoing completed steps, sending the email once', async () => {
    const dir = join(root, 'report');
    const log = join(dir, 'effects.log');
    const lines = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);

    const worker = spawn(process.execPath, [example, 'run', 'acme-q3', '--dir', dir, '--slow', 'render-chart'], {
      stdio: 'ignore',
    });
    await waitFor(() => lines().some((l) => l.endsWith('start render-chart')), 'the worker to reach render-chart');
    worker.kill('SIGKILL');
    await new Promise((resolve) => worker.once('exit', resolve));
    expect(worker.signalCode).toBe('SIGKILL');

    const { stdout } = await promisify(execFile)(process.execPath, [example, 'resume', 'acme-q3', '--dir', dir], {
      timeout: 60_000,
    });
    expect(stdout).toContain('sent to cfo@example.com');
    const run = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(run.status).toBe('completed');

    const count = (entry: string) => lines().filter((l) => l.endsWith(entry)).length;
    expect(count('done fetch-data')).toBe(1);
    expect(count('done ask-llm')).toBe(1);
    expect(count('start render-chart')).toBe(2); // interrupted, then run again from its start
    expect(count('done render-chart')).toBe(1);
    expect(count('done write-report')).toBe(1);
    expect(count('start send-email')).toBe(1);
    const pids = new Set(lines().map((l) => l.split(' ')[0]));
    expect(pids.size).toBe(2); // two processes did the work
  });
});
