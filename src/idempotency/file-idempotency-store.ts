import { type Clock, systemClock } from '../policies/clock.js';
import { FileRecords } from '../stores/file-records.js';
import {
  type AcquireResult,
  type IdempotencyRecord,
  type IdempotencyStore,
  idempotencyRecordProblem,
  idempotencyRules,
} from './idempotency-store.js';

/**
 * An {@link IdempotencyStore} in a directory, for processes on one machine: one JSON
 * file per key (named by its SHA-256), each operation atomic under a per-key lock and
 * written by rename, so a `kill -9` never leaves half a record, nor a lock that stalls
 * the next process ({@link FileRecords}). A truncated, edited or malformed record is a
 * `CorruptRecordError` naming the key and the file. Owner-only permissions.
 */
export class FileIdempotencyStore implements IdempotencyStore {
  private readonly clock: Clock;
  private readonly records: FileRecords<IdempotencyRecord>;

  /**
   * @param directory where records live (created if missing)
   * @param options.clock time source for leases and expiry (default: the system clock)
   */
  constructor(directory: string, options: { clock?: Clock } = {}) {
    this.clock = options.clock ?? systemClock;
    this.records = new FileRecords(directory, idempotencyRecordProblem);
  }

  acquire(key: string, a: { owner: string; fingerprint?: string; leaseMs: number; ttlMs: number }): Promise<AcquireResult> {
    return this.update<AcquireResult>(key, (current, now) => {
      const next = idempotencyRules.acquire(current, key, a, now);
      return next === undefined ? [undefined, { acquired: false, existing: current! }] : [next, { acquired: true }];
    });
  }

  complete(
    key: string,
    owner: string,
    outcome: { result?: unknown; error?: IdempotencyRecord['error']; ttlMs: number },
  ): Promise<boolean> {
    return this.update(key, (current, now) => {
      if (!idempotencyRules.holds(current, owner)) return [undefined, false];
      const next: IdempotencyRecord = {
        ...current,
        status: outcome.error === undefined ? 'completed' : 'failed',
        leaseExpiresAt: undefined,
        expiresAt: now + outcome.ttlMs,
        result: outcome.result,
        error: outcome.error,
      };
      return [next, true];
    });
  }

  release(key: string, owner: string): Promise<boolean> {
    return this.update(key, (current) => (idempotencyRules.holds(current, owner) ? [null, true] : [undefined, false]));
  }

  extendLease(key: string, owner: string, leaseMs: number): Promise<boolean> {
    return this.update(key, (current, now) => {
      if (!idempotencyRules.holds(current, owner)) return [undefined, false];
      const leaseExpiresAt = now + leaseMs;
      return [{ ...current, leaseExpiresAt, expiresAt: Math.max(current.expiresAt, leaseExpiresAt) }, true];
    });
  }

  async get(key: string): Promise<IdempotencyRecord | undefined> {
    const current = await this.records.read(key);
    return idempotencyRules.live(current, this.clock.now()) ? current : undefined;
  }

  private update<R>(
    key: string,
    change: (current: IdempotencyRecord | undefined, now: number) => [IdempotencyRecord | null | undefined, R],
  ): Promise<R> {
    return this.records.update(key, (current) => change(current, this.clock.now()));
  }
}
