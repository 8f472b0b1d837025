import { type Attributes, context, trace as otelTrace, type Span, type SpanKind } from '@opentelemetry/api';
import { failSpan } from '../policies/child-span.js';
import { functionOption, knownOptions, numberOption, stringOption } from '../policies/validate.js';
import * as names from '../telemetry/names.js';
import { getTracer } from '../telemetry/spans.js';
import { type AnyFunction, methodDecorator, type NameOf, preserveShape } from './method.js';

/** Options of {@link trace} and {@link traced}. */
export interface TraceOptions<A extends unknown[] = unknown[], R = unknown> {
  /** Span name (default `Class.method`, or the function's name). Also `code.function.name`. */
  readonly name?: string;
  /** Span kind (default `INTERNAL`). */
  readonly kind?: SpanKind;
  /**
   * Attributes computed from the call's arguments, set when the span starts. Nothing
   * about arguments is recorded unless you ask: arguments may hold secrets and large
   * payloads. Errors thrown here are ignored.
   */
  readonly attributes?: (args: A) => Attributes;
  /**
   * Attributes computed from the result (the awaited value for promises; not called for
   * iterators). Errors thrown here are ignored.
   */
  readonly resultAttributes?: (result: Awaited<R>) => Attributes;
}

function safeAttributes<T>(fn: ((value: T) => Attributes) | undefined, value: T): Attributes | undefined {
  if (fn === undefined) return undefined;
  try {
    return fn(value);
  } catch {
    return undefined;
  }
}

function fail(span: Span, error: unknown): void {
  failSpan(span, error);
  span.end();
}

function succeed(span: Span, options: TraceOptions<any, any>, result: unknown): void {
  try {
    const attributes = safeAttributes(options.resultAttributes, result);
    if (attributes !== undefined) span.setAttributes(attributes);
    span.end();
  } catch {
    // Instrumentation must never break the user's call.
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  );
}

type Iter = Iterator<unknown> | AsyncIterator<unknown>;

/** Generator-like: has `next` and is its own (async) iterable. */
function isIterator(value: unknown): value is Iter & object {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Iter).next === 'function' &&
    (Symbol.asyncIterator in value || Symbol.iterator in value)
  );
}

/**
 * Wraps a generator (sync or async) so the span stays open until iteration ends: it
 * ends on `done`, on an error, or on `return()` (a `break` out of `for await`). Each
 * step runs inside the span's context. Other properties come from the original through
 * the prototype chain.
 */
function traceIterator(iterator: Iter & object, span: Span, spanContext: ReturnType<typeof context.active>): object {
  let open = true;
  const close = (error?: unknown, failed = false) => {
    if (!open) return;
    open = false;
    if (failed) fail(span, error);
    else span.end();
  };
  const step = (method: 'next' | 'return' | 'throw', args: unknown[]) => {
    const fn = (iterator as unknown as Record<string, AnyFunction | undefined>)[method];
    if (fn === undefined) {
      close();
      if (method === 'throw') throw args[0];
      return { done: true, value: args[0] };
    }
    let result: unknown;
    try {
      result = context.with(spanContext, () => fn.apply(iterator, args));
    } catch (error) {
      close(error, true);
      throw error;
    }
    const settle = (r: IteratorResult<unknown>) => {
      if (r.done || method === 'return') close();
      return r;
    };
    if (isThenable(result)) {
      return Promise.resolve(result).then(settle as (r: unknown) => unknown, (error: unknown) => {
        close(error, true);
        throw error;
      });
    }
    return settle(result as IteratorResult<unknown>);
  };
  const wrapped = Object.create(iterator) as Record<string | symbol, unknown>;
  wrapped.next = (...args: unknown[]) => step('next', args);
  wrapped.return = (...args: unknown[]) => step('return', args);
  wrapped.throw = (...args: unknown[]) => step('throw', args);
  if (Symbol.asyncIterator in iterator) wrapped[Symbol.asyncIterator] = () => wrapped;
  else wrapped[Symbol.iterator] = () => wrapped;
  return wrapped;
}

/**
 * The traced replacement of `fn`. One span per call; the return value is passed through
 * unchanged: a sync result stays sync, a promise is returned as is (the span ends when
 * it settles), a generator's span stays open until iteration ends.
 */
