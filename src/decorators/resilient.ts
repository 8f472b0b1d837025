import type { Attributes } from '@opentelemetry/api';
import { ResiliencePipeline } from '../pipeline/pipeline.js';
import { PIPELINE_OPTIONS, type ResilienceOptions } from '../pipeline/pipeline-options.js';
import { isAsyncGeneratorFunction, lazyStream } from '../pipeline/stream-source.js';
import type { Attempt, ExecutionContext } from '../policies/context.js';
import { functionOption, knownOptions } from '../policies/validate.js';
import { type AnyFunction, methodDecorator, type NameOf, preserveShape } from './method.js';

/** Options of {@link resilient}: the pipeline's, plus what only a wrapped function has. */
export interface ResilientOptions<A extends unknown[] = unknown[]> extends ResilienceOptions {
  /** Call-span attributes from the arguments (nothing is recorded by default). */
  readonly attributes?: (args: A) => Attributes;
  /** Picks the caller's `AbortSignal` out of the arguments, so aborting it cancels the call. */
  readonly signal?: (args: A) => AbortSignal | undefined;
}

function argumentsAttributes<A extends unknown[]>(options: ResilientOptions<A>, args: A): Attributes | undefined {
  if (options.attributes === undefined) return undefined;
  try {
    return options.attributes(args);
  } catch {
    return undefined;
  }
}

/** The pipeline of `options`, less the options only a wrapped function has. */
function createPipeline(options: ResilientOptions<any>): ResiliencePipeline {
  knownOptions('', options, [...PIPELINE_OPTIONS, 'attributes', 'signal']);
  const { attributes, signal, ...pipelineOptions } = options;
  functionOption('attributes', attributes);
  functionOption('signal', signal);
  return new ResiliencePipeline(pipelineOptions);
}

/** An rxjs-style Observable: subscribable, and not a promise. */
function isObservable(value: unknown): boolean {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false;
  const candidate = value as Record<PropertyKey, unknown>;
  const interop = (Symbol as { observable?: symbol }).observable;
  return (
    typeof candidate.subscribe === 'function' &&
    typeof candidate.then !== 'function' &&
    (typeof candidate['@@observable'] === 'function' ||
      (interop !== undefined && typeof candidate[interop] === 'function') ||
      typeof candidate.pipe === 'function')
  );
}

function wrapResilient(fn: AnyFunction, nameOf: NameOf, options: ResilientOptions<any>, pipeline: ResiliencePipeline) {
  const generator = isAsyncGeneratorFunction(fn);
  // One work function per wrapped method: each call's `this` and arguments travel in its Call.
  const work = (ctx: ExecutionContext) => {
    const { self, args, operation } = (ctx as Attempt).call;
    const result = fn.apply(self, args);
    if (isObservable(result)) {
      throw new TypeError(
        `@resilient ${operation} returned an Observable, which runs only when subscribed, after the policy ended. ` +
          'Return a promise instead: `return firstValueFrom(observable)` (rxjs), or `lastValueFrom` for the last value.',
      );
    }
    return result;
  };
  const wrapper = function (this: unknown, ...args: unknown[]): unknown {
    const name = options.name ?? nameOf(this);
    const input = { attributes: argumentsAttributes(options, args), signal: options.signal?.(args), args, self: this };
    // An async generator's caller iterates the result at once: it gets a stream, not a promise.
    return generator ? lazyStream(() => pipeline.call(name, work, input)) : pipeline.call(name, work, input);
  };
  return preserveShape(wrapper, fn);
}

/**
 * A method `@resilient` can decorate: one that returns a promise (the policy awaits it)
 * or a stream (an async generator or iterable: the policy reads it to its first chunk).
 */
export type AsyncMethod = (this: any, ...args: any[]) => PromiseLike<unknown> | AsyncIterable<unknown>;

/**
 * The `@resilient(...)` decorator, typed for both flavours so that decorating a method
 * that does not return a promise is a compile error (the wrapper always returns one).
 */
export interface ResilientDecorator {
  /** TC39 standard decorator. */
  <This, M extends (this: This, ...args: any[]) => PromiseLike<unknown> | AsyncIterable<unknown>>(
    method: M,
    context: ClassMethodDecoratorContext<This, M>,
  ): M;
  /** Legacy `experimentalDecorators`. */
  <M extends AsyncMethod>(
    target: object,
    key: string | symbol,
    descriptor: TypedPropertyDescriptor<M>,
  ): TypedPropertyDescriptor<M>;
}

/**
 * Makes a method or function resilient and traced: retry (default on: 3 retries,
 * exponential backoff, full jitter, transient errors only, Retry-After honoured),
 * circuit breaker, attempt and total timeouts, composed in the order of
 * {@link ResiliencePipeline}, with a call span, one child span per attempt and every
 * decision as a span event.
 *
 * Two forms:
 * - decorator: `@resilient({ retry: { maxRetries: 2 }, circuitBreaker: llmBreaker })`
 *   on an async method (TC39 standard or legacy `experimentalDecorators`); the span is
 *   named `Class.method` of the declaring class unless `name` is given;
 * - function: `resilient(fn, options)` returns an async wrapper named after `fn`.
 *
 * Inside the method, `currentAttempt()` gives the attempt number and the attempt's
 * `AbortSignal` (aborted by a timeout) to pass to `fetch` or an SDK client.
 * The result is a promise, so only methods returning one can be decorated (a compile
 * error otherwise) — or a stream: an async generator's wrapper returns an async
 * iterator at once, and a promise of a stream resolves to the guarded stream once its
 * first chunk came (see `stream` of {@link ResilienceOptions}). A method returning an rxjs Observable fails its call with a
 * TypeError telling you to return `firstValueFrom(observable)`: an Observable runs only
 * when subscribed, after the policy has ended. Other decorators' metadata on the
 * method (reflect-metadata, own properties) is carried over in either order.
 *
 * @throws TypeError/RangeError at decoration (wrapping) time for invalid options, naming
 *   the option and the value
 */
export function resilient<A extends unknown[]>(options?: ResilientOptions<A>): ResilientDecorator;
/** Function form: returns `fn` wrapped by the pipeline of `options` (see the decorator form above). */
export function resilient<F extends AsyncMethod>(fn: F, options?: ResilientOptions<Parameters<F>>): F;
export function resilient(first?: AnyFunction | ResilientOptions<any>, second?: ResilientOptions<any>): any {
  if (typeof first === 'function') {
    const options = second ?? {};
    const pipeline = createPipeline(options);
    const name = options.name ?? (first.name || 'anonymous');
    return wrapResilient(first, () => name, options, pipeline);
  }
  const options = first ?? {};
  const pipeline = createPipeline(options);
  return methodDecorator('resilient', (method, nameOf) => wrapResilient(method, nameOf, options, pipeline));
}
