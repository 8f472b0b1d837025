/**
 * The shipped webhook notifier against real HTTP servers on 127.0.0.1: a hand-off is
 * posted as JSON; a server that fails is retried and, when it stays down, the failure is
 * recorded in the audit trail while the run waits for a person all the same.
 */
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkflowAwaitingHumanError, webhookNotifier, workflow } from '../../src/index.js';
import { freePort, useTracing } from '../support/hooks.js';

let servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  servers = [];
});

/** A server answering each POST with the next status of `statuses` (the last one repeats). */
async function hookServer(statuses: number[]) {
  const requests: { headers: Record<string, unknown>; body: unknown }[] = [];
  const server = createServer(async (req, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    requests.push({ headers: req.headers, body: JSON.parse(text) });
    res.writeHead(statuses[Math.min(requests.length - 1, statuses.length - 1)]!).end();
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, requests };
}

const failing = (url: string) =>
  workflow(
    'w',
    async (ctx) => {
      await ctx.step('a', () => 'A');
      return ctx.step('b', () => Promise.reject(new TypeError('boom is not a function')), { onFailure: 'hand-off' });
    },
    {
      notifiers: [webhookNotifier({ url, headers: { authorization: 'Bearer t0k3n' } })],
      notify: { retry: { maxRetries: 2, baseDelayMs: 1 }, timeoutMs: 2000 },
    },
  );

describe('webhookNotifier', () => {
  const tracing = useTracing();

  it('posts the hand-off as JSON with the given headers; 503s are retried', async () => {
    const hook = await hookServer([503, 503, 204]);
    const flow = failing(hook.url);
    await expect(flow.run('r', undefined)).rejects.toBeInstanceOf(WorkflowAwaitingHumanError);
    expect(hook.requests).toHaveLength(3);
    expect(hook.requests[0]!.headers).toMatchObject({ 'content-type': 'application/json', authorization: 'Bearer t0k3n' });
    expect(hook.requests[2]!.body).toMatchObject({
      kind: 'hand-off',
      runId: 'r',
      workflow: 'w',
      task: {
        id: 'hand-off:b:1',
        incident: { step: 'b', error: { type: 'TypeError', message: 'boom is not a function' }, lastCompletedStep: 'a' },
      },
      commands: { approve: 'npx otel-resilience runs approve "r" --store <store>' },
    });
    expect((await flow.audit('r')).at(-1)).toMatchObject({
      kind: 'notification',
      outcome: 'delivered',
      detail: 'webhook (3 attempts)',
    });
    expect(tracing()).toHaveSpan('workflow w', {
      events: [
        'resilience.hand_off.requested',
        {
          name: 'resilience.hand_off.notification',
          attributes: { 'resilience.hand_off.notifier': 'webhook', 'resilience.attempts': 3 },
        },
      ],
    });
  });

  it('a server that is down: retried, recorded as failed, and the hand-off stands (decide and resume still work)', async () => {
    const url = `http://127.0.0.1:${await freePort()}/hook`;
    const flow = failing(url);
    await expect(flow.run('r', undefined)).rejects.toBeInstanceOf(WorkflowAwaitingHumanError);
    const run = (await flow.status('r'))!;
    expect(run.status).toBe('awaiting_human');
    expect(run.audit!.map((e) => `${e.kind}:${e.outcome ?? ''}`)).toEqual(['hand-off:', 'notification:failed']);
    expect(run.audit!.at(-1)!.detail).toMatch(/^webhook: .+ \(3 attempts\)$/);
    await flow.decide('r', { outcome: 'reject', by: 'ops' });
    await expect(flow.resume('r')).rejects.toMatchObject({ status: 'compensated' });
  });

  it('a 4xx is not retried', async () => {
    const hook = await hookServer([404]);
    await expect(failing(hook.url).run('r', undefined)).rejects.toBeInstanceOf(WorkflowAwaitingHumanError);
    expect(hook.requests).toHaveLength(1);
  });

  it('rejects a bad url at construction', () => {
    expect(() => webhookNotifier({ url: 'not a url' })).toThrow(TypeError);
    expect(() => webhookNotifier({ url: 'http://x', bogus: 1 } as never)).toThrow(/bogus/);
  });
});
