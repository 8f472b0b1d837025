/**
 * The seed's multi-step agent task as a checkpointed workflow: fetch data, ask an LLM,
 * render a chart, write a report, send an email. Kill it at any step and resume it: no
 * completed step runs again, and the email goes out once (its step is idempotent too).
 * When the email fails for good (a recipient the mail server refuses), the run hands
 * off to a person: `npx otel-resilience runs show|approve|resume` (the module the CLI's
 * `--module` loads is this one: it only defines the workflow).
 *
 * Where it keeps things: REPORT_DIR (default `.runs`); every side effect is appended to
 * REPORT_DIR/effects.log with the process id, so a test or a person can check what ran
 * how often. REPORT_SLOW=<step> makes that step dawdle (so a test can kill us mid-step);
 * REPORT_WEBHOOK=<url> adds a webhook notifier; REPORT_LEASE_MS sets the lease.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileIdempotencyStore, FileWorkflowStore, idempotent, type Notifier, webhookNotifier, workflow } from 'otel-resilience';

export const dir = process.env.REPORT_DIR ?? '.runs';
mkdirSync(dir, { recursive: true });
const effect = (line: string) => appendFileSync(join(dir, 'effects.log'), `${process.pid} ${line}\n`);

/** A step body that logs its start and end, and dawdles when told to. */
async function sideEffect<T>(step: string, work: () => T): Promise<T> {
  effect(`start ${step}`);
  if (process.env.REPORT_SLOW === step) await sleep(60_000);
  const result = work();
  effect(`done ${step}`);
  return result;
}

/** What the mail server answers for a mailbox it does not have: permanent (SMTP 550). */
class MailboxUnavailableError extends Error {
  override readonly name = 'MailboxUnavailableError';
}

/** The email is idempotent on the step's key: a crash between sending and checkpointing cannot send twice. */
const sendEmail = idempotent(
  async (_key: string, to: string, body: string) =>
    sideEffect('send-email', () => {
      if (to.endsWith('.invalid')) throw new MailboxUnavailableError(`550 5.1.1 <${to}>: mailbox unavailable`);
      return `sent to ${to} (${body.length} chars)`;
    }),
  { key: ([key]) => key, store: new FileIdempotencyStore(join(dir, 'idempotency')), namespace: 'email' },
);

const notifiers: Notifier[] = process.env.REPORT_WEBHOOK ? [webhookNotifier({ url: process.env.REPORT_WEBHOOK })] : [];

export const report = workflow(
  'financial-report',
  async (ctx, input: { company: string; to: string }) => {
    const data = await ctx.step('fetch-data', () =>
      sideEffect('fetch-data', () => ({ revenue: [12, 15, 19], company: input.company })),
    );
    const summary = await ctx.step(
      'ask-llm',
      () => sideEffect('ask-llm', () => `${data.company}: revenue grew ${data.revenue.at(-1)! - data.revenue[0]!}M this year.`),
      { retry: { maxRetries: 2, baseDelayMs: 100 }, timeoutMs: 120_000 },
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
    // When sending fails for good, a person takes over: the recipient they give goes in `decision.payload`.
    return ctx.step(
      'send-email',
      (step) => {
        const to = (step.decision?.payload as { to?: string } | undefined)?.to ?? input.to;
        return sendEmail(step.idempotencyKey, to, document);
      },
      { retry: { maxRetries: 2, baseDelayMs: 100 }, onFailure: 'hand-off' },
    );
  },
  {
    store: new FileWorkflowStore(join(dir, 'runs')),
    leaseMs: Number(process.env.REPORT_LEASE_MS ?? 1000),
    notifiers,
    notify: { retry: { maxRetries: 2, baseDelayMs: 100 }, timeoutMs: 2000 },
  },
);