/**
 * Checks {@link TraceOptions} at decoration time.
 * @throws TypeError/RangeError naming the option
 */
function checkTraceOptions(options: TraceOptions<any, any>): void {
  knownOptions('', options, ['name', 'kind', 'attributes', 'resultAttributes']);
  if (options.name !== undefined) stringOption('name', options.name, '');
  if (options.kind !== undefined && numberOption('kind', options.kind, 0, { integer: true }) > 4) {
    throw new RangeError(`Invalid option kind: expected a SpanKind (0-4), got ${options.kind}`);
  }
  functionOption('attributes', options.attributes);
  functionOption('resultAttributes', options.resultAttributes);
}

function wrapTraced(fn: AnyFunction, nameOf: NameOf, options: TraceOptions<any, any>): AnyFunction {
  checkTraceOptions(options);
  let lastName: string | undefined;
  let lastAttributes: Attributes | undefined;
  /** `code.function.name` attributes, built once per name when there are no extras. */
  const attributesOf = (name: string, args: unknown[]): Attributes => {
    const extra = safeAttributes(options.attributes, args);
    if (extra !== undefined) return { [names.ATTR_CODE_FUNCTION_NAME]: name, ...extra };
    if (name !== lastName) {
      lastName = name;
      lastAttributes = Object.freeze({ [names.ATTR_CODE_FUNCTION_NAME]: name });
    }
    return lastAttributes!;
  };
  const wrapper = function (this: unknown, ...args: unknown[]) {
    const tracer = getTracer();
    if (tracer === undefined) return fn.apply(this, args); // no SDK: nothing to record
    let span: Span;
    let spanContext: ReturnType<typeof context.active>;
    try {
      const name = options.name ?? nameOf(this);
      const parent = context.active();
      span = tracer.startSpan(name, { kind: options.kind, attributes: attributesOf(name, args) }, parent);
      spanContext = otelTrace.setSpan(parent, span);
    } catch {
      return fn.apply(this, args);
    }
    let result: unknown;
    try {
      result = context.with(spanContext, () => fn.apply(this, args));
    } catch (error) {
      fail(span, error);
      throw error;
    }
    try {
      if (isThenable(result)) {
        result.then(
          (value) => succeed(span, options, value),
          (error: unknown) => fail(span, error),
        );
        return result;
      }
      if (isIterator(result)) return traceIterator(result, span, spanContext);
      succeed(span, options, result);
    } catch {
      // Instrumentation must never break the user's call.
    }
    return result;
  };
  return preserveShape(wrapper, fn);
}

/**
 * Method decorator: one OpenTelemetry span per call, named `Class.method` (the class
 * that declares the method) unless `options.name` is given, with `code.function.name`.
 * Works as a TC39 standard decorator and as a legacy `experimentalDecorators` one.
 *
 * Sync methods stay sync; a returned promise is passed through and ends the span when
 * it settles; a returned generator or async generator keeps the span open until
 * iteration ends (streamed LLM tokens). A thrown or rejected error sets status Error,
 * `error.type` and an exception event, then reaches the caller unchanged. `this`,
 * the method's `name` and `length` are preserved. If the instrumentation itself fails,
 * the method runs untraced. Nothing about arguments or results is recorded unless
 * `attributes` / `resultAttributes` ask for it.
 *
 * @example
 * class Weather { @trace() async forecast(city: string) { ... } }
 * @throws TypeError when applied to something other than a method
 */
export function trace(options: TraceOptions = {}) {
  return methodDecorator('trace', (method, nameOf) => wrapTraced(method, nameOf, options));
}

/**
 * Function form of {@link trace}: returns `fn` wrapped so every call is one span,
 * named `options.name`, else `fn.name`, else `'anonymous'`.
 */
export function traced<F extends AnyFunction>(fn: F, options: TraceOptions<Parameters<F>, ReturnType<F>> = {}): F {
  if (typeof fn !== 'function') throw new TypeError(`traced(fn): expected a function, got ${typeof fn}`);
  const name = options.name ?? (fn.name || 'anonymous');
  return wrapTraced(fn, () => name, options) as F;
}
