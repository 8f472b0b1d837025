/**
 * The errors behind an error: its `cause` chain, the members of an `AggregateError`
 * (Node's happy-eyeballs connect throws one per address tried), and the `lastError` of
 * the AI SDK's `RetryError` — outermost first, each once, bounded.
 */
import { ResilienceError } from '../policies/errors.js';
import { lastErrorOfRetryError } from './ai-sdk.js';
import { type Bag, isObject } from './classification.js';

/** At most this many errors are read from one chain (cycles and deep nesting stay cheap). */
const MAX_ERRORS = 16;

function add(chain: Bag[], value: unknown): void {
  if (isObject(value) && chain.length < MAX_ERRORS && !chain.includes(value)) chain.push(value);
}

/**
 * `error` and the errors behind it, breadth first: `cause`, then `errors` of an
 * `AggregateError`; a `RetryError` stands for its `lastError` only. This SDK's own
 * errors (`ResilienceError`) are read as they are, not through their causes: a
 * `RetriesExhaustedError` is not its last attempt's error.
 */
export function causeChain(error: Bag): readonly Bag[] {
  const chain = [error];
  for (let i = 0; i < chain.length; i++) {
    const current = chain[i]!;
    if (current instanceof ResilienceError) continue;
    const last = lastErrorOfRetryError(current);
    if (last !== undefined) {
      add(chain, last);
      continue;
    }
    add(chain, current.cause);
    if (Array.isArray(current.errors) && (current instanceof AggregateError || current.name === 'AggregateError')) {
      for (const member of current.errors) add(chain, member);
    }
  }
  return chain;
}
