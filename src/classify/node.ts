/**
 * Node socket/DNS error codes, undici's codes (fetch wraps them in `cause`) and the
 * cancellation codes of Node, undici and axios.
 */
import type { Verdict } from './classification.js';

const CODE_VERDICTS: ReadonlyMap<string, Verdict> = new Map<string, Verdict>([
  // "The network hiccuped; try again."
  ['ECONNRESET', 'transient'],
  ['ECONNREFUSED', 'transient'],
  ['ECONNABORTED', 'transient'], // also axios: a request aborted by its own timeout
  ['EPIPE', 'transient'],
  ['EAI_AGAIN', 'transient'],
  ['EHOSTUNREACH', 'transient'],
  ['ENETUNREACH', 'transient'],
  ['ENETDOWN', 'transient'],
  ['UND_ERR_SOCKET', 'transient'],
  ['UND_ERR_CLOSED', 'transient'],
  ['UND_ERR_RESPONSE_STATUS_CODE', 'transient'],
  // Network-level timeouts.
  ['ETIMEDOUT', 'timeout'],
  ['ESOCKETTIMEDOUT', 'timeout'],
  ['UND_ERR_CONNECT_TIMEOUT', 'timeout'],
  ['UND_ERR_HEADERS_TIMEOUT', 'timeout'],
  ['UND_ERR_BODY_TIMEOUT', 'timeout'],
  // The caller cancelled: Node's AbortError, undici's RequestAbortedError, axios' CanceledError.
  ['ABORT_ERR', 'aborted'],
  ['UND_ERR_ABORTED', 'aborted'],
  ['ERR_CANCELED', 'aborted'],
]);

/** The verdict on a Node, undici or axios error code, or undefined for codes it does not know. */
export function verdictOfCode(code: string): Verdict | undefined {
  return CODE_VERDICTS.get(code);
}

/** Whether a string looks like a library's error code (`ECONNRESET`, `ERR_INVALID_URL`): upper case, at most 64 characters. */
export function isErrorCode(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Z][A-Z0-9_]{1,63}$/.test(value);
}
