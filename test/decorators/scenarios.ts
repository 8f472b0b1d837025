/**
 * Decorated classes compiled twice by tsc — once as TC39 standard decorators, once with
 * `experimentalDecorators` — and exercised by the same tests (decorators.test.ts).
 */

import 'reflect-metadata';
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

/** A decorator like NestJS's `@Get(path)`: reflect metadata and an own property on the method function. */
export function route(path: string) {
  return (value: unknown, keyOrContext: unknown, descriptor?: PropertyDescriptor): any => {
    const method = (descriptor?.value ?? value) as object;
    Reflect.defineMetadata('path', path, method);
    Object.defineProperty(method, 'routeTag', { value: `GET ${path}`, configurable: true });
    return descriptor ?? (typeof keyOrContext === 'object' ? value : undefined);
  };
}

export class Controller {
  @trace()
  @resilient({ retry: false })
  @route('/above')
  async above(): Promise<string> {
    return 'above';
  }

  @route('/below')
  @resilient({ retry: false })
  @trace()
  async below(): Promise<string> {
    return 'below';
  }
}

/** Hands back whatever `observe` makes (an rxjs Observable in the test) as a NestJS handler would. */
export class Streams {
  constructor(readonly observe: () => unknown) {}

  // Typed as a promise only to get past the compile-time check, as plain JavaScript would.
  @resilient({ retry: { maxRetries: 2, baseDelayMs: 0 } })
  results(): Promise<unknown> {
    return this.observe() as Promise<unknown>;
  }
}

export class Detached {
  @trace()
  run(): string {
    return 'detached';
  }

  @trace()
  static make(): string {
    return 'made';
  }
}

export class Refused {
  // @ts-expect-error @resilient refuses, at compile time, a method that does not return a promise
  @resilient({ retry: false })
  sync(): number {
    return 1;
  }
}
