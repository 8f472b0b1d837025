import type { Reporter } from '../telemetry/events.js';

/**
 * What a policy-run function receives: `policy.execute((ctx) => work(ctx.signal))`.
 * Inside a `@resilient` method the same object is returned by `currentAttempt()`.
 */
export interface ExecutionContext {
  /** Attempt number, 1-based (always 1 without retry). */
  readonly attempt: number;
  /**
   * Aborts when the caller's signal aborts or a timeout fires; pass it to `fetch`,
   * the openai SDK, database drivers.
   */
  readonly signal: AbortSignal;
  /** Name of the operation (`Class.method`, the `name` option, or `'execute'`). */
  readonly operation: string;
  /** Time (ms, policy clock) by which the total timeout fires; `Infinity` without one. */
  readonly deadline: number;
  /** Where policies report what they do (span events of the call). */
  readonly report: Reporter;
}

/** Options of `execute` on every policy and pipeline. */
export interface ExecuteOptions {
  /** The caller's cancellation: the call rejects with its reason once it aborts. */
  readonly signal?: AbortSignal;
  /** Operation name for `ctx.operation` and telemetry. */
  readonly operation?: string;
}

/** A unit of work under a policy. */
export type Work<T> = (ctx: ExecutionContext) => PromiseLike<T> | T;

/** A resilience strategy that can wrap the rest of a pipeline. */
export interface Policy {
  /**
   * Runs `next` under this policy. `ctx` is the context of the enclosing policy;
   * `next` receives the (possibly derived) context this policy hands inwards.
   */
  run<T>(ctx: ExecutionContext, next: (ctx: ExecutionContext) => Promise<T>): Promise<T>;
}

const neverAborted = new AbortController().signal;
const ignore: Reporter = () => {};

/** The context a call starts with. */
export function rootContext(options: ExecuteOptions | undefined, report: Reporter = ignore): ExecutionContext {
  return {
    attempt: 1,
    signal: options?.signal ?? neverAborted,
    operation: options?.operation ?? 'execute',
    deadline: Infinity,
    report,
  };
}

/** Calls `work` and always returns a promise, turning a synchronous throw into a rejection. */
export function invoke<T>(work: Work<T>, ctx: ExecutionContext): Promise<T> {
  try {
    return Promise.resolve(work(ctx));
  } catch (error) {
    return Promise.reject(error);
  }
}
