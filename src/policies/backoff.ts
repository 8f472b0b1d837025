import type { RandomSource } from './clock.js';
import { choiceOption, numberOption } from './validate.js';

/** How the base delay grows with the retry number n (1-based). */
export type BackoffKind = 'exponential' | 'linear' | 'constant';

/** How randomness spreads the delays (AWS Architecture Blog, "Exponential Backoff And Jitter"). */
export type Jitter = 'full' | 'equal' | 'decorrelated' | 'none';

/**
 * A custom backoff: the delay in ms before retry `retry` (1-based) after `error`.
 * The result is clamped to [0, `maxDelayMs`]; jitter is not applied on top.
 */
export type BackoffFunction = (retry: number, error: unknown) => number;

/** Backoff options shared by retry policies. */
export interface BackoffOptions {
  /** `'exponential'` (default), `'linear'`, `'constant'`, or a {@link BackoffFunction}. */
  readonly backoff?: BackoffKind | BackoffFunction;
  /** Base delay in ms (default 1000). */
  readonly baseDelayMs?: number;
  /** Cap on any delay in ms (default 10000). */
  readonly maxDelayMs?: number;
  /** `'full'` (default), `'equal'`, `'decorrelated'` or `'none'`. */
  readonly jitter?: Jitter;
}

/** A stateful delay generator for one call: `next(retry, error)` gives the next delay in ms. */
export interface DelaySequence {
  next(retry: number, error: unknown): number;
}

/**
 * A validated backoff schedule. With `b(n)` the un-jittered delay before retry n —
 * exponential `min(cap, base·2^(n−1))`, linear `min(cap, base·n)`, constant
 * `min(cap, base)` — the jitter kinds follow the AWS Architecture Blog:
 * full `random(0, b)`, equal `b/2 + random(0, b/2)`, none `b`, and decorrelated
 * `min(cap, random(base, 3·previous))` (which replaces the kind's growth).
 *
 * @throws TypeError/RangeError naming the option, for invalid options
 */
export class Backoff {
  readonly kind: BackoffKind | 'custom';
  readonly jitter: Jitter;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  private readonly custom: BackoffFunction | undefined;

  constructor(options: BackoffOptions = {}, prefix = '') {
    this.custom = typeof options.backoff === 'function' ? options.backoff : undefined;
    this.kind = this.custom
      ? 'custom'
      : choiceOption(`${prefix}backoff`, options.backoff, ['exponential', 'linear', 'constant'], 'exponential');
    this.jitter = choiceOption(`${prefix}jitter`, options.jitter, ['full', 'equal', 'decorrelated', 'none'], 'full');
    this.baseDelayMs = numberOption(`${prefix}baseDelayMs`, options.baseDelayMs, 1000);
    this.maxDelayMs = numberOption(`${prefix}maxDelayMs`, options.maxDelayMs, 10000);
    if (this.maxDelayMs < this.baseDelayMs) {
      throw new RangeError(
        `Invalid option ${prefix}maxDelayMs: expected >= baseDelayMs (${this.baseDelayMs}), got ${this.maxDelayMs}`,
      );
    }
  }

  /** The un-jittered delay before retry `retry` (1-based), capped at `maxDelayMs`. */
  base(retry: number): number {
    const { baseDelayMs: base, maxDelayMs: cap } = this;
    if (this.kind === 'linear') return Math.min(cap, base * retry);
    if (this.kind === 'constant') return Math.min(cap, base);
    return Math.min(cap, base * 2 ** (retry - 1));
  }

  /** A fresh delay sequence for one call, drawing randomness from `random`. */
  sequence(random: RandomSource): DelaySequence {
    let previous = this.baseDelayMs;
    return {
      next: (retry, error) => {
        if (this.custom) return clamp(this.custom(retry, error), this.maxDelayMs);
        const b = this.base(retry);
        switch (this.jitter) {
          case 'none':
            return b;
          case 'full':
            return random() * b;
          case 'equal':
            return b / 2 + random() * (b / 2);
          case 'decorrelated': {
            const low = this.baseDelayMs;
            previous = Math.min(this.maxDelayMs, low + random() * (previous * 3 - low));
            return previous;
          }
        }
      },
    };
  }
}

function clamp(value: number, max: number): number {
  return Number.isFinite(value) ? Math.min(max, Math.max(0, value)) : max;
}
