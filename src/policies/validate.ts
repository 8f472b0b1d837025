/**
 * Option checks run at construction (decoration) time: the one place that says what a
 * valid option is. Each check throws a `TypeError` (wrong type, unknown key) or a
 * `RangeError` (a number out of range, NaN, a non-finite value where a finite one is
 * needed) whose message names the option and the value it got, so a bad option fails
 * where it is written and never inside a call.
 */
import type { Clock } from './clock.js';

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return `${value}n`;
  try {
    return typeof value === 'object' && value !== null ? (JSON.stringify(value) ?? String(value)) : String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function fail(option: string, value: unknown, expected: string, range = true): never {
  const message = `Invalid option ${option}: expected ${expected}, got ${show(value)}`;
  throw range && typeof value === 'number' ? new RangeError(message) : new TypeError(message);
}

/** A number ≥ `min` (finite unless `allowInfinity`), or undefined → `fallback`. */
export function numberOption(
  option: string,
  value: unknown,
  fallback: number,
  { min = 0, integer = false, allowInfinity = false } = {},
): number {
  if (value === undefined) return fallback;
  const ok =
    typeof value === 'number' &&
    !Number.isNaN(value) &&
    value >= min &&
    (allowInfinity || Number.isFinite(value)) &&
    (!integer || Number.isInteger(value) || value === Infinity);
  if (!ok) fail(option, value, `${integer ? 'an integer' : 'a number'} >= ${min}${allowInfinity ? ' (or Infinity)' : ''}`);
  return value as number;
}

/** A whole number >= 1, or undefined → `fallback`. */
export function countOption(option: string, value: unknown, fallback: number): number {
  return numberOption(option, value, fallback, { min: 1, integer: true });
}

/** A number in (0, 1], or undefined. */
export function ratioOption(option: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !(value > 0 && value <= 1)) fail(option, value, 'a ratio in (0, 1]');
  return value as number;
}

/** One of `allowed`, or undefined → `fallback`. */
export function choiceOption<T extends string>(option: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) fail(option, value, `one of ${allowed.map(show).join(', ')}`, false);
  return value as T;
}

/** A function, or undefined. */
export function functionOption<F extends (...args: never[]) => unknown>(option: string, value: unknown): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') fail(option, value, 'a function', false);
  return value as F;
}

/** A boolean, or undefined → `fallback`. */
export function booleanOption(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(option, value, 'a boolean', false);
  return value as boolean;
}

/** A non-empty string, or undefined → `fallback`. */
export function stringOption(option: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value === '') fail(option, value, 'a non-empty string', false);
  return value as string;
}

/**
 * A {@link Clock} (`now`, `setTimeout`, `clearTimeout` functions; `wallNow` optional),
 * or undefined → `fallback`.
 */
export function clockOption(option: string, value: unknown, fallback: Clock): Clock {
  if (value === undefined) return fallback;
  const clock = value as Partial<Record<keyof Clock, unknown>>;
  const ok =
    typeof value === 'object' &&
    value !== null &&
    typeof clock.now === 'function' &&
    typeof clock.setTimeout === 'function' &&
    typeof clock.clearTimeout === 'function' &&
    (clock.wallNow === undefined || typeof clock.wallNow === 'function');
  if (!ok) fail(option, value, 'a Clock { now(), setTimeout(), clearTimeout(), wallNow()? }', false);
  return value as Clock;
}

/**
 * An object with the methods `methods` (a store, a shared policy), or undefined.
 * `what` names the expected interface in the message.
 */
export function implementsOption<T>(option: string, value: unknown, what: string, methods: readonly string[]): T | undefined {
  if (value === undefined) return undefined;
  const ok =
    typeof value === 'object' &&
    value !== null &&
    methods.every((m) => typeof (value as Record<string, unknown>)[m] === 'function');
  if (!ok) fail(option, value, `a ${what} (${methods.join(', ')})`, false);
  return value as T;
}

/**
 * Rejects an options bag that is not a plain object, and keys of it not in `known` — a
 * misspelt option must not pass silently. `prefix` is the option path with its dot
 * (`'retry.'`); the bag itself is named by `prefix` without the dot.
 */
export function knownOptions(prefix: string, options: object, known: readonly string[]): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    fail(prefix === '' ? 'options' : prefix.slice(0, -1), options, 'an options object', false);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new TypeError(`Unknown option ${prefix}${key}: expected one of ${known.join(', ')}`);
    }
  }
}
