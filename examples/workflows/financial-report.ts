/**
 * The seed's multi-step agent task as a checkpointed workflow: fetch data, ask an LLM,
 * render a chart, write a report, send an email. Kill it at any step and resume it: no
 * completed step runs again, and the email goes out once (its step is idempotent too).
 *
 *   node build/examples/workflows/financial-report.js run|resume <runId> [--dir DIR] [--slow STEP]
 *
 * Every side effect is appended to DIR/effects.log (with the process id), so a test or a
 * person can check what ran how often.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  FileIdempotencyStore,
  FileWorkflowStore,
  idempotent,
  RetryPolicy,
  WorkflowLeaseHeldError,
  WorkflowStalledError,
  workflow,
} from 'otel-resilience';
import { startTelemetry } from 'otel-resilience/setup';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    dir: { type: 'string', default: '.runs' },
    slow: { type: 'string' },
    'lease-ms': { type: 'string', default: '1000' },
  },
});
const [command = 'run', runId = 'acme-q3'] = positionals;
const dir = values.dir;
mkdirSync(dir, { recursive: true });
const effect = (line: string) => appendFileSync(join(dir, 'effects.log'), `${process.pid} ${line}\n`);

/** A step body that logs its start and end, and dawdles when told to (so a test can kill us mid-step). */
async function sideEffect<T>(step: string, work: () => T): Promise<T> {
  effect(`start ${step}`);
  if (values.slow === step) await sleep(60_000);
  const result = work();
  effect(`done ${step}`);
  return result;
}

/** The email is idempotent on the step's key: a crash between sending and checkpointing cannot send twice. */
const sendEmail = idempotent(
  async (_key: string, to: string, body: string) => sideEffect('send-email', () => `sent to ${to} (${body.length} chars)`),
  {
    key: ([key]) => key,
    store: new FileIdempotencyStore(join(dir, 'idempotency')),
    namespace: 'email',
  },
);

const report = workflow(
  'financial-report',
  async (ctx, input: { company: string; to: string }) => {
    const data = await ctx.step('fetch-data', () =>
      sideEffect('fetch-data', () => ({ revenue: [12, 15, 19], company: input.company })),
    );
    const summary = await ctx.step(
      'ask-llm',
      () => sideEffect('ask-llm', () => `${data.company}: revenue grew ${data.revenue.at(-1)! - data.revenue[0]!}M this year.`),
      {
        retry: { maxRetries: 2, baseDelayMs: 100 },
        timeoutMs: 120_000,
      },
    );
    const chart = await ctx.step('render-chart', () =>
      sideEffect('render-chart', () => {
        const file = join(dir, `${ctx.runId}-chart.svg`);
        writeFileSync(
          file,
          `<svg xmlns="http://www.w3.org/2000/svg">${data.revenue.map((v, i) => `<rect x="${i * 20}" y="${100 - v * 4}" width="15" height="${v * 4}"/>`).join('')}</svg>`,
        );
        return file;
      }),
    );
    const document = await ctx.step('write-report', () =>
      sideEffect('write-report', () => {
        const file = join(dir, `${ctx.runId}-report.md`);
        writeFileSync(file, `# ${data.company}\n\n${summary}\n\n![chart](${chart})\n`);
        return file;
      }),
    );
    return ctx.step('send-email', (step) => sendEmail(step.idempotencyKey, input.to, document));
  },
  { store: new FileWorkflowStore(join(dir, 'runs')), leaseMs: Number(values['lease-ms']) },
);

const telemetry = startTelemetry({ serviceName: 'financial-report', endpoint: false });
// A resumed run may find the crashed owner's lease still running: wait it out. A run that
// stalled (its store failed after a step) is resumed the same way: nothing was undone.
const waitForLease = new RetryPolicy({
  maxRetries: 30,
  retryOn: (e) => e instanceof WorkflowLeaseHeldError || e instanceof WorkflowStalledError,
});
const result = await waitForLease.execute(() =>
  command === 'resume' ? report.resume(runId) : report.run(runId, { company: 'ACME', to: 'cfo@example.com' }),
);
console.log(result);
console.log(JSON.stringify(await report.status(runId)));
await telemetry.shutdown();
