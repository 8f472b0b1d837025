import { createHash } from 'node:crypto';

/**
 * A stored record could not be read as what it should be: truncated, not JSON, the
 * wrong shape (`null`, `{}`, `[]`, an unknown status) or edited after it was written
 * (its checksum does not match). Code `CORRUPT_RECORD`, not retryable: the record is
 * left as it is for a person to inspect or delete — the SDK never guesses (a guess
 * could re-run an effect or replay a wrong result).
 *
 * `record` names what the record is for (the run id or the idempotency key), `location`
 * where it is stored (the file path, or the Redis key), `reason` what is wrong. It has
 * the fields of the SDK's `ResilienceError`s (`code`, `retryable`, `retryAfterMs`) but
 * is thrown by the stores, a layer below the policies, so it extends `Error` directly.
 */
export class CorruptRecordError extends Error {
  /** Stable machine-readable code. */
  readonly code = 'CORRUPT_RECORD';
  /** Never: reading the same record again gives the same answer. */
  readonly retryable = false;
  /** Always undefined (not retryable). */
  readonly retryAfterMs: number | undefined = undefined;
  /** The run id or idempotency key the record is for. */
  readonly record: string;
  /** Where it is stored: the file path, or `Redis key <key>`. */
  readonly location: string;
  /** What is wrong with it. */
  readonly reason: string;

  constructor(record: string, location: string, reason: string, options?: ErrorOptions) {
    super(`Corrupt record "${record}" at ${location}: ${reason}`, options);
    this.name = 'CorruptRecordError';
    this.record = record;
    this.location = location;
    this.reason = reason;
  }
}

/** Whether `value` is a plain JSON object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The SHA-256 of `text`, in hex: the checksum stores keep next to a record. */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
