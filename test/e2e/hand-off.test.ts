/**
 * End to end: the financial-report walkthrough exported to a real Jaeger. The example
 * hands off (email refused), the CLI approves a corrected recipient and resumes the run
 * in its own process; Jaeger shows the two executions as one linked story: the resumed
 * `workflow financial-report` span links (FOLLOWS_FROM) to the span that handed off,
 * whose trace id is the incident's.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type JaegerSpan, logFields, type RunningJaeger, startJaeger, tracesOf } from '../support/jaeger.js';

let jaeger: RunningJaeger;
const root = mkdtempSync(join(tmpdir(), 'otel-resilience-handoff-e2e-'));
beforeAll(async () => {
  jaeger = await startJaeger();
});
afterAll(async () => {
  await jaeger?.stop();
  rmSync(root, { recursive: true, force: true });
});

const built = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const node = async (args: string[], env: Record<string, string>) =>
  (await promisify(execFile)(process.execPath, args, { timeout: 60_000, env: { ...process.env, ...env } })).stdout;

const events = (span: JaegerSpan) => span.logs.map((log) => logFields(log).event);

describe('hand-off walkthrough in Jaeger', () => {
  it('one linked story: the resumed run links to the run that handed off', async () => {
    const dir = join(root, 'report');
    const store = `file:${join(dir, 'runs')}`;
    const base = jaeger.otlpUrl.replace(/\/v1\/traces$/, '');
    await node(
      [built('build/examples/workflows/financial-report.js'), 'run', 'acme-q3', '--dir', dir, '--to', 'cfo@acme.invalid'],
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: base,
      },
    );
    const shown = JSON.parse(await node([built('dist/cli/bin.js'), 'runs', 'show', 'acme-q3', '--store', store, '--json'], {}));
    const incident = shown.human['hand-off:send-email:1'].incident;
    await node(
      [
        built('dist/cli/bin.js'),
        'runs',
        'approve',
        'acme-q3',
        '--store',
        store,
        '--by',
        'ada',
        '--payload',
        '{"to":"cfo@acme.com"}',
      ],
      {},
    );
    const resumed = await node(
      [
        built('dist/cli/bin.js'),
        'runs',
        'resume',
        'acme-q3',
        '--store',
        store,
        '--module',
        built('build/examples/workflows/financial-report-workflow.js'),
        '--otlp',
        jaeger.otlpUrl,
      ],
      { REPORT_DIR: dir },
    );
    expect(resumed).toContain('completed');

    let runs: JaegerSpan[] = [];
    for (let i = 0; i < 80 && runs.length < 2; i++) {
      const traces = await tracesOf(jaeger.queryUrl, 'financial-report');
      runs = traces.flat().filter((s) => s.operationName === 'workflow financial-report');
      if (runs.length < 2) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(runs).toHaveLength(2);
    const handedOff = runs.find((s) => events(s).includes('resilience.hand_off.requested'))!;
    const resumedSpan = runs.find((s) => events(s).includes('resilience.hand_off.decision'))!;
    expect(handedOff.traceID).toBe(incident.traceId);
    // The resumed run returned the four completed steps from their checkpoints.
    expect(events(resumedSpan).filter((e) => e === 'resilience.workflow.step_replayed')).toHaveLength(4);
    const decision = resumedSpan.logs.map(logFields).find((f) => f.event === 'resilience.hand_off.decision')!;
    expect(decision).toMatchObject({ 'resilience.hand_off.outcome': 'approve', 'resilience.hand_off.by': 'ada' });
    const link = (resumedSpan.references as Array<{ refType: string; spanID: string; traceID: string }>).find(
      (r) => r.refType === 'FOLLOWS_FROM',
    );
    expect(link).toMatchObject({ traceID: handedOff.traceID, spanID: handedOff.spanID });
    const status = (s: JaegerSpan) => s.tags.find((t) => t.key === 'resilience.workflow.status')?.value;
    expect([status(handedOff), status(resumedSpan)]).toEqual(['awaiting_human', 'completed']);
  });
});
