/**
 * Streamed results under a pipeline: async iterables (async generators, the openai
 * SDK's `stream: true`), web `ReadableStream`s, and the AI SDK's `streamText` result.
 *
 * An attempt of a streamed call lasts until its first chunk: the attempt's work is
 * called, its stream opened and read up to the first chunk (or its end) inside the
 * pipeline, so everything that fails before any output reached the caller is retried
 * like any failed call. Once a chunk is handed to the caller the attempt is over for
 * the policies, but its span stays open until the stream ends; an error after that is
 * recorded on it with the number of chunks delivered, and thrown to the caller — not
 * replayed (a replayed half-answer duplicates text and tokens) unless `replay` is on.
 * The stream shapes themselves (opening, AI SDK parts, usage in chunks) are in
 * stream-source.ts.
 */
import { AsyncResource } from 'node:async_hooks';
import type { Span } from '@opentelemetry/api';
import { type TokenUsage, usageOf } from '../classify/usage.js';
import { endFailed, endSpan, failSpan } from '../policies/child-span.js';
import type { Clock } from '../policies/clock.js';
import { type Attempt, type Call, invoke, SignalSlot } from '../policies/context.js';
import { TimeoutError } from '../policies/errors.js';
import { CANCEL_STREAM, ON_STREAM_END } from '../policies/streamed-result.js';
import { booleanOption, knownOptions, numberOption } from '../policies/validate.js';
import * as names from '../telemetry/names.js';
import { chunkUsage, closeSource, partError, readHead, type Shape, sourceOf, textOf, toReadable } from './stream-source.js';
import { addUsage, recordUsage } from './usage-tally.js';

/** Options of streamed results (`stream` of `@resilient` / the pipeline). */
export interface StreamOptions {
  /**
   * Longest wait in ms from an attempt's start to its stream's first chunk (>= 1); an
   * attempt that waits longer is aborted with a `TimeoutError` of scope `first_chunk`
   * and retried. `false`: none (the default; `attemptTimeoutMs` bounds the same wait).
   */
  readonly firstChunkTimeoutMs?: number | false;
  /**
   * Longest gap in ms between two chunks once the stream has started (>= 1); the stream
   * is aborted with a `TimeoutError` of scope `idle`. `false`: none (the default).
   */
  readonly idleTimeoutMs?: number | false;
  /**
   * `true` to run the call again when its stream fails after the first chunk (as long
   * as retries are left): the caller then receives the new stream from its start,
   * after the chunks it already has — duplicates included. Default `false`: the error is
   * thrown to the caller.
   */
  readonly replay?: boolean;
}

/** The validated stream options of one pipeline. */
export class StreamSettings {
  readonly firstChunkTimeoutMs: number | undefined;
  readonly idleTimeoutMs: number | undefined;
  readonly replay: boolean;
  /** Whether a stream timeout is set (the streaming step then needs a cancellation layer of its own). */
  readonly timed: boolean;
  /**
   * {@link primeResult} for a step without stream timeouts, as the attempt timeout
   * applies it in the continuation it has anyway (no promise layer of its own).
   */
  readonly prime = (value: unknown, ctx: Attempt): unknown => primeResult(this, value, ctx);

  /** @throws TypeError/RangeError naming the option */
  constructor(
    options: StreamOptions,
    readonly clock: Clock,
  ) {
    knownOptions('stream.', options, ['firstChunkTimeoutMs', 'idleTimeoutMs', 'replay']);
    const ms = (option: 'firstChunkTimeoutMs' | 'idleTimeoutMs') =>
      options[option] === undefined || options[option] === false
        ? undefined
        : numberOption(`stream.${option}`, options[option], 0, { min: 1 });
    this.firstChunkTimeoutMs = ms('firstChunkTimeoutMs');
    this.idleTimeoutMs = ms('idleTimeoutMs');
    this.replay = booleanOption('stream.replay', options.replay, false);
    this.timed = this.firstChunkTimeoutMs !== undefined || this.idleTimeoutMs !== undefined;
  }
}

