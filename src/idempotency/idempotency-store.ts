import { type Clock, systemClock } from '../policies/clock.js';
import { isObject } from '../stores/corrupt-record-error.js';

/** States of an idempotency record. */
export type IdempotencyStatus = 'in_progress' | 'completed' | 'failed';

/** What a store keeps per idempotency key. JSON-serializable. */
export interface IdempotencyRecord {
  readonly key: string;
  readonly status: IdempotencyStatus;
  /** Random token of the call holding (or having completed) the record. */
  readonly owner: string;
  /** Fingerprint of the payload the key was first used with. */
  readonly fingerprint?: string | undefined;
  /** While in progress: when the holder's lease runs out (ms since epoch). */
  readonly leaseExpiresAt?: number | undefined;
  /** When the record is forgotten (ms since epoch). */
  readonly expiresAt: number;
  /** The stored result of a completed call. */
  readonly result?: unknown;
  /** The recorded failure of a failed call (`recordFailures`). */
  readonly error?: { readonly name: string; readonly message: string } | undefined;
}

/** The outcome of {@link IdempotencyStore.acquire}. */
export type AcquireResult = { readonly acquired: true } | { readonly acquired: false; readonly existing: IdempotencyRecord };

/**
 * Where idempotency records live. Every method is one atomic operation (a conditional
 * write, a Lua script), so a store can be shared by processes. Owners are random tokens:
 * only the current owner may complete, release or extend a record, so a holder whose
 * lease ran out cannot overwrite the result of the holder that took over.
 * `test/support/idempotency-store-conformance.ts` is the suite every store must pass.
 */
export interface IdempotencyStore {
  /**
   * Creates an in-progress record owned by `owner` if there is none, or the existing one
   * expired, or it is in progress with an expired lease (a crashed holder), or `owner`
   * holds it already (a retried acquire whose reply was lost); otherwise returns the
   * existing record untouched.
   * @throws CorruptRecordError when the stored record is unreadable (nothing is written)
   */
  acquire(key: string, a: { owner: string; fingerprint?: string; leaseMs: number; ttlMs: number }): Promise<AcquireResult>;
  /** Marks the record completed (or failed) if `owner` still holds it; false otherwise. */
  complete(
    key: string,
    owner: string,
    outcome: { result?: unknown; error?: IdempotencyRecord['error']; ttlMs: number },
  ): Promise<boolean>;
  /** Deletes the record if `owner` holds it (a failed call gives the key back); false otherwise. */
  release(key: string, owner: string): Promise<boolean>;
  /** Pushes the lease of an in-progress record held by `owner` to now + `leaseMs`; false otherwise. */
  extendLease(key: string, owner: string, leaseMs: number): Promise<boolean>;
  /**
   * The live record of `key`, if any.
   * @throws CorruptRecordError when the stored record is unreadable
   */
  get(key: string): Promise<IdempotencyRecord | undefined>;
}

/**
 * The decisions every store makes, on plain records, so stores differ only in how they
 * read and write atomically.
 */
export const idempotencyRules = {
  /** Whether `record` still counts at `now` (undefined or expired records do not). */
  live(record: IdempotencyRecord | undefined, now: number): record is IdempotencyRecord {
    return record !== undefined && record.expiresAt > now;
  },
  /** The record `acquire` writes, or undefined when `current` must be returned instead. */
  acquire(
    current: IdempotencyRecord | undefined,
    key: string,
    a: { owner: string; fingerprint?: string; leaseMs: number; ttlMs: number },
    now: number,
  ): IdempotencyRecord | undefined {
    const takeable =
      !idempotencyRules.live(current, now) ||
      (current.status === 'in_progress' && ((current.leaseExpiresAt ?? 0) <= now || current.owner === a.owner));
    if (!takeable) return undefined;
    return {
      key,
      status: 'in_progress',
      owner: a.owner,
      fingerprint: a.fingerprint,
      leaseExpiresAt: now + a.leaseMs,
      expiresAt: now + Math.max(a.ttlMs, a.leaseMs),
    };
  },
  /** Whether `owner` holds `current`, in progress (the lease is not checked: a late owner may still finish). */
  holds(current: IdempotencyRecord | undefined, owner: string): current is IdempotencyRecord {
    return current !== undefined && current.status === 'in_progress' && current.owner === owner;
  },
};

