import { AsyncResource } from 'node:async_hooks';
import type { Context, Span } from '@opentelemetry/api';
import type { ResilienceEvent } from '../telemetry/events.js';
import { countEvent, getInstruments, type Instruments } from '../telemetry/metrics.js';
import { activeSpan, recordEvent } from '../telemetry/spans.js';
import { knownOptions, stringOption } from './validate.js';

/**
 * What a policy-run function receives: `policy.execute((ctx) => work(ctx.signal))`.
 * Inside a `@resilient` method the same object is returned by `currentAttempt()`.
 */
export interface ExecutionContext {
  /** Attempt number, 1-based (always 1 without retry). */
  readonly attempt: number;
  /**
   * Aborts when the caller's signal aborts or a timeout fires; pass it to `fetch`,
   * the openai SDK, database drivers. Created on first read, so calls that never read
   * it pay nothing for it.
   */
  readonly signal: AbortSignal;
  /** Name of the operation (`Class.method`, the `name` option, or `'execute'`). */
  readonly operation: string;
  /** Time (ms, policy clock) by which the total timeout fires; `Infinity` without one. */
  readonly deadline: number;
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
  run<T>(ctx: Attempt, next: (ctx: Attempt) => Promise<T>): Promise<T>;
}

/**
 * A policy that admits attempts and watches their outcomes without changing them (a
 * circuit breaker). The policy right outside it (retry) can run it within its own
 * continuation — `enter` before the attempt, `exit` when it settles — so it costs no
 * promise layer of its own.
 */
export interface AttemptGuard {
  /** Admits the attempt and returns what `exit` needs; throws the rejection when it is not admitted. */
  enter(ctx: Attempt): unknown;
  /** Records how the admitted attempt ended: `ok` with its value, else with its error. */
  exit(ctx: Attempt, ticket: unknown, outcome: unknown, ok: boolean): void;
}

/**
 * What a pipeline runs right inside a retry within the retry's own continuation, so
 * none of it costs a promise layer: the guard admitting each attempt (a circuit
 * breaker), `settle`, which makes the work's value ready (reads a stream to its first
 * chunk) and returns it or a promise of it, and `ended`, told how each attempt that ran
 * ended (`ok` with its ready value, else with its error) before the guard is: the
 * pipeline ends the attempt's span there. `ended` must not throw.
 */
export interface InnerSteps {
  /** Admits each attempt and is told how it ended (a circuit breaker). */
  readonly guard?: AttemptGuard;
  /** Makes an attempt's value ready (reads a stream to its first chunk): the value, or a promise of it. */
  readonly settle?: (value: unknown, ctx: Attempt) => unknown;
  /** Told how each attempt that ran ended (`ok` with its ready value, else its error), before the guard; must not throw. */
  readonly ended?: (ctx: Attempt, outcome: unknown, ok: boolean) => void;
}

const NOT_ABORTED: unique symbol = Symbol('not aborted');

/** Aborts `controller` with `reason`. */
const abortWith = (controller: AbortController, reason: unknown) => controller.abort(reason);

/**
 * Cancellation of one layer of a call, with the `AbortSignal` made only when read.
 * A slot is aborted when it or any ancestor is; a signal made from it follows the
 * ancestors' signals.
 */
export class SignalSlot {
  private reason: unknown = NOT_ABORTED;
  private controller: AbortController | undefined;
  private unlink: (() => void) | undefined;
  private listeners: Array<(reason: unknown) => void> | undefined;
  /** The async context the signal was first read in, where its abort listeners run. */
  private readIn: AsyncResource | undefined;

  constructor(
    private readonly parent: SignalSlot | undefined,
    private readonly external: AbortSignal | undefined = undefined,
  ) {}

  /** Whether this slot, an ancestor, or the caller's signal has aborted. */
  get aborted(): boolean {
    return this.reason !== NOT_ABORTED || (this.external?.aborted ?? false) || (this.parent?.aborted ?? false);
  }

  /** The abort reason of this slot or the nearest aborted ancestor. */
  get abortReason(): unknown {
    if (this.reason !== NOT_ABORTED) return this.reason;
    if (this.external?.aborted) return this.external.reason;
    return this.parent?.abortReason;
  }

