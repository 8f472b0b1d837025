import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Clock, systemClock } from '../policies/clock.js';
import {
  type AcquireResult,
  type IdempotencyRecord,
  type IdempotencyStore,
  idempotencyRules,
} from './idempotency-store.js';

/** A lock older than this is taken to be left by a killed process, in ms. */
const STALE_LOCK_MS = 10_000;
/** How long to try for a lock before failing, in ms. */
const LOCK_WAIT_MS = 5_000;

/**
 * An {@link IdempotencyStore} in a directory, for processes on one machine: one JSON
 * file per key, written to a temporary file and renamed into place (atomic, so a
 * `kill -9` never leaves half a record), each operation under a per-key lock directory
 * (`mkdir` is atomic; a lock older than 10 s is taken to be a killed holder's).
 */
export class FileIdempotencyStore implements IdempotencyStore {
  private readonly clock: Clock;

  /**
   * @param directory where records live (created if missing)
   * @param options.clock time source for leases and expiry (default: the system clock)
   */
  constructor(
    private readonly directory: string,
    options: { clock?: Clock } = {},
  ) {
    this.clock = options.clock ?? systemClock;
  }

  acquire(key: string, a: { owner: string; fingerprint?: string; leaseMs: number; ttlMs: number }): Promise<AcquireResult> {
    return this.update<AcquireResult>(key, (current, now) => {
      const next = idempotencyRules.acquire(current, key, a, now);
      return next === undefined ? [undefined, { acquired: false, existing: current! }] : [next, { acquired: true }];
    });
  }

  complete(key: string, owner: string, outcome: { result?: unknown; error?: IdempotencyRecord['error']; ttlMs: number }): Promise<boolean> {
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
    const current = await this.read(this.fileOf(key));
    return idempotencyRules.live(current, this.clock.now()) ? current : undefined;
  }

  private fileOf(key: string): string {
    return join(this.directory, `${createHash('sha256').update(key).digest('hex')}.json`);
  }

  private async read(file: string): Promise<IdempotencyRecord | undefined> {
    try {
      return JSON.parse(await readFile(file, 'utf8')) as IdempotencyRecord;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /**
   * Reads the record under the key's lock and applies `change`: it returns the record to
   * write (`null` deletes, undefined leaves it) and the operation's answer.
   */
  private async update<R>(
    key: string,
    change: (current: IdempotencyRecord | undefined, now: number) => [IdempotencyRecord | null | undefined, R],
  ): Promise<R> {
    await mkdir(this.directory, { recursive: true });
    const file = this.fileOf(key);
    const lock = `${file}.lock`;
    await this.lock(lock);
    try {
      const [next, answer] = change(await this.read(file), this.clock.now());
      if (next === null) await rm(file, { force: true });
      else if (next !== undefined) {
        const temporary = `${file}.${randomUUID()}.tmp`;
        await writeFile(temporary, JSON.stringify(next));
        await rename(temporary, file);
      }
      return answer;
    } finally {
      await rmdir(lock).catch(() => {});
    }
  }

  private async lock(lock: string): Promise<void> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
      try {
        await mkdir(lock);
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const held = await stat(lock).catch(() => undefined);
      if (held !== undefined && Date.now() - held.mtimeMs > STALE_LOCK_MS) {
        await rmdir(lock).catch(() => {});
        continue;
      }
      if (Date.now() > deadline) throw new Error(`Could not lock ${lock} within ${LOCK_WAIT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
