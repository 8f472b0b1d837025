import { type Clock, type RandomSource, sleep, systemClock } from './clock.js';
import { type Attempt, StandalonePolicy } from './context.js';
import { clockOption, functionOption, knownOptions, numberOption, ratioOption, stringOption } from './validate.js';

/** Options of {@link ChaosPolicy}: exactly one of `fault`, `latencyMs`, `outcome`. */
export interface ChaosOptions {
  /** Name in events (default: the kind, e.g. `'fault'`). */
  readonly name?: string;
  /** Share of calls that get the injection, in (0, 1]. */
  readonly injectionRate: number;
  /** Whether injection is on (default true); a function is asked on every call (feature flags, game days). */
  readonly enabled?: boolean | (() => boolean);
  /** Random source deciding which calls are hit (default `Math.random`; see {@link seededRandom}). */
  readonly random?: RandomSource;
  /** Fault injection: the error to throw instead of calling, or a function making it. */
  readonly fault?: unknown;
  /** Latency injection: extra wait before the call, in ms. */
  readonly latencyMs?: number;
  /** Outcome injection: replaces (or transforms) the real result. */
  readonly outcome?: (result: unknown) => unknown;
  /** Clock for latency (default: the system clock). */
  readonly clock?: Clock;
}

/**
 * mulberry32: a small, fast seeded PRNG returning floats in [0, 1), so chaos runs (and
 * demos) are reproducible.
 */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Chaos injection for tests and game days (Polly v8's chaos strategies): for a share
 * `injectionRate` of calls it throws a fault instead of calling, adds latency before
 * calling, or replaces the outcome — and reports a `resilience.chaos` event. Innermost
 * in a pipeline, so every other policy meets the injected trouble as if it were real.
 * See {@link chaosFaults} for the faults agents meet.
 *
 * @throws TypeError/RangeError naming the option, for invalid options
 */
export class ChaosPolicy extends StandalonePolicy {
  readonly name: string;
  readonly kind: 'fault' | 'latency' | 'outcome';
  readonly injectionRate: number;
  private readonly enabled: () => boolean;
  private readonly random: RandomSource;
  private readonly fault: unknown;
  private readonly latencyMs: number;
  private readonly outcome: ((result: unknown) => unknown) | undefined;
  private readonly clock: Clock;

  constructor(options: ChaosOptions) {
    super();
    knownOptions('chaos.', options ?? {}, [
      'name',
      'injectionRate',
      'enabled',
      'random',
      'fault',
      'latencyMs',
      'outcome',
      'clock',
    ]);
    const kinds = (['fault', 'latencyMs', 'outcome'] as const).filter((k) => options?.[k] !== undefined);
    if (kinds.length !== 1) {
      throw new TypeError(
        `Invalid chaos options: expected exactly one of fault, latencyMs, outcome, got ${kinds.join(', ') || 'none'}`,
      );
    }
    this.kind = kinds[0] === 'latencyMs' ? 'latency' : kinds[0]!;
    this.name = stringOption('chaos.name', options.name, this.kind);
    const rate = ratioOption('chaos.injectionRate', options.injectionRate);
    if (rate === undefined) throw new TypeError('Invalid option chaos.injectionRate: expected a ratio in (0, 1], got undefined');
    this.injectionRate = rate;
    const enabled = options.enabled === undefined ? true : options.enabled;
    if (typeof enabled !== 'boolean' && typeof enabled !== 'function') {
      throw new TypeError(`Invalid option chaos.enabled: expected a boolean or a function, got ${typeof enabled}`);
    }
    this.enabled = typeof enabled === 'function' ? enabled : () => enabled;
    this.random = functionOption<RandomSource>('chaos.random', options.random) ?? Math.random;
    this.fault = options.fault;
    this.latencyMs = numberOption('chaos.latencyMs', options.latencyMs, 0);
    this.outcome = functionOption('chaos.outcome', options.outcome);
    this.clock = clockOption('chaos.clock', options.clock, systemClock);
  }

  /** Asks `enabled`; a throwing flag means off (chaos must never be the accident). */
  private isOn(): boolean {
    try {
      return this.enabled();
    } catch {
      return false;
    }
  }

  run<T>(ctx: Attempt, next: (ctx: Attempt) => Promise<T>): Promise<T> {
    try {
      return this.inject(ctx, next);
    } catch (error) {
      // A fault function that throws its fault (or a throwing `enabled`/`random`) fails the attempt, as a rejection.
      return Promise.reject(error);
    }
  }

  private inject<T>(ctx: Attempt, next: (ctx: Attempt) => Promise<T>): Promise<T> {
    if (!this.isOn() || this.random() >= this.injectionRate) return next(ctx);
    if (ctx.recording) ctx.report({ type: 'chaos', kind: this.kind, chaos: this.name });
    switch (this.kind) {
      case 'fault':
        return Promise.reject(typeof this.fault === 'function' ? (this.fault as () => unknown)() : this.fault);
      case 'latency':
        return sleep(this.latencyMs, ctx.signal, this.clock).then(() => next(ctx));
      case 'outcome':
        return next(ctx).then((result) => this.outcome!(result) as T);
    }
  }
}

function httpError(status: number, message: string, headers: Record<string, string> = {}): Error {
  return Object.assign(new Error(message), { status, headers });
}

/** Ready-made faults and outcomes for chaos injection: what agents meet in production. */
export const chaosFaults = {
  /** A 429 with `Retry-After` (seconds), as LLM APIs send it. */
  rateLimited:
    (retryAfterSeconds = 1) =>
    () =>
      httpError(429, 'Rate limit reached (chaos)', { 'retry-after': String(retryAfterSeconds) }),
  /** A 503 Service Unavailable. */
  unavailable: () => () => httpError(503, 'Service unavailable (chaos)'),
  /** A connection reset by the peer (`ECONNRESET`), as Node's sockets report it. */
  connectionReset: () => () => Object.assign(new Error('read ECONNRESET (chaos)'), { code: 'ECONNRESET' }),
  /**
   * An outcome: the streamed result (an async iterable) breaks with `ECONNRESET` after
   * `afterItems` items — a token stream cut mid-way.
   */
  streamCut:
    (afterItems = 1) =>
    (result: unknown) => {
      const source = result as AsyncIterable<unknown>;
      return (async function* cut() {
        let count = 0;
        for await (const item of source) {
          if (count++ >= afterItems) throw Object.assign(new Error('stream cut (chaos)'), { code: 'ECONNRESET' });
          yield item;
        }
      })();
    },
  /** An outcome: a tool's JSON output truncated mid-way, which a parser rejects. */
  malformedToolOutput: () => (result: unknown) => {
    const text = typeof result === 'string' ? result : JSON.stringify(result ?? {});
    return text.slice(0, Math.max(1, Math.floor(text.length / 2)));
  },
};