  get signal(): AbortSignal {
    if (this.parent === undefined && this.external !== undefined) return this.external;
    if (this.controller === undefined) {
      const controller = new AbortController();
      this.controller = controller;
      // Read from the work's context: its abort listeners run there, whichever call's timer aborts it.
      this.readIn = new AsyncResource('otel-resilience.signal');
      const upstream = this.parent?.signal;
      if (this.reason !== NOT_ABORTED) {
        controller.abort(this.reason);
      } else if (upstream?.aborted) {
        controller.abort(upstream.reason);
      } else if (upstream !== undefined) {
        const onAbort = () => controller.abort(upstream.reason);
        upstream.addEventListener('abort', onAbort, { once: true });
        this.unlink = () => upstream.removeEventListener('abort', onAbort);
      }
    }
    return this.controller.signal;
  }

  /** Aborts this slot (and the signal, if one was made) with `reason`. */
  abort(reason: unknown): void {
    if (this.reason !== NOT_ABORTED) return;
    this.reason = reason;
    this.dispose();
    if (this.controller !== undefined) this.readIn!.runInAsyncScope(abortWith, undefined, this.controller, reason);
    const listeners = this.listeners;
    this.listeners = undefined;
    for (const listener of listeners ?? []) listener(reason);
  }

  /** Calls `listener` with the reason when this slot itself is aborted (not its ancestors). */
  onAbort(listener: (reason: unknown) => void): void {
    if (this.reason !== NOT_ABORTED) listener(this.reason);
    else (this.listeners ??= []).push(listener);
  }

  /** Detaches from the parent's signal; call when the layer settles. */
  dispose(): void {
    if (this.unlink !== undefined) {
      this.unlink();
      this.unlink = undefined;
    }
  }
}

/**
 * Where a call publishes the innermost context of its running attempt, for
 * `currentAttempt()`. One per call while attempts run one at a time; one per attempt
 * where an attempt can outlive its successor's start (an abandoned attempt after an
 * attempt timeout, hedged attempts), so each sees its own context.
 */
export class AttemptScope {
  current: ExecutionContext | undefined = undefined;
}

/** The state of one call shared by all its attempts. */
export class Call<T = unknown> {
  /** Highest attempt number started. */
  attempts = 0;
  /** Set by a policy that answered instead of the work (`'fallback'`). */
  outcome: string | undefined = undefined;
  /** The span of the attempt started last, which the next attempt's span links to. */
  lastAttemptSpan: Span | undefined = undefined;
  /** The error last recorded as an exception on a child span (an attempt, a fallback step): the call span does not record it again. */
  recordedError: { readonly error: unknown } | undefined = undefined;
  /** The time the retry actually slept before the attempt about to start, in ms (for its span), if it slept. */
  sleptMs: number | undefined = undefined;
  /** The sum of the token usage its attempts reported so far (see `usage-tally.ts`), if any did. */
  usage: { inputTokens: number; outputTokens: number } | undefined = undefined;
  /** The metric instruments, when a meter provider is registered. */
  readonly metrics: Instruments | undefined = getInstruments();

  constructor(
    readonly operation: string,
    readonly work: Work<T>,
    /** The call span, when a recording tracer made one. */
    readonly span: Span | undefined,
    /** The OpenTelemetry context whose active span is the call span. */
    readonly otelContext: Context | undefined,
    /** The arguments of a wrapped function or method (for rate-limit keys, fallbacks). */
    readonly args: unknown[] = [],
    /** The `this` of a wrapped method. */
    readonly self: unknown = undefined,
  ) {}
}

/**
 * The {@link ExecutionContext} of one attempt at one layer of the pipeline. Policies
 * derive a new one when they change the attempt number, the deadline or the signal.
 */
export class Attempt implements ExecutionContext {
  constructor(
    readonly call: Call,
    readonly attempt: number,
    readonly slot: SignalSlot,
    readonly deadline: number,
    /** Where the work's context is published for `currentAttempt()`. */
    readonly scope: AttemptScope,
    /**
     * Told the work's own promise when an inner policy stops awaiting it (an attempt
     * timeout fired): a bulkhead keeps its permit until that promise settles.
     */
    readonly onAbandon: ((work: Promise<unknown>) => void) | undefined = undefined,
  ) {}

  get signal(): AbortSignal {
    return this.slot.signal;
  }

  get operation(): string {
    return this.call.operation;
  }

  /** Whether anything records events: callers skip building events nobody keeps. */
  get recording(): boolean {
    return this.call.span !== undefined || this.call.metrics !== undefined;
  }

