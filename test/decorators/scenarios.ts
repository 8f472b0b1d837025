/**
 * Decorated classes compiled twice by tsc — once as TC39 standard decorators, once with
 * `experimentalDecorators` — and exercised by the same tests (decorators.test.ts).
 */

import { currentAttempt } from '../../src/context/index.js';
import { CircuitBreaker, currentIdempotencyKey, idempotent, resilient, trace } from '../../src/index.js';

export class HttpError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
    this.name = 'HttpError';
  }
}

export class Tools {
  calls = 0;

  @trace()
  add(a: number, b: number): number {
    this.calls++;
    return a + b;
  }

  @trace({ name: 'tools.lookup', attributes: ([city]) => ({ 'app.city': String(city) }) })
  async lookup(city: string): Promise<string> {
    return `sunny in ${city}`;
  }

  @trace()
  explode(): never {
    throw new HttpError(400);
  }

  @trace()
  async reject(): Promise<never> {
    throw new HttpError(503);
  }

  @trace()
  async *stream(tokens: number): AsyncGenerator<string> {
    for (let i = 0; i < tokens; i++) yield `t${i}`;
  }

  @trace()
  *count(to: number): Generator<number> {
    for (let i = 1; i <= to; i++) yield i;
  }

  @trace()
  static version(): string {
    return '1';
  }
}

export class Base {
  @trace()
  run(): string {
    return 'base';
  }
}

export class Child extends Base {}

export const breaker = new CircuitBreaker({ name: 'llm', failureThreshold: 2, halfOpenAfterMs: 60000 });

export class Llm {
  failuresLeft: number;
  seen: number[] = [];

  constructor(failures: number) {
    this.failuresLeft = failures;
  }

  @resilient({ retry: { maxRetries: 2, baseDelayMs: 0, jitter: 'none' } })
  async complete(prompt: string): Promise<string> {
    this.seen.push(currentAttempt()?.attempt ?? -1);
    if (this.failuresLeft-- > 0) throw new HttpError(503);
    return `echo ${prompt}`;
  }

  @resilient({ retry: false, circuitBreaker: breaker, name: 'llm.guarded' })
  async guarded(): Promise<string> {
    throw new HttpError(502);
  }
}

export class Mailer {
  sent: string[] = [];

  @idempotent({ key: ([to]) => String(to) })
  async send(to: string): Promise<string> {
    this.sent.push(to);
    return `sent with ${currentIdempotencyKey()}`;
  }
}
