import { type IdempotencyOptions, idempotencyRunner } from '../idempotency/idempotent.js';
import { type AnyFunction, methodDecorator, preserveShape } from './method.js';

/**
 * Makes a side-effecting method or function run at most once per idempotency key
 * (Stripe, the IETF Idempotency-Key draft and Powertools semantics, with their known
 * bugs avoided):
 *
 * - the first call with a key takes an in-progress record with a lease (renewed while
 *   it runs), runs, and stores its result for `ttlMs`; later calls with the key get that
 *   result without running (`resilience.idempotency` event, outcome `replayed`);
 * - a concurrent duplicate gets `IdempotencyInProgressError` or waits (`onInProgress`);
 *   a crashed holder's lease runs out and the next caller takes over; a holder whose
 *   lease was taken over cannot overwrite the new holder's result;
 * - the same key with a different `fingerprint` gets `IdempotencyConflictError`;
 * - a failed call releases the key (or records the failure, `recordFailures`);
 * - once the effect ran, a failing store never turns the result into an error nor runs
 *   the effect again while the process lives: recording is retried, and a result that
 *   cannot be recorded is held by the process (`pendingIdempotencyRecords()`), its lease
 *   kept, and written once the store answers;
 * - inside the call, `currentIdempotencyKey()` gives the key to send as an
 *   `Idempotency-Key` header: the contract for the one inherent window (a process that
 *   dies between the effect and its record; the next caller runs with the same key).
 *
 * Two forms: `@idempotent(options)` on a method (TC39 or legacy decorators; namespace
 * `Class.method`), or `idempotent(fn, options)` (namespace `fn.name`). One in-memory
 * store per decorated method or wrapped function unless `store` is given (e.g. a
 * `FileIdempotencyStore` shared by processes). Results must survive the store (JSON
 * for the file store). The call returns a promise.
 *
 * @throws TypeError/RangeError naming the option, for invalid options (at decoration time)
 */
export function idempotent<A extends unknown[]>(
  options: IdempotencyOptions<A>,
): (target: unknown, keyOrContext: unknown, descriptor?: PropertyDescriptor) => any;
/** Function form of {@link idempotent}. */
export function idempotent<F extends (...args: any[]) => Promise<unknown>>(fn: F, options: IdempotencyOptions<Parameters<F>>): F;
export function idempotent(first: AnyFunction | IdempotencyOptions, second?: IdempotencyOptions) {
  if (typeof first === 'function') {
    const run = idempotencyRunner(second as IdempotencyOptions);
    const namespace = first.name || 'anonymous';
    const wrapper = function (this: unknown, ...args: unknown[]) {
      return run(first, this, args, namespace);
    };
    return preserveShape(wrapper, first);
  }
  const run = idempotencyRunner(first);
  return methodDecorator('idempotent', (method, nameOf) =>
    preserveShape(function (this: unknown, ...args: unknown[]) {
      return run(method, this, args, nameOf(this));
    }, method),
  );
}