  /** Adds a policy event to the call span and counts it. */
  report(event: ResilienceEvent): void {
    recordEvent(this.call.span, event);
    if (this.call.metrics !== undefined) countEvent(this.call.metrics, event, this.call.operation);
  }

  /** The next attempt, with number `attempt`. */
  withAttempt(attempt: number): Attempt {
    return new Attempt(this.call, attempt, this.slot, this.deadline, this.scope, this.onAbandon);
  }

  /** The same attempt, publishing its context through `scope`. */
  withScope(scope: AttemptScope): Attempt {
    return new Attempt(this.call, this.attempt, this.slot, this.deadline, scope, this.onAbandon);
  }

  /** The same attempt with its own cancellation layer (and optionally an earlier deadline). */
  withSlot(slot: SignalSlot, deadline = this.deadline): Attempt {
    return new Attempt(this.call, this.attempt, slot, deadline, this.scope, this.onAbandon);
  }

  /** The same attempt, telling `onAbandon` the work an inner policy stops awaiting. */
  withOnAbandon(onAbandon: (work: Promise<unknown>) => void): Attempt {
    return new Attempt(this.call, this.attempt, this.slot, this.deadline, this.scope, onAbandon);
  }
}

/**
 * Checks the arguments of `execute(work, options)`: `work` a function, `options` an
 * {@link ExecuteOptions} object or an `AbortSignal` given in its place (a positional
 * signal, as `execute(fn, signal)` reads, works).
 *
 * @throws TypeError for anything else, naming the argument
 */
export function executeOptions(work: unknown, options: ExecuteOptions | AbortSignal | undefined): ExecuteOptions | undefined {
  if (typeof work !== 'function')
    throw new TypeError(`Invalid argument work of execute: expected a function, got ${typeof work}`);
  if (options === undefined) return undefined;
  if (options instanceof AbortSignal) return { signal: options };
  knownOptions('execute.', options, ['signal', 'operation']);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new TypeError(`Invalid option execute.signal: expected an AbortSignal, got ${typeof options.signal}`);
  }
  if (options.operation !== undefined) stringOption('execute.operation', options.operation, '');
  return options;
}

/** Calls a user hook (`onRetry`, `onOpen`, …) with `info`; its failure never breaks the call. */
export function notify<I>(hook: ((info: I) => void) | undefined, info: I): void {
  if (hook === undefined) return;
  try {
    hook(info);
  } catch {
    // A hook's failure must not change the call's outcome.
  }
}

/** Calls `work` and always returns a promise, turning a synchronous throw into a rejection. */
export function invoke<T>(work: Work<T>, ctx: ExecutionContext): Promise<T> {
  try {
    return Promise.resolve(work(ctx));
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Settles like `promise`, or rejects with the caller's abort reason as soon as `signal`
 * aborts (the work is abandoned), aborting `slot` so the work's signal follows.
 * Without a signal, returns `promise` itself.
 */
export function raceCaller<T>(promise: Promise<T>, signal: AbortSignal | undefined, slot: SignalSlot): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    slot.abort(signal.reason);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      slot.abort(signal.reason);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * The base of every policy: besides composing in a pipeline (`run`), a policy runs work
 * on its own with `execute` — no spans of its own, its events on the active span, the
 * caller's signal honoured.
 */
export abstract class StandalonePolicy implements Policy {
  abstract run<T>(ctx: Attempt, next: (ctx: Attempt) => Promise<T>): Promise<T>;

  /**
   * Runs `work` under this policy alone; see the policy's class documentation.
   * `options` is `{ signal, operation }`, or the caller's `AbortSignal` itself.
   * @returns the work's result, or rejects with the policy's or the work's error
   * @throws TypeError when `work` is not a function or `options` is neither
   */
  execute<T>(work: Work<T>, options?: ExecuteOptions | AbortSignal): Promise<T> {
    const opts = executeOptions(work, options);
    const signal = opts?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const call = new Call(opts?.operation ?? 'execute', work, activeSpan(), undefined);
    const slot = new SignalSlot(undefined, signal);
    const ctx = new Attempt(call, 1, slot, Infinity, new AttemptScope());
    return raceCaller(
      this.run(ctx, (inner) => invoke(work, inner)),
      signal,
      slot,
    );
  }
}
