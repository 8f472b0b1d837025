import type { Attributes } from '@opentelemetry/api';
import { PIPELINE_OPTIONS, type ResilienceOptions, ResiliencePipeline } from '../pipeline/pipeline.js';
import { isAsyncGeneratorFunction, lazyStream } from '../pipeline/stream.js';
import { functionOption, knownOptions } from '../policies/validate.js';
import { type AnyFunction, methodDecorator, type NameOf, preserveShape } from './method.js';

/**
 * What `@resilient` decorates: a method returning a promise, or a stream (an async
 * generator or iterable). A synchronous method is refused at compile time — its
 * decorated calls return a promise, which its type would hide.
 */
export type AsyncMethod = (this: any, ...args: any[]) => PromiseLike<unknown> | AsyncIterable<unknown>;

/** The `@resilient(...)` decorator, in both flavours (TC39 standard and legacy `experimentalDecorators`). */
export interface ResilientDecorator {
  /** TC39 standard decorator. */
  <M extends AsyncMethod>(method: M, context: ClassMethodDecoratorContext<any, M>): M;
  /** Legacy `experimentalDecorators`. */
  <M extends AsyncMethod>(target: object, key: string | symbol, descriptor: TypedPropertyDescriptor<M>): any;
}

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

function wrapResilient(fn: AnyFunction, nameOf: NameOf, options: ResilientOptions<any>, pipeline: ResiliencePipeline) {
  const generator = isAsyncGeneratorFunction(fn);
  const wrapper = function (this: unknown, ...args: unknown[]): unknown {
    const name = options.name ?? nameOf(this);
    const signal = options.signal?.(args);
    const call = () =>
      pipeline.call(name, () => fn.apply(this, args), {
        attributes: argumentsAttributes(options, args),
        signal,
        args,
        self: this,
      });
    // An async generator's caller iterates the result at once: it gets a stream, not a promise.
    return generator ? lazyStream(call) : call();
  };
  return preserveShape(wrapper, fn);
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
 * The result is always a promise.
 *
 * @throws TypeError/RangeError at decoration (wrapping) time for invalid options, naming
 *   the option and the value
 */
export function resilient<A extends unknown[]>(options?: ResilientOptions<A>): ResilientDecorator;
/** Function form: returns `fn` wrapped by the pipeline of `options` (see the decorator form above). */
export function resilient<F extends AsyncMethod>(fn: F, options?: ResilientOptions<Parameters<F>>): F;
export function resilient(first?: AnyFunction | ResilientOptions<any>, second?: ResilientOptions<any>) {
  if (typeof first === 'function') {
    const options = second ?? {};
    const pipeline = createPipeline(options);
    const name = options.name ?? (first.name || 'anonymous');
    return wrapResilient(first, () => name, options, pipeline);
  }
  const options = first ?? {};
  const pipeline = createPipeline(options);
  return methodDecorator('resilient', (method, nameOf) => wrapResilient(method, nameOf, options, pipeline)) as ResilientDecorator;
}
