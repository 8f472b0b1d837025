import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomUUID } from 'node:crypto';
import { type Clock, systemClock } from '../policies/clock.js';
import { functionOption, knownOptions, numberOption, stringOption } from '../policies/validate.js';
import { CorruptRecordError } from '../stores/corrupt-record-error.js';
import { keyOf } from '../stores/keys.js';
import { LeaseKeeper } from '../stores/lease-keeper.js';
import { retryStoreOp } from '../stores/store-retry.js';
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
  /**
   * The full key, `namespace:key` (a `:` or `%` in the namespace percent-encoded, so
   * namespace `A` with key `b:c` and namespace `A:b` with key `c` differ): send it as
   * an `Idempotency-Key` header.
   */
  readonly key: string;
}

const storage = new AsyncLocalStorage<IdempotencyContext>();

/**
 * The idempotency key of the running call made through {@link idempotent}, if any —
 * the contract for downstream deduplication: send it to the receiver (an
 * `Idempotency-Key` header, a message id) and let the receiver drop repeats.
 *
 * `idempotent` runs an effect at most once per key while its process lives, through
 * store failures too. One window is inherent: a process that dies after the effect and
 * before its record is written cannot tell anyone, so once its lease runs out the next
 * caller runs the effect again — with this same key, so a receiver that deduplicates
 * on it sees one effect. The SDK keeps that window as short as the store allows (the
 * record is written right after the effect returns).
 */
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

/** A result whose record could not be written yet, held by this process (see {@link pendingIdempotencyRecords}). */
export interface PendingIdempotencyRecord {
  /** The full key. */
  readonly key: string;
  /** When the effect finished and recording first failed (ms since epoch). */
  readonly since: number;
  /** Failed attempts to record it so far. */
  readonly attempts: number;
  /** The last error of the store. */
  readonly lastError: unknown;
}

interface Held {
  readonly key: string;
  readonly result: unknown;
  readonly fingerprint: string | undefined;
  readonly since: number;
  attempts: number;
  lastError: unknown;
}

/** Results held because their record could not be written, per store then key. */
const held = new Map<IdempotencyStore, Map<string, Held>>();

/**
 * The results this process holds because their idempotency record could not be written
 * after the effect ran (the store failed or timed out). While one is held, calls with
 * its key in this process get the held result, the record's lease is kept (so no other
 * process runs the effect either), and writing the record is retried in the background
 * (backoff up to 5 s); it leaves this list once recorded. If the process dies first, the
 * lease runs out and the next caller runs the effect again **with the same key**
 * ({@link currentIdempotencyKey}): the window downstream deduplication closes.
 */
export function pendingIdempotencyRecords(): PendingIdempotencyRecord[] {
  const list: PendingIdempotencyRecord[] = [];
  for (const keys of held.values())
    for (const h of keys.values())
      if (h.attempts > 0) list.push({ key: h.key, since: h.since, attempts: h.attempts, lastError: h.lastError });
  return list;
}

const isCorrupt = (error: unknown) => error instanceof CorruptRecordError;

