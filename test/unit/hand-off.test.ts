import { describe, expect, it } from 'vitest';
import {
  ApprovalRejectedError,
  type HandOffNotice,
  MemoryWorkflowStore,
  type Notifier,
  WorkflowAwaitingHumanError,
  WorkflowDecisionError,
  WorkflowFailedError,
  workflow,
} from '../../src/index.js';
import { manualClock, useTracing } from '../support/hooks.js';

/** A notifier that records what it was told, failing the first `failures` calls. */
function recorder(failures = 0): Notifier & { notices: HandOffNotice[]; calls: number } {
  const self = {
    name: 'test',
    notices: [] as HandOffNotice[],
    calls: 0,
    notify(notice: HandOffNotice) {
      self.calls++;
      if (self.calls <= failures) throw new Error('pager down');
      self.notices.push(notice);
    },
  };
  return self;
}

const noWait = { retry: { maxRetries: 2, baseDelayMs: 1 } };

/** The report workflow: the email step fails for good unless the recipient is fixed. */
function report(log: string[], options: Parameters<typeof workflow>[2]) {
  return workflow(
    'financial-report',
    async (ctx, input: { to: string }) => {
      const data = await ctx.step('fetch-data', () => (log.push('fetch'), { revenue: [12, 15, 19] }));
      await ctx.step('write-report', () => (log.push('write'), `report ${data.revenue.join(',')}`), {
        compensate: () => log.push('delete report'),
      });
      return ctx.step(
        'send-email',
        (step) => {
          const to = (step.decision?.payload as { to?: string } | undefined)?.to ?? input.to;
          log.push(`email ${to}`);
          if (to.endsWith('.invalid')) throw Object.assign(new Error(`550 mailbox ${to} unavailable`), { name: 'SmtpError' });
          return `sent to ${to}`;
        },
        { retry: { maxRetries: 1, baseDelayMs: 1 } },
      );
    },
    options,
  );
}

