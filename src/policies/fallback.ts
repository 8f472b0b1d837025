import { context } from '@opentelemetry/api';
import { errorTypeOf } from '../classify/index.js';
import * as names from '../telemetry/names.js';
import { childContext, endWhenSettled, startChildSpan } from './child-span.js';
import { type Attempt, invoke, StandalonePolicy } from './context.js';
import { functionOption, knownOptions } from './validate.js';

/** What went wrong with the primary (or a previous step): an error, or a result `shouldFallback` refused. */
export type Failure = { readonly error: unknown; readonly result?: never } | { readonly result: unknown; readonly error?: never };

/**
 * One fallback step. `handler` runs with the wrapped method's `this` and receives the
 * failure followed by the original arguments.
 */
export interface FallbackStep<R = unknown, A extends unknown[] = any[]> {
  /** Name in spans and events (default `'fallback 1'`, `'fallback 2'`, …). */
  readonly name?: string;
  readonly handler: (this: any, failure: Failure, ...args: A) => R | PromiseLike<R>;
}

/** Options of {@link FallbackPolicy}. */
export interface FallbackOptions<R = unknown, A extends unknown[] = any[]> {
  /**
   * The steps tried in order after the primary fails: a handler, a step, or an ordered
   * chain (primary model → secondary model → rule-based answer).
   */
  readonly steps:
    | FallbackStep<R, A>['handler']
    | FallbackStep<R, A>
    | ReadonlyArray<FallbackStep<R, A>['handler'] | FallbackStep<R, A>>;
  /**
   * Whether a failure should move on to the next step (default: every error, no result).
   * Never consulted for the caller's own abort, which is never a reason to fall back.
   */
  readonly shouldFallback?: (failure: Failure) => boolean;
}

const defaultShouldFallback = (failure: Failure) => 'error' in failure;

/**
 * Answers with a fallback when the primary fails: each step of the chain is tried in
 * order until one succeeds (and `shouldFallback` accepts its result). Outermost in a
 * pipeline, so it also covers rejections by the rate limiter, the breaker and the
 * total timeout; the caller's abort never triggers it. Each step runs in its own child
 * span (`<call> fallback <step>`) and is reported, once it ended, in a
 * `resilience.fallback` event on the call span: the step, why it ran
 * (`resilience.fallback.trigger`: `error.type` of the failure before it), what it did
 * (`resilience.fallback.outcome`: `answered`, `failed` with its `error.type`, or
 * `refused`), and the call's `resilience.outcome` is `fallback` when one answered. If
 * every step fails, `resilience.fallback.exhausted` is reported and the last step's
 * error is thrown.
 *
 * @throws TypeError naming the option, for invalid options
 */
export class FallbackPolicy extends StandalonePolicy {
  readonly steps: ReadonlyArray<Required<FallbackStep>>;
  private readonly shouldFallback: (failure: Failure) => boolean;

  constructor(options: FallbackOptions<any, any>) {
    super();
    knownOptions('fallback.', options ?? {}, ['steps', 'shouldFallback']);
    const raw = options?.steps;
    const list = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
    if (list.length === 0) throw new TypeError('Invalid option fallback.steps: expected a handler, a step or a non-empty chain');
    this.steps = list.map((step, i) => {
      const { name = `fallback ${i + 1}`, handler } = typeof step === 'function' ? { handler: step } : (step as FallbackStep);
      if (typeof handler !== 'function') {
        throw new TypeError(`Invalid option fallback.steps[${i}].handler: expected a function, got ${typeof handler}`);
      }
      return { name, handler };
    });
    this.shouldFallback = functionOption('fallback.shouldFallback', options.shouldFallback) ?? defaultShouldFallback;
  }

  run<T>(ctx: Attempt, next: (ctx: Attempt) => Promise<T>): Promise<T> {
    return next(ctx).then(
      (result) => (this.wants({ result }) ? this.fallBack(ctx, 0, { result }) : result),
      (error: unknown) => {
        if (ctx.slot.aborted || !this.wants({ error })) throw error;
        return this.fallBack(ctx, 0, { error });
      },
    );
  }

  private wants(failure: Failure): boolean {
    try {
      return this.shouldFallback(failure);
    } catch {
      return 'error' in failure;
    }
  }

  /**
   * Tries step `index` and, while they fail, the ones after it. Each step tried is
   * reported once it ended (`resilience.fallback`: why it ran, what it did, its error);
   * running out of steps as `resilience.fallback.exhausted`.
   */
  private fallBack<T>(ctx: Attempt, index: number, failure: Failure): Promise<T> {
    const step = this.steps[index]!;
    const call = ctx.call;
    const run = () => invoke(() => step.handler.call(call.self, failure, ...call.args) as T, ctx);
    const span = startChildSpan(call, names.fallbackSpanName(call.operation, step.name), {
      [names.ATTR_FALLBACK_NAME]: step.name,
    });
    const attempt = span === undefined ? run() : endWhenSettled(span, context.with(childContext(call, span), run), call);
    const last = index === this.steps.length - 1;
    return attempt.then(
      (result) => {
        const refused = !last && this.wants({ result });
        this.tried(ctx, step.name, failure, refused ? 'refused' : 'answered');
        if (refused) return this.fallBack(ctx, index + 1, { result });
        ctx.call.outcome = 'fallback';
        return result;
      },
      (error: unknown) => {
        this.tried(ctx, step.name, failure, 'failed', error);
        if (ctx.slot.aborted) throw error;
        if (last) {
          if (ctx.recording) ctx.report({ type: 'fallback-exhausted', steps: index + 1, errorType: errorTypeOf(error) });
          throw error;
        }
        return this.fallBack(ctx, index + 1, { error });
      },
    );
  }

  private tried(ctx: Attempt, step: string, failure: Failure, outcome: 'answered' | 'failed' | 'refused', error?: unknown): void {
    if (!ctx.recording) return;
    ctx.report({
      type: 'fallback',
      fallback: step,
      trigger: 'error' in failure ? errorTypeOf(failure.error) : 'result',
      outcome,
      errorType: outcome === 'failed' ? errorTypeOf(error) : undefined,
    });
  }
}
