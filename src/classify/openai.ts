/**
 * The openai SDK's error classes that carry no status or code (its HTTP errors carry
 * `status` and `headers`, read by the HTTP classifier).
 */
import type { Bag, ErrorCategory } from './classification.js';

const CLASS_CATEGORIES: ReadonlyMap<string, ErrorCategory> = new Map([
  ['APIConnectionTimeoutError', 'timeout'],
  ['APIConnectionError', 'transient'],
  ['APIUserAbortError', 'permanent'], // the caller aborted
]);

/** The category of an openai SDK connection or abort error, by class name, or undefined. */
export function categoryOfOpenAiClass(error: Bag): ErrorCategory | undefined {
  return CLASS_CATEGORIES.get((error.constructor as { name?: string } | undefined)?.name ?? '');
}