describe('hand-off', () => {
  const tracing = useTracing();

  it('a step that fails for good hands off: awaiting_human, incident stored, notifiers told; approve with a payload, resume finishes', async () => {
    const store = new MemoryWorkflowStore();
    const log: string[] = [];
    const pager = recorder();
    const flow = report(log, { store, onFailure: 'hand-off', notifiers: [pager], notify: noWait });
    const error = await flow.run('q3', { to: 'cfo@acme.invalid' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowAwaitingHumanError);
    const run = (await flow.status('q3'))!;
    expect(run.status).toBe('awaiting_human');
    const task = run.human![run.awaiting!]!;
    expect(task).toMatchObject({ id: 'hand-off:send-email:1', kind: 'hand-off', step: 'send-email' });
    expect(task.incident).toMatchObject({
      runId: 'q3',
      workflow: 'financial-report',
      step: 'send-email',
      error: { type: 'SmtpError', message: '550 mailbox cfo@acme.invalid unavailable' },
      attempts: 2,
      lastCompletedStep: 'write-report',
      input: '{"to":"cfo@acme.invalid"}',
      outputs: { 'fetch-data': '{"revenue":[12,15,19]}', 'write-report': '"report 12,15,19"' },
    });
    expect(task.incident!.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(task.incident!.traceUrl).toBe(`http://localhost:16686/trace/${task.incident!.traceId}`);
    expect(pager.notices).toHaveLength(1);
    expect(pager.notices[0]).toMatchObject({ kind: 'hand-off', runId: 'q3', task: { id: task.id } });
    expect(run.owner).toBeUndefined();
    expect(tracing()).toHaveSpan('workflow financial-report', {
      status: 'unset',
      attributes: { 'resilience.workflow.status': 'awaiting_human' },
      events: [
        {
          name: 'resilience.hand_off.requested',
          attributes: { 'resilience.hand_off.kind': 'hand-off', 'resilience.workflow.step': 'send-email' },
        },
        {
          name: 'resilience.hand_off.notification',
          attributes: { 'resilience.hand_off.outcome': 'delivered', 'resilience.attempts': 1 },
        },
      ],
    });

    await flow.decide('q3', { outcome: 'approve', by: 'ada', payload: { to: 'cfo@acme.com' }, note: 'typo in the domain' });
    await expect(flow.decide('q3', { outcome: 'reject', by: 'bob' })).rejects.toBeInstanceOf(WorkflowDecisionError);
    await expect(flow.resume('q3', { by: 'ada' })).resolves.toBe('sent to cfo@acme.com');
    expect(log).toEqual(['fetch', 'write', 'email cfo@acme.invalid', 'email cfo@acme.invalid', 'email cfo@acme.com']);
    expect((await flow.audit('q3')).map((e) => [e.kind, e.outcome, e.by])).toEqual([
      ['hand-off', undefined, undefined],
      ['notification', 'delivered', undefined],
      ['decision', 'approve', 'ada'],
      ['resume', undefined, 'ada'],
    ]);
    const spans = tracing().byName('workflow financial-report');
    expect(spans).toHaveLength(2);
    expect(spans[1]!.links.map((l) => l.context.spanId)).toEqual([spans[0]!.spanContext().spanId]);
    expect(tracing()).toHaveSpan('workflow financial-report', {
      attributes: { 'resilience.workflow.status': 'completed' },
      events: [
        {
          name: 'resilience.hand_off.decision',
          attributes: { 'resilience.hand_off.outcome': 'approve', 'resilience.hand_off.by': 'ada' },
        },
        'resilience.workflow.step_replayed',
      ],
    });
  });

  it('a notifier that is down never loses the hand-off: retried, recorded as failed, the run waits', async () => {
    const log: string[] = [];
    const down = recorder(Number.POSITIVE_INFINITY);
    const flow = report(log, { onFailure: 'hand-off', notifiers: [down], notify: noWait });
    await expect(flow.run('q4', { to: 'x@y.invalid' })).rejects.toBeInstanceOf(WorkflowAwaitingHumanError);
    expect(down.calls).toBe(3);
    const run = (await flow.status('q4'))!;
    expect(run.status).toBe('awaiting_human');
    expect(run.audit!.at(-1)).toMatchObject({
      kind: 'notification',
      outcome: 'failed',
      detail: 'test: Error: pager down (3 attempts)',
    });
  });

  it('notifyPending tells the people of a run whose worker died notifying, once; not a run still held or already told', async () => {
    const store = new MemoryWorkflowStore();
    const pager = recorder();
    const flow = report([], { store, onFailure: 'hand-off', notifiers: [pager], notify: noWait });
    for (const runId of ['died', 'held', 'told']) {
      await expect(flow.run(runId, { to: 'x@y.invalid' })).rejects.toBeInstanceOf(WorkflowAwaitingHumanError);
    }
    expect(pager.calls).toBe(3);
    // What a worker killed while notifying leaves: the hand-off stored, no notification
    // recorded, its lease run out ('held': still running).
    for (const [runId, leaseExpiresAt] of [
      ['died', Date.now() - 1],
      ['held', Date.now() + 60_000],
    ] as const) {
      const { run, version } = (await store.load(runId))!;
      const audit = run.audit!.filter((e) => e.kind !== 'notification');
      await store.save({ ...run, audit, owner: 'dead-worker', leaseExpiresAt }, version);
    }
    expect(await flow.notifyPending()).toEqual(['died']);
    expect(pager.calls).toBe(4);
    expect(pager.notices.at(-1)).toMatchObject({ runId: 'died', task: { kind: 'hand-off', step: 'send-email' } });
    const died = (await flow.status('died'))!;
    expect(died).toMatchObject({ status: 'awaiting_human', owner: undefined });
    expect(died.audit!.map((e) => `${e.kind}:${e.outcome ?? ''}`)).toEqual(['hand-off:', 'notification:delivered']);
    // Nobody is told twice; a decided run is not told at all.
    expect(await flow.notifyPending()).toEqual([]);
    expect(await flow.notify('died')).toBe(false);
    await flow.decide('told', { outcome: 'reject', by: 'ada' });
    expect(await flow.notify('told')).toBe(false);
    expect(pager.calls).toBe(4);
  });

  it.each([
    ['fails (nothing written)', false],
    ['fails after it took effect (outcome unknown)', true],
  ])(
    'a late notification whose record write %s: recorded once, the person told once, the lease given up',
    async (_, tookEffect) => {
      const store = new MemoryWorkflowStore();
      const pager = recorder();
      const flow = report([], { store, onFailure: 'hand-off', notifiers: [pager], notify: noWait });
      await expect(flow.run('w', { to: 'x@y.invalid' })).rejects.toBeInstanceOf(WorkflowAwaitingHumanError);
      const { run, version } = (await store.load('w'))!;
      await store.save(
        { ...run, audit: run.audit!.filter((e) => e.kind !== 'notification'), owner: 'dead', leaseExpiresAt: 1 },
        version,
      );
      // The first write after the notifier was called (the one recording it) fails.
      const save = store.save.bind(store);
      let failNext = false;
      let failed = 0;
      store.save = async (next, expected) => {
        if (failNext && next.audit?.some((e) => e.kind === 'notification')) {
          failNext = false;
          failed++;
          if (tookEffect) await save(next, expected);
          throw new Error('store down');
        }
        return save(next, expected);
      };
      const notify = pager.notify.bind(pager);
      pager.notify = (notice, options) => {
        failNext = true;
        return notify(notice, options);
      };
      expect(await flow.notifyPending()).toEqual(['w']);
      expect(failed).toBe(1);
      expect(pager.calls).toBe(2); // once at the hand-off, once late
      const after = (await flow.status('w'))!;
      expect(after).toMatchObject({ status: 'awaiting_human', owner: undefined });
      expect(after.audit!.filter((e) => e.kind === 'notification').map((e) => e.outcome)).toEqual(['delivered']);
      expect(await flow.notifyPending()).toEqual([]);
    },
  );

  it('a notifier that was down: notifyPending tells again a minute after the failed round, then two; once delivered, never again', async () => {
    const clock = manualClock();
    let up = false;
    const pager = {
      name: 'pager',
      calls: 0,
      notify() {
        pager.calls++;
        if (!up) throw new Error('pager down');
      },
    };
    const flow = workflow(
      'w',
      async (ctx) => ctx.step('s', () => Promise.reject(new Error('no')), { onFailure: 'hand-off', retry: { maxRetries: 0 } }),
      { store: new MemoryWorkflowStore({ clock }), clock, notifiers: [pager], notify: noWait },
    );
    await expect(flow.run('q', undefined)).rejects.toBeInstanceOf(WorkflowAwaitingHumanError);
    expect(pager.calls).toBe(3); // one round of three attempts, failed
    clock.advance(59_999);
    expect(await flow.notifyPending()).toEqual([]);
    clock.advance(1);
    expect(await flow.notifyPending()).toEqual(['q']); // the second round, failed too
    expect(pager.calls).toBe(6);
    clock.advance(60_000);
    expect(await flow.notifyPending()).toEqual([]); // the third is due two minutes after
    clock.advance(60_000);
    up = true;
    expect(await flow.notifyPending()).toEqual(['q']);
    expect(pager.calls).toBe(7);
    clock.advance(3_600_000);
    expect(await flow.notifyPending()).toEqual([]);
    expect(await flow.notify('q')).toBe(false);
    expect((await flow.audit('q')).map((e) => `${e.kind}:${e.outcome ?? ''}`)).toEqual([
      'hand-off:',
      'notification:failed',
      'notification:failed',
      'notification:delivered',
    ]);
  });

  it('a resume without a decision re-runs a handed-off step (the resumer approves it as it is)', async () => {
    const log: string[] = [];
    let to = 'a@b.invalid';
    const flow = workflow('w', async (ctx) =>
      ctx.step('s', () => (log.push(to), to.endsWith('.invalid') ? Promise.reject(new Error('no')) : to), {
        onFailure: 'hand-off',
      }),
    );
    await expect(flow.run('r', undefined)).rejects.toBeInstanceOf(WorkflowAwaitingHumanError);
    to = 'a@b.com';
    await expect(flow.resume('r', { by: 'ops' })).resolves.toBe('a@b.com');
    expect((await flow.audit('r')).map((e) => `${e.kind}:${e.by ?? ''}`)).toEqual(['hand-off:', 'decision:ops', 'resume:ops']);
  });

  it('reject compensates the completed steps', async () => {
    const log: string[] = [];
    const flow = report(log, { onFailure: 'hand-off' });
    await expect(flow.run('q5', { to: 'x@y.invalid' })).rejects.toBeInstanceOf(WorkflowAwaitingHumanError);
    await flow.decide('q5', { outcome: 'reject', by: 'ada', note: 'not this quarter' });
    const error = (await flow.resume('q5').catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(error.status).toBe('compensated');
    expect(error.cause).toBeInstanceOf(ApprovalRejectedError);
    expect(log.at(-1)).toBe('delete report');
    expect((await flow.audit('q5')).map((e) => e.kind)).toEqual(['hand-off', 'decision', 'compensation']);
  });
});

describe('approvals', () => {
  useTracing();

  /** Two approvals in one run, each gating an effect. */
  function payout(log: string[], store = new MemoryWorkflowStore()) {
    return workflow(
      'payout',
      async (ctx, input: { amount: number }) => {
        const plan = await ctx.step('plan', () => (log.push('plan'), { amount: input.amount }), {
          compensate: () => log.push('undo plan'),
        });
        const first = await ctx.requestApproval('manager', { summary: `Pay ${plan.amount}?`, payload: plan });
        await ctx.step('pay', () => (log.push(`pay ${first.payload.amount}`), 'paid'), { compensate: () => log.push('refund') });
        const second = await ctx.requestApproval('finance', { summary: 'Book it?' });
        await ctx.step('book', () => log.push(`book by ${second.by}`));
        return first.payload.amount;
      },
      { store },
    );
  }

  it('an approval told late (its worker died notifying) links to the trace that asked; a workflow without notifiers has nobody to tell', async () => {
    const store = new MemoryWorkflowStore();
    const pager = recorder();
    const flow = workflow('ask', async (ctx) => (await ctx.requestApproval('go', { summary: 'Go?' })).by, {
      store,
      notifiers: [pager],
    });
    await expect(flow.run('a1', undefined)).rejects.toBeInstanceOf(WorkflowAwaitingHumanError);
    const asked = pager.notices[0]!.traceUrl;
    expect(asked).toMatch(/\/trace\/[0-9a-f]{32}$/);
    const { run, version } = (await store.load('a1'))!;
    const audit = run.audit!.filter((e) => e.kind !== 'notification');
    await store.save({ ...run, audit, owner: 'dead-worker', leaseExpiresAt: Date.now() - 1 }, version);
    expect(await flow.notifyPending()).toEqual(['a1']);
    expect(pager.notices[1]).toMatchObject({ kind: 'approval', task: { id: 'go', notifiers: ['test'] }, traceUrl: asked });

    const unwatched = workflow('ask', async (ctx) => (await ctx.requestApproval('go', { summary: 'Go?' })).by, { store });
    await expect(unwatched.run('a2', undefined)).rejects.toBeInstanceOf(WorkflowAwaitingHumanError);
    const before = (await store.load('a2'))!;
    expect(await unwatched.notifyPending()).toEqual([]);
    expect(await unwatched.notify('a2')).toBe(false);
    expect((await store.load('a2'))!.version).toBe(before.version); // not even claimed
  });

  it('two approvals in one run: each suspends once, the decisions are matched by name, edits replace the payload', async () => {
    const log: string[] = [];
    const flow = payout(log);
    const first = (await flow.run('p1', { amount: 100 }).catch((e: unknown) => e)) as WorkflowAwaitingHumanError;
    expect(first.task).toMatchObject({ id: 'manager', kind: 'approval', request: { summary: 'Pay 100?' } });
    // Resuming before anyone decided asks nobody twice and runs nothing.
    await expect(flow.resume('p1')).rejects.toBeInstanceOf(WorkflowAwaitingHumanError);
    expect(log).toEqual(['plan']);
    await flow.decide('p1', { outcome: 'edit', by: 'mia', payload: { amount: 90 } });
    const second = (await flow.resume('p1').catch((e: unknown) => e)) as WorkflowAwaitingHumanError;
    expect(second.task.id).toBe('finance');
    expect(log).toEqual(['plan', 'pay 90']);
    await flow.decide('p1', { outcome: 'approve', by: 'fin' });
    await expect(flow.resume('p1')).resolves.toBe(90);
    expect(log).toEqual(['plan', 'pay 90', 'book by fin']);
    expect((await flow.audit('p1')).map((e) => `${e.kind}:${e.task ?? ''}`)).toEqual([
      'approval-requested:manager',
      'decision:manager',
      'resume:manager',
      'approval-requested:finance',
      'decision:finance',
      'resume:finance',
    ]);
  });

  it('a rejected approval compensates what ran before it', async () => {
    const log: string[] = [];
    const flow = payout(log);
    await flow.run('p2', { amount: 5 }).catch(() => {});
    await flow.decide('p2', { outcome: 'edit', by: 'mia', payload: { amount: 4 } });
    await flow.resume('p2').catch(() => {});
    await flow.decide('p2', { outcome: 'reject', by: 'fin' });
    await expect(flow.resume('p2')).rejects.toMatchObject({ status: 'compensated', cause: { code: 'APPROVAL_REJECTED' } });
    expect(log).toEqual(['plan', 'pay 4', 'refund', 'undo plan']);
  });

  it('refuses decisions on runs that do not wait, and bad decisions', async () => {
    const flow = payout([]);
    await expect(flow.decide('none', { outcome: 'approve', by: 'a' })).rejects.toThrow('no such run');
    await flow.run('p3', { amount: 1 }).catch(() => {});
    await expect(flow.decide('p3', { outcome: 'edit', by: 'a' })).rejects.toThrow(TypeError);
    await expect(flow.decide('p3', { outcome: 'maybe' as 'approve', by: 'a' })).rejects.toThrow(TypeError);
    await expect(flow.decide('p3', { outcome: 'approve', by: '' })).rejects.toThrow(TypeError);
  });
});

describe('hand-off records', () => {
  it('a run awaiting a person without the task it awaits is corrupt, not a silent answer', async () => {
    const { storedRunProblem } = await import('../../src/workflow/workflow-store.js');
    const run = { runId: 'r', workflow: 'w', status: 'awaiting_human', input: 1, steps: {}, compensated: [], updatedAt: 1 };
    expect(storedRunProblem({ version: 1, run })).toBe('awaiting_human without the task it awaits');
    expect(storedRunProblem({ version: 1, run: { ...run, awaiting: 'a', human: { a: {} } } })).toBeUndefined();
    expect(storedRunProblem({ version: 1, run: { ...run, status: 'running', audit: {} } })).toBe('audit is not a list');
  });

  it('compensate gives up a run that waits for a person', async () => {
    const log: string[] = [];
    const flow = report(log, { onFailure: 'hand-off' });
    await expect(flow.run('c', { to: 'x@y.invalid' })).rejects.toBeInstanceOf(WorkflowAwaitingHumanError);
    await expect(flow.compensate('c')).rejects.toMatchObject({ status: 'compensated' });
    expect(log.at(-1)).toBe('delete report');
    expect(await flow.status('c')).toMatchObject({ status: 'compensated', awaiting: undefined });
  });
});

describe('requestApproval', () => {
  it('is refused inside a step (a step would retry the suspension): a TypeError naming both', async () => {
    const flow = workflow('w', async (ctx) => ctx.step('s', () => ctx.requestApproval('ok', { summary: 'go?' })));
    await expect(flow.run('r', undefined)).rejects.toMatchObject({
      status: 'compensated',
      cause: {
        name: 'TypeError',
        message: 'Approval "ok" is requested inside step "s": request it from the workflow body, between steps',
      },
    });
  });
});

describe('a hand-off whose notification was never recorded', () => {
  it('is notified by the next execution that finds the run waiting (the one that handed off died notifying)', async () => {
    const store = new MemoryWorkflowStore();
    const pager = recorder();
    const flow = report([], { store, onFailure: 'hand-off', notifiers: [pager], notify: noWait });
    await flow.run('n', { to: 'x@y.invalid' }).catch(() => {});
    // As a kill -9 during the notification leaves it: the hand-off stored, no notification entry.
    const loaded = (await store.load('n'))!;
    await store.save({ ...loaded.run, audit: loaded.run.audit!.filter((e) => e.kind !== 'notification') }, loaded.version);
    await expect(flow.run('n', { to: 'x@y.invalid' })).rejects.toBeInstanceOf(WorkflowAwaitingHumanError);
    expect(pager.notices).toHaveLength(2);
    // Once recorded, nobody is told twice.
    await expect(flow.run('n', { to: 'x@y.invalid' })).rejects.toBeInstanceOf(WorkflowAwaitingHumanError);
    expect(pager.notices).toHaveLength(2);
    expect((await flow.audit('n')).map((e) => e.kind)).toEqual(['hand-off', 'notification']);
  });
});

describe('a run that fails outside any step', () => {
  it('hands off as "(body)" with onFailure hand-off, and resumes by running the body again', async () => {
    let broken = true;
    const flow = workflow(
      'w',
      async (ctx) => {
        const a = await ctx.step('a', () => 1);
        if (broken) throw new RangeError('bad plan');
        return a + 1;
      },
      { onFailure: 'hand-off' },
    );
    const error = (await flow.run('b', undefined).catch((e: unknown) => e)) as WorkflowAwaitingHumanError;
    expect(error.task).toMatchObject({
      id: 'hand-off:(body):1',
      step: '(body)',
      incident: { step: undefined, lastCompletedStep: 'a', error: { type: 'RangeError' } },
    });
    broken = false;
    await expect(flow.resume('b', { by: 'ops' })).resolves.toBe(2);
  });
});

describe('hand-off options', () => {
  it('are checked at construction, naming the option', () => {
    expect(() => workflow('w', async () => 1, { onFailure: 'page-someone' as 'keep' })).toThrow(/workflow\.onFailure/);
    expect(() => workflow('w', async () => 1, { notifiers: [{ name: 'x' } as Notifier] })).toThrow(/workflow\.notifiers/);
    expect(() => workflow('w', async () => 1, { notify: { timeoutMs: 0 } })).toThrow(/workflow\.notify\.timeoutMs/);
    expect(() => workflow('w', async () => 1, { notify: { retries: 2 } as never })).toThrow(/workflow\.notify\.retries/);
    expect(() => workflow('w', async () => 1, { notify: { retry: { maxRetries: -1 } } })).toThrow(RangeError);
  });
});
