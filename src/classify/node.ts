/**
 * Node socket/DNS error codes and undici's codes (fetch wraps them in `cause`).
 */
import type { ErrorCategory } from './classification.js';

/** Codes that mean "the network hiccuped; try again". */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED', // also axios: a request aborted by its timeout
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_RESPONSE_STATUS_CODE',
]);

/** Codes that mean a network-level timeout. */
const TIMEOUT_CODES = new Set([
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** The category of a Node or undici error code, or undefined for codes it does not know. */
export function categoryOfCode(code: string): ErrorCategory | undefined {
  if (TRANSIENT_CODES.has(code)) return 'transient';
  if (TIMEOUT_CODES.has(code)) return 'timeout';
  return undefined;
}
