import type { CircuitState } from '../telemetry/events.js';

/** A state every process of a shared breaker takes on (half-open stays per process: each probes for itself). */
export type SharedCircuitState = Exclude<CircuitState, 'half_open'>;

/** What a {@link CircuitBreakerStore} holds for one breaker name. */
export interface SharedCircuit {
  /** Incremented by every published change: a process adopts only changes newer than those it has seen. */
  readonly generation: number;
  readonly state: SharedCircuitState;
  /** While open: ms left (store's clock) until probing may start; 0 once it may. */
  readonly openRemainingMs: number;
}

/**
 * Where breakers of the same name in several processes meet (`RedisCircuitBreakerStore`
 * in `otel-resilience/redis`). It holds state, not counts: each process counts its own
 * failures, publishes its transitions, and reads the others'. Each method is one atomic
 * step on the store's own clock, so processes with skewed clocks agree on how long a
 * circuit stays open. A store is never held across a call.
 */
export interface CircuitBreakerStore {
  /**
   * Publishes that `breaker` is now `state` — open for `openForMs` more — and returns the
   * generation of this change.
   */
  publish(breaker: string, state: SharedCircuitState, openForMs: number): Promise<number>;
  /** The last published change of `breaker`, or undefined if none was. */
  read(breaker: string): Promise<SharedCircuit | undefined>;
}
