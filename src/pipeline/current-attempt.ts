import { AsyncLocalStorage } from 'node:async_hooks';
import type { ExecutionContext } from '../policies/context.js';

const storage = new AsyncLocalStorage<ExecutionContext>();

/**
 * The context of the attempt running now, inside a `@resilient` method or a function
 * run by a {@link ResiliencePipeline}: `{ attempt, signal, operation, deadline }`.
 * Pass `currentAttempt()?.signal` to `fetch` or the openai SDK so timeouts and the
 * caller's abort cancel the request. Undefined outside such a call.
 */
export function currentAttempt(): ExecutionContext | undefined {
  return storage.getStore();
}

/** Runs `fn` with `ctx` as the current attempt. */
export function withAttempt<T>(ctx: ExecutionContext, fn: () => T): T {
  return storage.run(ctx, fn);
}
