import { AsyncLocalStorage } from 'node:async_hooks';
import { context, createContextKey } from '@opentelemetry/api';
import type { AttemptScope, ExecutionContext } from '../policies/context.js';

const storage = new AsyncLocalStorage<AttemptScope>();

/**
 * Where a traced call keeps its {@link AttemptScope}: in the OpenTelemetry context that
 * also makes its spans active, so tracing adds no second context switch. Untraced calls
 * (or tracing without a context manager) use an AsyncLocalStorage instead.
 */
export const ATTEMPT_KEY = createContextKey('otel-resilience attempt');

/**
 * The context of the attempt running now, inside a `@resilient` method or a function
 * run by a {@link ResiliencePipeline}: `{ attempt, signal, operation, deadline }`.
 * Pass `currentAttempt()?.signal` to `fetch` or the openai SDK so timeouts and the
 * caller's abort cancel the request. Undefined outside such a call.
 */
export function currentAttempt(): ExecutionContext | undefined {
  const scope = (context.active().getValue(ATTEMPT_KEY) as AttemptScope | undefined) ?? storage.getStore();
  return scope?.current;
}

/** Calls `fn(...args)` with `scope` in async-local storage (calls not published through the OpenTelemetry context). */
export function withScope<A extends unknown[], R>(scope: AttemptScope, fn: (...args: A) => R, ...args: A): R {
  return storage.run(scope, fn, ...args);
}
