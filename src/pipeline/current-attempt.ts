import { AsyncLocalStorage } from 'node:async_hooks';
import { context, createContextKey } from '@opentelemetry/api';
import type { AttemptScope, ExecutionContext } from '../policies/context.js';

const storage = new AsyncLocalStorage<ExecutionContext>();

/**
 * Where a traced attempt keeps its context: in the OpenTelemetry context that also makes
 * the attempt span active, so a traced call switches context once per attempt, not twice.
 */
export const ATTEMPT_KEY = createContextKey('otel-resilience attempt');

/**
 * The context of the attempt running now, inside a `@resilient` method or a function
 * run by a {@link ResiliencePipeline}: `{ attempt, signal, operation, deadline }`.
 * Pass `currentAttempt()?.signal` to `fetch` or the openai SDK so timeouts and the
 * caller's abort cancel the request. Undefined outside such a call.
 */
export function currentAttempt(): ExecutionContext | undefined {
  const scope = context.active().getValue(ATTEMPT_KEY) as AttemptScope | undefined;
  return scope?.current ?? storage.getStore();
}

/** Calls `fn(...args)` with `ctx` as the current attempt (for untraced attempts). */
export function withAttempt<A extends unknown[], R>(ctx: ExecutionContext, fn: (...args: A) => R, ...args: A): R {
  return storage.run(ctx, fn, ...args);
}
