/**
 * A payout workflow for the hand-off tests, on the built package (dist/): a plan step, an
 * approval, then the effect it gates ("pay"), then a receipt. Run as a process:
 *
 *   node approval-worker.mjs run|resume <runId>     (env DIR: where it keeps runs and effects.log;
 *                                                   SLOW=<step>: that step dawdles, so a test can kill us in it;
 *                                                   REDIS_URL: keep runs in Redis instead)
 *
 * Exports the workflow too, for `otel-resilience runs resume --module`. Every effect is
 * appended to DIR/effects.log with the process id.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { FileWorkflowStore, WorkflowAwaitingHumanError, workflow } from '../../dist/index.js';
import { RedisWorkflowStore } from '../../dist/redis/index.js';

const dir = process.env.DIR;
mkdirSync(dir, { recursive: true });
const effect = (line) => appendFileSync(join(dir, 'effects.log'), `${process.pid} ${line}\n`);

let store;
let client;
if (process.env.REDIS_URL) {
  client = createClient({ url: process.env.REDIS_URL, socket: { reconnectStrategy: false } });
  client.on('error', () => {});
  await client.connect();
  store = new RedisWorkflowStore({ client });
} else {
  store = new FileWorkflowStore(join(dir, 'runs'));
}

async function step(name, work) {
  effect(`start ${name}`);
  if (process.env.SLOW === name) await sleep(60_000);
  const result = work();
  effect(`done ${name}`);
  return result;
}

export const payout = workflow(
  'payout',
  async (ctx, input) => {
    const plan = await ctx.step('plan', () => step('plan', () => ({ amount: input.amount })));
    const approval = await ctx.requestApproval('manager', { summary: `Pay ${plan.amount}?`, payload: plan });
    await ctx.step('pay', (s) => step('pay', () => `paid ${approval.payload.amount} key=${s.idempotencyKey}`), {
      compensate: () => effect('refund'),
    });
    return ctx.step('receipt', () => step('receipt', () => `receipt by ${approval.by}`));
  },
  { store, leaseMs: 500 },
);

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  const [command, runId] = process.argv.slice(2);
  try {
    const result = command === 'resume' ? await payout.resume(runId, { by: 'worker' }) : await payout.run(runId, { amount: 100 });
    console.log(JSON.stringify(result));
  } catch (error) {
    if (!(error instanceof WorkflowAwaitingHumanError)) throw error;
    console.log(`awaiting ${error.task.id}`);
  } finally {
    await client?.close();
  }
}
