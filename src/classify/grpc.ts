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

/** The gRPC status codes by number (grpc/doc/statuscodes.md). */
const GRPC_STATUS_NAMES: readonly string[] = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

/**
 * Classifies a gRPC `ServiceError`, or returns undefined for other errors. Its code is
 * the status's name (`UNAVAILABLE`), as OpenTelemetry's gRPC conventions write
 * `rpc.response.status_code` (the number, for a status outside the table).
 */
export function classifyGrpc(error: Bag): Finding | undefined {
  if (typeof error.code !== 'number' || typeof error.details !== 'string') return undefined;
  return { verdict: GRPC_VERDICTS.get(error.code) ?? 'permanent', code: GRPC_STATUS_NAMES[error.code] ?? String(error.code) };
}
