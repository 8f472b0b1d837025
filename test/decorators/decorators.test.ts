/**
 * The same scenarios against both decorator flavours, each compiled by tsc
 * (`npm run build:fixtures` writes build/tc39 and build/legacy).
 */
import 'reflect-metadata';
import { of } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
// @ts-expect-error the fixture builds emit JavaScript only; typed as `Scenarios` below
import * as legacy from '../../build/legacy/test/decorators/scenarios.js';
// @ts-expect-error the fixture builds emit JavaScript only; typed as `Scenarios` below
import * as tc39 from '../../build/tc39/test/decorators/scenarios.js';
import { installTestTracing, type SpanRecorder } from '../../src/testing/index.js';

type Scenarios = typeof import('./scenarios.js');

describe.each([
  ['TC39 standard', tc39 as Scenarios],
  ['legacy experimentalDecorators', legacy as Scenarios],
])('%s decorators', (_flavour, s) => {
  let recorder: SpanRecorder;
  beforeEach(() => {
    recorder = installTestTracing();
  });
  afterEach(() => recorder.uninstall());

  it('keeps a sync method sync, with this, name and length preserved', () => {
    const tools = new s.Tools();
    const result = tools.add(2, 3);
    expect(result).toBe(5);
    expect(tools.calls).toBe(1);
    expect(tools.add.name).toBe('add');
    expect(tools.add.length).toBe(2);
    expect(recorder).toHaveSpan('Tools.add', {
      status: 'unset',
      attributes: { 'code.function.name': 'Tools.add' },
      parent: null,
    });
  });

  it('ends the span when the promise settles and records opted-in attributes only', async () => {
    const promise = new s.Tools().lookup('Oslo');
    expect(recorder.spans()).toHaveLength(0);
    expect(await promise).toBe('sunny in Oslo');
    expect(recorder).toHaveSpan('tools.lookup', { attributes: { 'app.city': 'Oslo' } });
  });

  it('records a sync throw and rethrows it unchanged', () => {
    const tools = new s.Tools();
    let thrown: unknown;
    try {
      tools.explode();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(s.HttpError);
    expect(recorder).toHaveSpan('Tools.explode', {
      status: 'error',
      attributes: { 'error.type': '400' },
      events: ['exception'],
    });
  });

  it('records a rejection and passes the same error through', async () => {
    await expect(new s.Tools().reject()).rejects.toMatchObject({ status: 503 });
    expect(recorder).toHaveSpan('Tools.reject', { status: 'error', attributes: { 'error.type': '503' } });
  });

  it('keeps an async generator span open until iteration ends', async () => {
    const stream = new s.Tools().stream(3);
    const tokens: string[] = [];
    for await (const token of stream) {
      tokens.push(token);
      expect(recorder.byName('Tools.stream')).toHaveLength(0);
    }
    expect(tokens).toEqual(['t0', 't1', 't2']);
    expect(recorder).toHaveSpan('Tools.stream', { status: 'unset', times: 1 });
  });

  it('ends a generator span when the consumer breaks out early', () => {
    const seen: number[] = [];
    for (const n of new s.Tools().count(10)) {
      seen.push(n);
      if (n === 2) break;
    }
    expect(seen).toEqual([1, 2]);
    expect(recorder).toHaveSpan('Tools.count', { times: 1 });
  });

  it('names static and inherited methods after the declaring class', () => {
    expect(s.Tools.version()).toBe('1');
    expect(new s.Child().run()).toBe('base');
    expect(recorder).toHaveSpan('Tools.version');
    expect(recorder).toHaveSpan('Base.run');
  });

  it('retries a transient failure with one span per attempt and currentAttempt()', async () => {
    const llm = new s.Llm(2);
    expect(await llm.complete('hi')).toBe('echo hi');
    expect(llm.seen).toEqual([1, 2, 3]);
    expect(recorder).toHaveSpan('Llm.complete', {
      status: 'unset',
      attributes: { 'resilience.attempts': 3, 'resilience.outcome': 'success' },
      events: [
        { name: 'resilience.retry', attributes: { 'resilience.attempt': 1, 'resilience.retry.delay_ms': 0 } },
        { name: 'resilience.retry', attributes: { 'resilience.attempt': 2, 'error.type': '503' } },
      ],
    });
    for (const n of [1, 2]) {
      expect(recorder).toHaveSpan('Llm.complete attempt', {
        status: 'error',
        attributes: { 'resilience.attempt': n, 'error.type': '503' },
        parent: 'Llm.complete',
      });
    }
    expect(recorder).toHaveSpan('Llm.complete attempt', {
      status: 'unset',
      attributes: { 'resilience.attempt': 3 },
      parent: 'Llm.complete',
    });
  });

  it('opens a shared breaker and records the transition on the call that caused it', async () => {
    s.breaker.reset();
    const llm = new s.Llm(0);
    await expect(llm.guarded()).rejects.toMatchObject({ status: 502 });
    await expect(llm.guarded()).rejects.toMatchObject({ status: 502 });
    await expect(llm.guarded()).rejects.toMatchObject({ code: 'BROKEN_CIRCUIT' });
    const [first, second, third] = recorder.byName('llm.guarded');
    expect(first!.events.map((e) => e.name)).toEqual(['exception']);
    expect(second!.events.map((e) => e.name)).toContain('resilience.circuit_breaker.state_change');
    expect(third!.events.map((e) => e.name)).toContain('resilience.circuit_breaker.rejected');
    expect(third!.attributes['resilience.outcome']).toBe('rejected');
  });

  it('@idempotent runs once per key, with `this` and the key namespaced by Class.method', async () => {
    const mailer = new s.Mailer();
    expect(await mailer.send('ada')).toBe('sent with Mailer.send:ada');
    expect(await mailer.send('ada')).toBe('sent with Mailer.send:ada');
    expect(mailer.sent).toEqual(['ada']);
  });
  it.each(['above', 'below'] as const)('carries reflect metadata and own properties of a decorator written %s', async (where) => {
    const controller = new s.Controller();
    const method = controller[where];
    expect(Reflect.getMetadata('path', method)).toBe(`/${where}`);
    expect((method as unknown as { routeTag: string }).routeTag).toBe(`GET /${where}`);
    expect(await method.call(controller)).toBe(where);
    expect(recorder).toHaveSpan(`Controller.${where}`, { attributes: { 'resilience.outcome': 'success' } });
  });

  it('fails a method returning an Observable with a TypeError naming firstValueFrom, without retrying', async () => {
    let made = 0;
    const streams = new s.Streams(() => {
      made++;
      return of(1);
    });
    await expect(streams.results()).rejects.toThrow(
      new TypeError(
        '@resilient Streams.results returned an Observable, which runs only when subscribed, after the policy ended. ' +
          'Return a promise instead: `return firstValueFrom(observable)` (rxjs), or `lastValueFrom` for the last value.',
      ),
    );
    expect(made).toBe(1);
  });

  it('names detached calls Class.method, resolved when the class is defined or constructed', () => {
    const { run } = new s.Detached();
    const { make } = s.Detached;
    expect(run()).toBe('detached');
    expect(make()).toBe('made');
    expect(recorder.spans().map((span) => span.name)).toEqual(['Detached.run', 'Detached.make']);
  });
});
