import { ResilienceError } from '../policies/errors.js';

/**
 * Another call holds the same idempotency key right now (IETF Idempotency-Key draft:
 * 409). Retryable once it finishes; `retryAfterMs` is the holder's remaining lease.
 */
export class IdempotencyInProgressError extends ResilienceError {
  readonly key: string;
  constructor(key: string, retryAfterMs?: number) {
    super(`A call with idempotency key "${key}" is in progress`, 'IDEMPOTENCY_IN_PROGRESS', true, retryAfterMs);
    this.key = key;
  }
}

/** The idempotency key was used before with a different payload (IETF draft: 422). Not retryable. */
export class IdempotencyConflictError extends ResilienceError {
  readonly key: string;
  constructor(key: string) {
    super(`Idempotency key "${key}" was used with a different payload`, 'IDEMPOTENCY_KEY_REUSED', false);
    this.key = key;
  }
}

/** No idempotency key could be derived from the arguments (with `onMissingKey: 'throw'`, the default). */
export class IdempotencyKeyMissingError extends ResilienceError {
  constructor(namespace: string) {
    super(`No idempotency key for a call of "${namespace}"`, 'IDEMPOTENCY_KEY_MISSING', false);
  }
}

/** The first call with this key failed and its failure was recorded (`recordFailures`): replayed as this error. */
export class IdempotencyReplayedFailureError extends ResilienceError {
  readonly key: string;
  constructor(key: string, failure: { name: string; message: string }) {
    super(
      `The call with idempotency key "${key}" failed before: ${failure.name}: ${failure.message}`,
      'IDEMPOTENCY_FAILED',
      false,
    );
    this.key = key;
  }
}
