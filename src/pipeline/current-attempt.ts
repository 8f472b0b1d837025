import { AsyncLocalStorage } from 'node:async_hooks';
import { context, createContextKey } from '@opentelemetry/api';
import type { AttemptScope, ExecutionContext } from '../policies/context.js';

const storage = new AsyncLocalStorage<AttemptScope>();

/**
 * Whether calls not traced through an OpenTelemetry context manager publish their
 * attempt in async-local storage. Off until `otel-resilience/context` is loaded: one
 * `AsyncLocalStorage.run` costs about as much as all the policies of a call, and
 * nobody can read the attempt before importing {@link currentAttempt}.
 */
let published = false;

/** Turns on publishing for every call started from now on (what loading `otel-resilience/context` does). */
export function publishAttempts(): void {
  published = true;
}

/**
 * Whether attempts are published for `currentAttempt()` at all: nothing can read one
 * before `otel-resilience/context` is loaded, so until then no call publishes it, traced
 * or not.
 */
export function publishing(): boolean {
  return published;
}

/**
 * Where a traced call keeps its {@link AttemptScope}: in the OpenTelemetry context that
 * also makes its spans active, so tracing adds no second context switch. Untraced calls
 * (or tracing without a context manager) use an AsyncLocalStorage instead.
 */
export const ATTEMPT_KEY = createContextKey('otel-resilience attempt');

/**
 * The context of the attempt running now: `{ attempt, signal, operation, deadline }`
 * (`attempt` 1-based; `signal` aborts when a timeout fires or the caller aborts;
 * `deadline` in ms of the policy clock, `Infinity` without a total timeout). Pass
 * `currentAttempt()?.signal` to `fetch`, the openai SDK or a database driver so a
 * timed-out attempt stops its request. Correct after `await`s and in each of
 * overlapping attempts (hedging, an attempt abandoned by its timeout). Exported by
 * `otel-resilience/context`, whose loading turns publishing on.
 *
 * @returns the attempt's context inside a `@resilient` method or a function run by a
 *   `ResiliencePipeline`, else undefined
 */
export function currentAttempt(): ExecutionContext | undefined {
  const scope = (context.active().getValue(ATTEMPT_KEY) as AttemptScope | undefined) ?? storage.getStore();
  return scope?.current;
}

/**
 * Calls `fn(...args)` with `scope` in async-local storage, for calls not published
 * through the OpenTelemetry context; just calls it while nothing can read the scope.
 */
export function withScope<A, R>(scope: AttemptScope, fn: (arg: A) => R, arg: A): R {
  return published ? storage.run(scope, fn, arg) : fn(arg);
}
