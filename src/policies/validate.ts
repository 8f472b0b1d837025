/**
 * Option checks run at construction (decoration) time. Each throws a `TypeError` or
 * `RangeError` whose message names the option and the value it got.
 */

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  try {
    return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
  } catch {
    return String(value);
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
  if (!ok) fail(option, value, `${integer ? 'an integer' : 'a number'} >= ${min}`);
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

/** A non-empty string, or undefined → `fallback`. */
export function stringOption(option: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value === '') fail(option, value, 'a non-empty string', false);
  return value as string;
}

/** Rejects keys of `options` not in `known` — a misspelt option must not pass silently. */
export function knownOptions(prefix: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new TypeError(`Unknown option ${prefix}${key}: expected one of ${known.join(', ')}`);
    }
  }
}
