import { classifyError } from '../classify/index.js';
import { implementsOption, knownOptions, numberOption, stringOption } from './validate.js';

/**
 * Where a {@link RetryBudget}'s tokens live: this process's memory by default,
 * `RedisRetryBudgetStore` (`otel-resilience/redis`) to share one budget across replicas.
 */
export interface RetryBudgetStore {
  /**
   * Takes `cost` tokens from budget `name` (which starts full at `capacity`): true when
   * at least `cost` were left, false (taking nothing) otherwise.
   */
  take(name: string, cost: number, capacity: number): boolean | Promise<boolean>;
  /** Gives `amount` tokens back to budget `name`, never above `capacity`. */
  give(name: string, amount: number, capacity: number): void | Promise<void>;
}

/** A {@link RetryBudgetStore} in this process's memory. */
export class MemoryRetryBudgetStore implements RetryBudgetStore {
  private readonly tokens = new Map<string, number>();

  take(name: string, cost: number, capacity: number): boolean {
    const left = this.tokens.get(name) ?? capacity;
    if (left < cost) return false;
    this.tokens.set(name, left - cost);
    return true;
  }

  give(name: string, amount: number, capacity: number): void {
    const left = this.tokens.get(name);
    if (left === undefined) return; // still full
    const next = Math.min(capacity, left + amount);
    if (next >= capacity) this.tokens.delete(name);
    else this.tokens.set(name, next);
  }
}

/** Options of {@link RetryBudget}; the defaults are the AWS SDKs' standard retry mode. */
export interface RetryBudgetOptions {
  /** Name of the budget: calls (and, through a shared store, replicas) with the same name share it (default `'retry-budget'`). */
  readonly name?: string;
  /** Tokens in a full budget (default 500). */
  readonly capacity?: number;
  /** Tokens a retry costs (default 5). */
  readonly retryCost?: number;
  /** Tokens a retry after a timeout costs (default 10). */
  readonly timeoutCost?: number;
  /** Tokens a call that succeeded at its first attempt gives back (default 1). */
  readonly successRefund?: number;
  /** Where the tokens live (default: this process's memory). */
  readonly store?: RetryBudgetStore;
}

/**
 * A retry quota shared by every call to one dependency, so an outage does not become a
 * retry storm: each retry takes tokens (a timeout more), each success gives some back;
 * when the budget is empty, calls stop retrying (`resilience.retry.exhausted` with
 * give-up reason `budget`) and fail at their current attempt until successes refill it.
 *
 * Semantics of the AWS SDKs' standard retry mode ("Retry behavior", AWS SDKs and Tools
 * Reference Guide): 500 tokens, a retry costs 5, a retry after a timeout 10; a success
 * of a retried call returns what its last retry took, a success at the first attempt
 * returns 1. First attempts are never refused: the budget bounds retries only.
 *
 * Give one instance to every `retry` that calls the dependency (`retry: { budget }`);
 * with `RedisRetryBudgetStore`, replicas share the tokens. While the shared store fails,
 * this process goes on with a budget of its own (never retrying without bound).
 *
 * @throws TypeError/RangeError naming the option, for invalid options
 */
export class RetryBudget {
  readonly name: string;
  readonly capacity: number;
  readonly retryCost: number;
  readonly timeoutCost: number;
  readonly successRefund: number;
  private readonly store: RetryBudgetStore;
  /** This process's budget, used while a shared store fails. */
  private local: MemoryRetryBudgetStore | undefined;

  constructor(options: RetryBudgetOptions = {}) {
    knownOptions('retryBudget.', options, ['name', 'capacity', 'retryCost', 'timeoutCost', 'successRefund', 'store']);
    this.name = stringOption('retryBudget.name', options.name, 'retry-budget');
    this.capacity = numberOption('retryBudget.capacity', options.capacity, 500, { min: 1 });
    this.retryCost = numberOption('retryBudget.retryCost', options.retryCost, 5, { min: 0 });
    this.timeoutCost = numberOption('retryBudget.timeoutCost', options.timeoutCost, 10, { min: 0 });
    this.successRefund = numberOption('retryBudget.successRefund', options.successRefund, 1, { min: 0 });
    this.store =
      implementsOption<RetryBudgetStore>('retryBudget.store', options.store, 'RetryBudgetStore', ['take', 'give']) ??
      new MemoryRetryBudgetStore();
  }

  /** What a retry after `error` costs: `timeoutCost` after a timeout, else `retryCost`. */
  costOf(error: unknown): number {
    return classifyError(error).category === 'timeout' ? this.timeoutCost : this.retryCost;
  }

  /**
   * Takes `cost` tokens for one retry: true when the retry may go ahead. Never throws or
   * rejects: a failing shared store is replaced by this process's own budget.
   */
  acquire(cost: number): boolean | Promise<boolean> {
    let taken: boolean | Promise<boolean>;
    try {
      taken = this.store.take(this.name, cost, this.capacity);
    } catch (error) {
      taken = Promise.reject(error);
    }
    if (typeof taken === 'boolean') return taken;
    return taken.then(
      (ok) => ok === true,
      () => this.fallback().take(this.name, cost, this.capacity),
    );
  }

  /**
   * A call succeeded: gives back what its last retry took (`lastCost`), or
   * `successRefund` when it made no retry. Not awaited; a failing store keeps the tokens.
   */
  succeeded(lastCost: number): void {
    const amount = lastCost > 0 ? lastCost : this.successRefund;
    if (amount === 0) return;
    try {
      const done = this.store.give(this.name, amount, this.capacity);
      if (done !== undefined) done.catch(() => {});
    } catch {
      // The budget stays lower: the safe side.
    }
  }

  private fallback(): MemoryRetryBudgetStore {
    this.local ??= new MemoryRetryBudgetStore();
    return this.local;
  }
}