/** Store operations before and after the effect: three quick attempts while the caller waits. */
function inline(clock: Clock, onFailure?: (error: unknown) => void) {
  return { clock, attempts: 3, baseDelayMs: 25, isFinal: isCorrupt, onFailure };
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
  const key = keyOf(namespace, given);
  const fingerprint = options.fingerprint === undefined ? undefined : fingerprintOf(options.fingerprint(args));
  const waiting = held.get(settings.store)?.get(key);
  if (waiting !== undefined) {
    checkFingerprint(namespace, key, fingerprint, waiting.fingerprint);
    report(namespace, 'replayed');
    return waiting.result;
  }
  const owner = randomUUID();
  const wait = options.onInProgress === undefined || options.onInProgress === 'throw' ? undefined : options.onInProgress;
  const giveUpAt = settings.clock.now() + (wait?.waitMs ?? 0);
  for (;;) {
    // A retried acquire whose first reply was lost finds the record held by this owner, and takes it.
    const acquired = await retryStoreOp(
      () => settings.store.acquire(key, { owner, fingerprint, leaseMs: settings.leaseMs, ttlMs: settings.ttlMs }),
      inline(settings.clock),
    );
    if (acquired.acquired) {
      // The store was slower than the lease of a result this process holds: record that
      // result under this owner instead of running the effect again.
      const mine = held.get(settings.store)?.get(key);
      if (mine !== undefined) {
        await retryStoreOp(
          () => settings.store.complete(key, owner, { result: mine.result, ttlMs: settings.ttlMs }),
          inline(settings.clock),
        ).catch(() => {}); // not given back: the lease runs out, while this process still answers from memory
        report(namespace, 'replayed');
        return mine.result;
      }
      return execute(fn, self, args, key, owner, fingerprint, namespace, options, settings);
    }
    const existing = acquired.existing;
    checkFingerprint(namespace, key, fingerprint, existing.fingerprint);
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

function checkFingerprint(namespace: string, key: string, given: string | undefined, stored: string | undefined): void {
  if (given !== undefined && stored !== undefined && stored !== given) {
    report(namespace, 'conflict');
    throw new IdempotencyConflictError(key);
  }
}

/**
 * Runs the effect under a kept lease, then records its outcome. Once the effect
 * succeeded, nothing the store does can turn it into an error or run it again: the
 * record is written with retries, and what cannot be written is held (see
 * {@link pendingIdempotencyRecords}).
 */
async function execute(
  fn: (...args: unknown[]) => unknown,
  self: unknown,
  args: unknown[],
  key: string,
  owner: string,
  fingerprint: string | undefined,
  namespace: string,
  options: IdempotencyOptions,
  settings: Settings,
): Promise<unknown> {
  const { store, ttlMs, leaseMs, clock } = settings;
  const lease = new LeaseKeeper(() => store.extendLease(key, owner, leaseMs), leaseMs, clock).start();
  let result: unknown;
  try {
    result = await storage.run({ key }, () => fn.apply(self, args));
  } catch (error) {
    lease.stop();
    const record = typeof options.recordFailures === 'function' ? options.recordFailures(error) : options.recordFailures === true;
    const failure =
      error instanceof Error ? { name: error.name, message: error.message } : { name: 'Error', message: String(error) };
    // Best effort: a key that cannot be given back stays held until its lease runs out.
    await retryStoreOp(
      () => (record ? store.complete(key, owner, { error: failure, ttlMs }) : store.release(key, owner)),
      inline(clock),
    ).catch(() => {});
    throw error;
  }
  // The effect happened: from now on this process answers duplicates with its result
  // until the record is written. A write that took effect but reported failure is found
  // by reading the record back (it is completed, by this owner).
  const entry: Held = { key, result, fingerprint, since: clock.now(), attempts: 0, lastError: undefined };
  const forget = keep(store, entry);
  const write = async () =>
    (await store.complete(key, owner, { result, ttlMs })) ||
    (await store.get(key).then((r) => r?.status === 'completed' && r.owner === owner));
  try {
    const stored = await retryStoreOp(
      write,
      inline(clock, () => report(namespace, 'record_retry')),
    );
    lease.stop();
    forget();
    report(namespace, stored ? 'executed' : 'lost_lease');
  } catch (error) {
    [entry.attempts, entry.lastError] = [3, error];
    report(namespace, 'unrecorded');
    background(entry, write, lease, clock, forget);
  }
  return result;
}

/** Puts `entry` among the results this process holds; returns the function that takes it out. */
function keep(store: IdempotencyStore, entry: Held): () => void {
  let keys = held.get(store);
  if (keys === undefined) held.set(store, (keys = new Map()));
  keys.set(entry.key, entry);
  return () => {
    if (keys.get(entry.key) === entry) keys.delete(entry.key);
    if (keys.size === 0 && held.get(store) === keys) held.delete(store);
  };
}

/** Keeps the lease alive while writing the record in the background, then forgets the held result. */
function background(entry: Held, write: () => Promise<boolean>, lease: LeaseKeeper, clock: Clock, forget: () => void): void {
  const done = () => {
    lease.stop();
    forget();
  };
  retryStoreOp(write, {
    clock,
    baseDelayMs: 100,
    maxDelayMs: 5000,
    isFinal: isCorrupt,
    unref: true,
    onFailure: (error) => {
      entry.attempts++;
      entry.lastError = error;
    },
  }).then(done, done);
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
