/**
 * gRPC errors (grpc-js `ServiceError`: a numeric status `code` plus `details`).
 */
import { type Bag, classification, type ErrorClassification } from './classification.js';

/**
 * UNAVAILABLE and ABORTED are worth retrying, DEADLINE_EXCEEDED is a timeout,
 * RESOURCE_EXHAUSTED a rate limit; the rest (CANCELLED, INVALID_ARGUMENT, NOT_FOUND, …)
 * are permanent.
 */
const GRPC_CATEGORIES = new Map([
  [14, 'transient'], // UNAVAILABLE
  [10, 'transient'], // ABORTED
  [4, 'timeout'], // DEADLINE_EXCEEDED
  [8, 'rate-limited'], // RESOURCE_EXHAUSTED
] as const);

/** Classifies a gRPC `ServiceError` (code `GRPC_<n>`), or returns undefined for other errors. */
export function classifyGrpc(error: Bag): ErrorClassification | undefined {
  if (typeof error.code !== 'number' || typeof error.details !== 'string') return undefined;
  return classification(GRPC_CATEGORIES.get(error.code as 14) ?? 'permanent', undefined, `GRPC_${error.code}`);
}