const STATUSES: readonly string[] = ['in_progress', 'completed', 'failed'];
const optional = (value: unknown, type: string) => value === undefined || typeof value === type;

/**
 * What is wrong with `value` as an {@link IdempotencyRecord}, or undefined when it is
 * one: the check every store that reads records back runs (a `{}` must not re-run an effect).
 */
export function idempotencyRecordProblem(value: unknown): string | undefined {
  if (!isObject(value))
    return `expected an idempotency record, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`;
  if (typeof value.key !== 'string') return 'no key';
  if (!STATUSES.includes(value.status as string)) return `unknown status ${JSON.stringify(value.status)}`;
  if (typeof value.owner !== 'string' || value.owner === '') return 'no owner';
  if (typeof value.expiresAt !== 'number' || Number.isNaN(value.expiresAt)) return 'no expiry';
  if (!optional(value.leaseExpiresAt, 'number') || (value.status === 'in_progress' && value.leaseExpiresAt === undefined)) {
    return 'in progress without a lease';
  }
  if (!optional(value.fingerprint, 'string')) return 'fingerprint is not a string';
  const error = value.error;
  if (error !== undefined && !(isObject(error) && typeof error.name === 'string' && typeof error.message === 'string')) {
    return 'malformed error';
  }
  if (value.status === 'failed' && error === undefined) return 'failed without an error';
  return undefined;
}

/**
 * An {@link IdempotencyStore} in this process's memory: the default, for one process.
 * Expired records are dropped when touched and swept every 1024 acquisitions.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly records = new Map<string, IdempotencyRecord>();
  private readonly clock: Clock;
  private acquisitions = 0;

  /** @param options.clock time source for leases and expiry (default: the system clock) */
  constructor(options: { clock?: Clock } = {}) {
    this.clock = options.clock ?? systemClock;
  }

  async acquire(key: string, a: { owner: string; fingerprint?: string; leaseMs: number; ttlMs: number }): Promise<AcquireResult> {
    const now = this.clock.now();
    if (++this.acquisitions % 1024 === 0) this.sweep(now);
    const current = this.records.get(key);
    const next = idempotencyRules.acquire(current, key, a, now);
    if (next === undefined) return { acquired: false, existing: current! };
    this.records.set(key, next);
    return { acquired: true };
  }

  async complete(
    key: string,
    owner: string,
    outcome: { result?: unknown; error?: IdempotencyRecord['error']; ttlMs: number },
  ): Promise<boolean> {
    const current = this.records.get(key);
    if (!idempotencyRules.holds(current, owner)) return false;
    this.records.set(key, {
      ...current,
      status: outcome.error === undefined ? 'completed' : 'failed',
      leaseExpiresAt: undefined,
      expiresAt: this.clock.now() + outcome.ttlMs,
      result: outcome.result,
      error: outcome.error,
    });
    return true;
  }

  async release(key: string, owner: string): Promise<boolean> {
    if (!idempotencyRules.holds(this.records.get(key), owner)) return false;
    this.records.delete(key);
    return true;
  }

  async extendLease(key: string, owner: string, leaseMs: number): Promise<boolean> {
    const current = this.records.get(key);
    if (!idempotencyRules.holds(current, owner)) return false;
    const leaseExpiresAt = this.clock.now() + leaseMs;
    this.records.set(key, { ...current, leaseExpiresAt, expiresAt: Math.max(current.expiresAt, leaseExpiresAt) });
    return true;
  }

  async get(key: string): Promise<IdempotencyRecord | undefined> {
    const current = this.records.get(key);
    return idempotencyRules.live(current, this.clock.now()) ? current : undefined;
  }

  /** How many records are held, live or expired but not swept yet (at most 1024 of those). */
  get size(): number {
    return this.records.size;
  }

  private sweep(now: number): void {
    for (const [key, record] of this.records) if (!idempotencyRules.live(record, now)) this.records.delete(key);
  }
}