/** `promise`, or a rejection with a `TimeoutError` of `scope` after `ms` (aborting `slot`). */
function withTimer<T>(
  promise: Promise<T>,
  ms: number | undefined,
  scope: 'first_chunk' | 'idle',
  ctx: Attempt,
  slot: SignalSlot,
  clock: Clock,
): Promise<T> {
  if (ms === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => {
      const error = new TimeoutError(scope, ms);
      if (ctx.recording) ctx.report({ type: 'timeout', scope, timeoutMs: ms });
      slot.abort(error);
      reject(error);
    }, ms);
    promise.then(
      (value) => {
        clock.clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clock.clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** The next chunk of `iterator`. */
const nextOf = (iterator: AsyncIterator<unknown>) => iterator.next();

/**
 * One attempt's stream, read up to its first chunk: what the attempt resolved with.
 * Its span (handed over by the pipeline) stays open until the stream ends.
 */
export class PrimedStream {
  /** The attempt span, ended by {@link PrimedStream.end}. */
  span: Span | undefined = undefined;
  /** Chunks handed to the caller. */
  delivered = 0;
  usage: TokenUsage | undefined = undefined;
  private ended = false;
  private readonly usageListeners: Array<(usage: TokenUsage | undefined) => void> = [];
  /**
   * The async context the stream was opened in: the attempt's (its span active, its
   * `currentAttempt()`, the caller's own AsyncLocalStorage values). A generator's body
   * runs in the context of whoever calls its `next()`, so without this everything after
   * its first chunk would run in the reader's: its spans parented to the reader's span,
   * `currentAttempt()` undefined, so no signal to stop a timed-out request with.
   */
  private readonly opened = new AsyncResource('otel-resilience.stream');

  constructor(
    readonly iterator: AsyncIterator<unknown>,
    /** Chunks read ahead while looking for the first chunk of output (AI SDK preamble parts, then that chunk). */
    readonly head: IteratorResult<unknown>[],
    readonly shape: Shape,
    readonly original: unknown,
    readonly ctx: Attempt,
    readonly slot: SignalSlot,
    /** The cancellation of the layers outside the work (the caller's, the timeouts'). */
    readonly outer: SignalSlot,
    readonly settings: StreamSettings,
  ) {}

  /** Registers a reader of the stream's end and its usage (the bulkhead's release, the rate limiter's reconciliation). */
  [ON_STREAM_END](listener: (usage: TokenUsage | undefined) => void): void {
    this.usageListeners.push(listener);
  }

  /** Takes one chunk (or the end) from the source, bounded by the idle timeout. */
  read(): Promise<IteratorResult<unknown>> {
    if (this.head.length > 0) return Promise.resolve(this.head.shift()!);
    const next = this.opened.runInAsyncScope(nextOf, undefined, this.iterator);
    const { idleTimeoutMs, clock } = this.settings;
    return withTimer(next, idleTimeoutMs, 'idle', this.ctx, this.slot, clock);
  }

  /** Notes a chunk handed to the caller. */
  saw(chunk: unknown): void {
    this.delivered++;
    this.usage = chunkUsage(chunk, this.usage);
  }

  /** Ends the attempt: usage and chunk count on its span, the failure if any; idempotent. */
  end(failure: { error: unknown } | undefined, cancelled = false): void {
    if (this.ended) return;
    this.ended = true;
    if (failure !== undefined || cancelled) {
      if (this.slot !== this.outer) this.slot.abort(failure?.error ?? new Error('stream cancelled by its reader'));
      this.opened.runInAsyncScope(closeSource, undefined, this.iterator);
    }
    addUsage(this.ctx.call, this.usage);
    for (const listener of this.usageListeners.splice(0)) {
      try {
        listener(this.usage);
      } catch {
        // A listener's failure never breaks the stream.
      }
    }
    const span = this.span;
    if (span === undefined) return;
    try {
      span.setAttribute(names.ATTR_STREAM_CHUNKS, this.delivered);
      if (cancelled) span.setAttribute(names.ATTR_STREAM_CANCELLED, true);
      recordUsage(span, this.usage);
    } catch {
      // Instrumentation must never break the user's call.
    }
    if (failure !== undefined) {
      failSpan(span, failure.error);
      this.ctx.call.recordedError = failure;
    }
    endSpan(span);
  }
}

/**
 * What an attempt's work resolved with, made ready for the policies: a stream is read up
 * to its first chunk of output within `firstChunkTimeoutMs` — a promise of the stream the
 * caller receives (see {@link guardOf}) — and anything else is returned as it is, with no
 * promise layer. A stream that comes once the attempt is over (aborted) is closed unread.
 * `actx` is the work's context and `slot` its cancellation layer (aborted by the stream
 * timeouts), `outer` the layers outside it, `startedMs` when the attempt began (clock ms;
 * read only with a first-chunk timeout).
 */
export function primeResult(
  settings: StreamSettings,
  value: unknown,
  actx: Attempt,
  slot: SignalSlot = actx.slot,
  outer: SignalSlot = actx.slot,
  startedMs = 0,
): unknown {
  const source = sourceOf(value);
  if (source === undefined) return value;
  // The attempt is over (timed out, lost its hedge, its caller gone): nobody reads this stream, so none of it is read.
  if (actx.slot.aborted) {
    closeSource(source.iterator);
    return value;
  }
  const left =
    settings.firstChunkTimeoutMs === undefined
      ? undefined
      : Math.max(1, settings.firstChunkTimeoutMs - (settings.clock.now() - startedMs));
  const reading = readHead(source.iterator, source.shape);
  return withTimer(reading, left, 'first_chunk', actx, slot, settings.clock).then(
    (head) => deliver(new PrimedStream(source.iterator, head, source.shape, value, actx, slot, outer, settings)),
    (error: unknown) => {
      if (slot !== outer) slot.abort(error);
      closeSource(source.iterator);
      throw error;
    },
  );
}

/**
 * The innermost step of a pipeline with streams on: calls the work with a cancellation
 * layer of its own where a stream timeout is set (aborted by the timeouts, or when the
 * caller stops reading), and primes what it returns ({@link primeResult}).
 */
export function streamingStep(settings: StreamSettings): (ctx: Attempt) => Promise<unknown> {
  if (!settings.timed) {
    return (ctx) => {
      ctx.scope.current = ctx;
      return invoke(ctx.call.work, ctx).then((value) => primeResult(settings, value, ctx));
    };
  }
  return (ctx) => {
    // A layer of its own, as a stream timeout must abort the work's signal; without one the source's return() ends it.
    const slot = new SignalSlot(ctx.slot);
    const actx = ctx.withSlot(slot);
    ctx.scope.current = actx;
    const started = settings.firstChunkTimeoutMs === undefined ? 0 : settings.clock.now();
    return invoke(ctx.call.work, actx).then((value) => primeResult(settings, value, actx, slot, ctx.slot, started));
  };
}

/** What the caller's stream does when it ends: the pipeline finishes the call span. */
export type StreamEnd = (failure: { error: unknown } | undefined) => void;

/**
 * The caller's side of a streamed call: an async iterator over the current attempt's
 * chunks that ends the attempt (and the call) when the stream ends, fails or is
 * abandoned, and replays the call when `replay` is on and retries are left.
 */
export class GuardedStream implements AsyncIterableIterator<unknown> {
  private done = false;
  /** The attempt whose stream is read now (a replay moves on to the next). */
  current: PrimedStream;
  /** Runs the call again (set by the pipeline when `replay` is on). */
  restart: (() => Promise<unknown>) | undefined = undefined;
  /** Told when the stream is over (set by the pipeline to end the call span). */
  onEnd: StreamEnd | undefined = undefined;

  constructor(readonly first: PrimedStream) {
    this.current = first;
  }

  /** The end of the first attempt's stream, for the policies (a bulkhead's slot, a limiter's usage). */
  [ON_STREAM_END](listener: (usage: TokenUsage | undefined) => void): void {
    this.first[ON_STREAM_END](listener);
  }

  /** Ends the stream unread (its reader will never come). */
  [CANCEL_STREAM](): void {
    void this.return();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Written as promise continuations rather than an async loop: a chunk costs one derived promise. */
  next(): Promise<IteratorResult<unknown>> {
    if (this.done) return Promise.resolve({ done: true, value: undefined });
    let read: Promise<IteratorResult<unknown>>;
    try {
      read = this.current.read();
    } catch (error) {
      read = Promise.reject(error);
    }
    return read.then(this.onChunk, this.onError);
  }

  private readonly onChunk = (result: IteratorResult<unknown>): IteratorResult<unknown> | Promise<IteratorResult<unknown>> => {
    const current = this.current;
    if (result.done) {
      current.end(undefined);
      this.finish(undefined);
      return result;
    }
    const failed = partError(current.shape, result.value);
    if (failed !== undefined) return this.onError(failed.error);
    current.saw(result.value);
    return result;
  };

  private readonly onError = async (error: unknown): Promise<IteratorResult<unknown>> => {
    this.current.end({ error });
    if (await this.replayed()) return this.next();
    this.finish({ error });
    throw error;
  };

  async return(value?: unknown): Promise<IteratorResult<unknown>> {
    if (!this.done) {
      this.current.end(undefined, true);
      this.finish(undefined);
    }
    return { done: true, value };
  }

  async throw(error?: unknown): Promise<IteratorResult<unknown>> {
    if (!this.done) {
      this.current.end({ error });
      this.finish({ error });
    }
    throw error;
  }

  /** With `replay` on, runs the call again and continues with the new stream; false when it cannot. */
  private async replayed(): Promise<boolean> {
    if (this.restart === undefined || !this.current.settings.replay || this.current.outer.aborted) return false;
    let next: unknown;
    try {
      next = await this.restart();
    } catch {
      return false; // the replay failed too: the caller gets the stream's own error
    }
    const guard = guardOf(next);
    if (guard === undefined) return false;
    this.current = guard.current;
    return true;
  }

  private finish(failure: { error: unknown } | undefined): void {
    this.done = true;
    try {
      this.onEnd?.(failure);
    } catch {
      // Instrumentation must never break the user's call.
    }
  }
}

/** Where the caller's stream (a `ReadableStream`, an AI SDK result) keeps its {@link GuardedStream}. */
const GUARD: unique symbol = Symbol('otel-resilience guarded stream');

/** The {@link GuardedStream} behind a stream the pipeline delivered, or undefined for any other value. */
export function guardOf(value: unknown): GuardedStream | undefined {
  if (value instanceof GuardedStream) return value;
  if (typeof value !== 'object' || value === null) return undefined;
  return (value as { [GUARD]?: GuardedStream })[GUARD];
}

/**
 * The stream the caller receives for `primed`, in the shape the work returned: an
 * async iterator, a `ReadableStream`, or the AI SDK result whose `fullStream` and
 * `textStream` read the guarded stream (read one of them: they share it). It carries
 * its {@link GuardedStream} (see {@link guardOf}) and, for the policies, the end of the
 * attempt's stream ({@link ON_STREAM_END}).
 */
function deliver(primed: PrimedStream): unknown {
  const guarded = new GuardedStream(primed);
  if (primed.shape === 'iterable') return guarded;
  const end = (listener: (usage: TokenUsage | undefined) => void) => guarded[ON_STREAM_END](listener);
  const cancel = () => guarded[CANCEL_STREAM]();
  if (primed.shape === 'readable') {
    return Object.defineProperties(toReadable(guarded), {
      [GUARD]: { value: guarded },
      [ON_STREAM_END]: { value: end },
      [CANCEL_STREAM]: { value: cancel },
    });
  }
  const original = primed.original as object;
  return new Proxy(original, {
    get(target, key) {
      if (key === GUARD) return guarded;
      if (key === ON_STREAM_END) return end;
      if (key === CANCEL_STREAM) return cancel;
      if (key === 'fullStream') return toReadable(guarded);
      if (key === 'textStream') return toReadable(textOf(guarded));
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
    has(target, key) {
      return key === GUARD || key === ON_STREAM_END || key === CANCEL_STREAM || Reflect.has(target, key);
    },
  });
}

/**
 * Ends an attempt span once the attempt settles: failed, with its usage, or — for a
 * stream — handed to the stream, which ends it with its last chunk.
 */
export function endAttemptSpan<T>(span: Span, call: Call, promise: Promise<T>): Promise<T> {
  return promise.then(
    (value) => {
      endAttempt(span, call, value, true);
      return value;
    },
    (error: unknown) => {
      endAttempt(span, call, error, false);
      throw error;
    },
  );
}

/**
 * Ends an attempt's span for how the attempt ended: failed with its error, or with its
 * value — its usage recorded, or, for a stream, left open for the stream's end. Never throws.
 */
export function endAttempt(span: Span, call: Call, outcome: unknown, ok: boolean): void {
  try {
    if (!ok) {
      endFailed(span, outcome, call);
      return;
    }
    const guard = guardOf(outcome); // reads a property of the user's value: a Proxy's getter may throw
    if (guard !== undefined) {
      guard.first.span = span;
      return;
    }
    const usage = usageOf(outcome);
    recordUsage(span, usage);
    addUsage(call, usage);
    endSpan(span);
  } catch {
    // Instrumentation must never break the user's call.
  }
}
