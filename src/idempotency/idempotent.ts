import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomUUID } from 'node:crypto';
import { type Clock, systemClock } from '../policies/clock.js';
import { functionOption, knownOptions, numberOption, stringOption } from '../policies/validate.js';
import type { ResilienceEvent } from '../telemetry/events.js';
import { countEvent, getInstruments } from '../telemetry/metrics.js';
import { activeSpan, recordEvent } from '../telemetry/spans.js';
import {
  IdempotencyConflictError,
  IdempotencyInProgressError,
  IdempotencyKeyMissingError,
  IdempotencyReplayedFailureError,
} from './errors.js';
import { type IdempotencyRecord, type IdempotencyStore, MemoryIdempotencyStore } from './idempotency-store.js';

/** Options of {@link idempotent}. */
export interface IdempotencyOptions<A extends unknown[] = any[]> {
  /** The idempotency key of a call from its arguments; undefined when it has none. */
  readonly key: (args: A) => string | undefined;
  /** Where records live (default: a store in this process's memory, one per wrapped function). */
  readonly store?: IdempotencyStore;
  /** Prefix of every key (default: `Class.method` or the function's name). */
  readonly namespace?: string;
  /**
   * The payload a key stands for (canonical JSON, SHA-256): the same key with another
   * payload is an {@link IdempotencyConflictError}. Default: not checked.
   */
  readonly fingerprint?: (args: A) => unknown;
  /** How long a completed call's result is replayed, in ms (default 24 h, as Stripe). */
  readonly ttlMs?: number;
  /**
   * The in-progress lease, in ms (default 60000): renewed every third of it while the call
   * runs, so only a crashed holder's lease runs out, and then another caller takes over.
   */
  readonly leaseMs?: number;
  /** A call without a key: `'throw'` {@link IdempotencyKeyMissingError} (default) or `'bypass'` (run it plainly). */
  readonly onMissingKey?: 'throw' | 'bypass';
  /**
   * A concurrent duplicate: `'throw'` {@link IdempotencyInProgressError} (default), or wait up
   * to `waitMs` (polling every `pollMs`, default 100) for the holder's result.
   */
  readonly onInProgress?: 'throw' | { readonly waitMs: number; readonly pollMs?: number };
  /** Keep failures (replayed as {@link IdempotencyReplayedFailureError}) instead of releasing the key (default false). */
  readonly recordFailures?: boolean | ((error: unknown) => boolean);
  /** Clock for waits (default: the system clock). */
  readonly clock?: Clock;
}

/** What a call made through {@link idempotent} knows about its key. */
export interface IdempotencyContext {
  /** The full key (`namespace:key`): send it as an `Idempotency-Key` header. */
  readonly key: string;
}

const storage = new AsyncLocalStorage<IdempotencyContext>();

/** The idempotency key of the running call made through {@link idempotent}, if any. */
export function currentIdempotencyKey(): string | undefined {
  return storage.getStore()?.key;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Canonical JSON (sorted keys) hashed with SHA-256. */
function fingerprintOf(value: unknown): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : v !== null && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v as object)
              .sort()
              .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
          )
        : v;
  return createHash('sha256')
    .update(JSON.stringify(canonical(value)) ?? 'undefined')
    .digest('hex');
}

function report(namespace: string, outcome: Extract<ResilienceEvent, { type: 'idempotency' }>['outcome']): void {
  const event: ResilienceEvent = { type: 'idempotency', namespace, outcome };
  recordEvent(activeSpan(), event);
  const instruments = getInstruments();
  if (instruments !== undefined) countEvent(instruments, event, namespace);
}

interface Settings {
  readonly store: IdempotencyStore;
  readonly ttlMs: number;
  readonly leaseMs: number;
  readonly clock: Clock;
}

function settingsOf(options: IdempotencyOptions): Settings {
  knownOptions('idempotency.', options ?? {}, [
    'key',
    'store',
    'namespace',
    'fingerprint',
    'ttlMs',
    'leaseMs',
    'onMissingKey',
    'onInProgress',
    'recordFailures',
    'clock',
  ]);
  if (typeof options?.key !== 'function') {
    throw new TypeError(`Invalid option idempotency.key: expected a function of the arguments, got ${typeof options?.key}`);
  }
  functionOption('idempotency.fingerprint', options.fingerprint);
  if (options.namespace !== undefined) stringOption('idempotency.namespace', options.namespace, '');
  const wait = options.onInProgress;
  if (wait !== undefined && wait !== 'throw') numberOption('idempotency.onInProgress.waitMs', wait.waitMs, 0);
  return {
    store: options.store ?? new MemoryIdempotencyStore(),
    ttlMs: numberOption('idempotency.ttlMs', options.ttlMs, DAY_MS, { min: 1 }),
    leaseMs: numberOption('idempotency.leaseMs', options.leaseMs, 60_000, { min: 1 }),
    clock: options.clock ?? systemClock,
  };
}

