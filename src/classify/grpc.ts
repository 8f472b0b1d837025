/**
 * gRPC errors (grpc-js `ServiceError`: a numeric status `code` plus `details`).
 */
import type { Bag, Finding, Verdict } from './classification.js';

/**
 * UNAVAILABLE and ABORTED are worth retrying, DEADLINE_EXCEEDED is a timeout,
 * RESOURCE_EXHAUSTED a rate limit, CANCELLED the caller's abort; the rest
 * (INVALID_ARGUMENT, NOT_FOUND, …) are permanent.
 */
const GRPC_VERDICTS: ReadonlyMap<number, Verdict> = new Map<number, Verdict>([
  [14, 'transient'], // UNAVAILABLE
  [10, 'transient'], // ABORTED
  [4, 'timeout'], // DEADLINE_EXCEEDED
  [8, 'rate-limited'], // RESOURCE_EXHAUSTED
  [1, 'aborted'], // CANCELLED
]);

/** Classifies a gRPC `ServiceError` (code `GRPC_<n>`), or returns undefined for other errors. */
export function classifyGrpc(error: Bag): Finding | undefined {
  if (typeof error.code !== 'number' || typeof error.details !== 'string') return undefined;
  return { verdict: GRPC_VERDICTS.get(error.code) ?? 'permanent', code: `GRPC_${error.code}` };
}