/** The stored answer of a finished record. */
function replay(record: IdempotencyRecord): unknown {
  if (record.status === 'failed')
    throw new IdempotencyReplayedFailureError(record.key, record.error ?? { name: 'Error', message: '' });
  return record.result;
}

async function runOnce(
  fn: (...args: unknown[]) => unknown,
  self: unknown,
  args: unknown[],
  namespace: string,
  options: IdempotencyOptions,
  settings: Settings,
): Promise<unknown> {
  const given = options.key(args);
  if (given === undefined) {
    if (options.onMissingKey === 'bypass') return fn.apply(self, args);
    throw new IdempotencyKeyMissingError(namespace);
  }
  const key = `${namespace}:${given}`;
  const fingerprint = options.fingerprint === undefined ? undefined : fingerprintOf(options.fingerprint(args));
  const owner = randomUUID();
  const wait = options.onInProgress === undefined || options.onInProgress === 'throw' ? undefined : options.onInProgress;
  const giveUpAt = settings.clock.now() + (wait?.waitMs ?? 0);
  for (;;) {
    const acquired = await settings.store.acquire(key, { owner, fingerprint, leaseMs: settings.leaseMs, ttlMs: settings.ttlMs });
    if (acquired.acquired) return execute(fn, self, args, key, owner, namespace, options, settings);
    const existing = acquired.existing;
    if (fingerprint !== undefined && existing.fingerprint !== undefined && existing.fingerprint !== fingerprint) {
      report(namespace, 'conflict');
      throw new IdempotencyConflictError(key);
    }
    if (existing.status !== 'in_progress') {
      report(namespace, 'replayed');
      return replay(existing);
    }
    const now = settings.clock.now();
    if (wait === undefined || now >= giveUpAt) {
      report(namespace, 'in_progress');
      throw new IdempotencyInProgressError(key, Math.max(0, (existing.leaseExpiresAt ?? now) - now));
    }
    await new Promise((resolve) =>
      settings.clock.setTimeout(resolve as () => void, Math.min(wait.pollMs ?? 100, giveUpAt - now)),
    );
  }
}

async function execute(
  fn: (...args: unknown[]) => unknown,
  self: unknown,
  args: unknown[],
  key: string,
  owner: string,
  namespace: string,
  options: IdempotencyOptions,
  settings: Settings,
): Promise<unknown> {
  const { store, ttlMs, leaseMs, clock } = settings;
  let renewal: unknown;
  const renew = () => {
    renewal = clock.setTimeout(() => {
      store.extendLease(key, owner, leaseMs).then(
        (held) => held && renew(),
        () => renew(),
      );
    }, leaseMs / 3);
    (renewal as { unref?: () => void })?.unref?.();
  };
  renew();
  try {
    const result = await storage.run({ key }, () => fn.apply(self, args));
    clock.clearTimeout(renewal);
    const stored = await store.complete(key, owner, { result, ttlMs });
    report(namespace, stored ? 'executed' : 'lost_lease');
    return result;
  } catch (error) {
    clock.clearTimeout(renewal);
    const record = typeof options.recordFailures === 'function' ? options.recordFailures(error) : options.recordFailures === true;
    if (record) {
      const failure =
        error instanceof Error ? { name: error.name, message: error.message } : { name: 'Error', message: String(error) };
      await store.complete(key, owner, { error: failure, ttlMs });
    } else {
      await store.release(key, owner);
    }
    throw error;
  }
}

/** Runs `fn.apply(self, args)` at most once per key of the call (see `idempotent`). */
export type IdempotentRunner = (
  fn: (...args: unknown[]) => unknown,
  self: unknown,
  args: unknown[],
  namespace: string,
) => Promise<unknown>;

/**
 * Validates `options` and returns the runner that gives calls their at-most-once
 * semantics — the engine behind `idempotent()` / `@idempotent()`.
 *
 * @throws TypeError/RangeError naming the option, for invalid options
 */
export function idempotencyRunner(options: IdempotencyOptions): IdempotentRunner {
  const settings = settingsOf(options);
  return (fn, self, args, namespace) => runOnce(fn, self, args, options.namespace ?? namespace, options, settings);
}
