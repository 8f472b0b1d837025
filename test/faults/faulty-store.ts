/**
 * A store wrapper that injects the faults production delivers: any operation of any
 * store (idempotency, workflow, rate limit, breaker) can fail before it happens, time
 * out without happening, take effect and then report failure (a reply lost on a reset
 * connection), or time out and take effect afterwards (a command that sat in a stalled
 * server) — at chosen calls, or at random from a seed.
 */
import { seededRandom } from '../../src/index.js';

/** What goes wrong with one operation. */
export type Fault = 'fail' | 'timeout' | 'effect-then-fail' | 'late-effect';

export const ALL_FAULTS: readonly Fault[] = ['fail', 'timeout', 'effect-then-fail', 'late-effect'];

export interface FaultPlan {
  /** Faults at chosen calls of an operation (1-based, counted per operation). */
  readonly at?: ReadonlyArray<{ readonly op: string; readonly call: number; readonly fault: Fault }>;
  /** Faults at random: each call of `ops` (default all) gets one of `faults` with probability `rate`. */
  readonly random?: {
    readonly seed: number;
    readonly rate: number;
    readonly faults?: readonly Fault[];
    readonly ops?: readonly string[];
  };
  /** How long a `timeout` or `late-effect` waits before it rejects, in ms (default 20). */
  readonly timeoutMs?: number;
}

/** The error a faulty operation rejects with (shaped like a client's network error). */
export class StoreFaultError extends Error {
  readonly code = 'ECONNRESET';
  constructor(
    readonly op: string,
    readonly fault: Fault,
  ) {
    super(`injected ${fault} in ${op}`);
    this.name = 'StoreFaultError';
  }
}

export interface FaultControl {
  /** Calls per operation. */
  readonly calls: Record<string, number>;
  /** Faults injected, by kind. */
  readonly injected: Record<Fault, number>;
  /** Stops injecting (the store heals). */
  heal(): void;
}

/** `store` with faults injected into its methods as `plan` says; the control reports and heals. */
export function faulty<S extends object>(store: S, plan: FaultPlan): [S, FaultControl] {
  const random = plan.random === undefined ? undefined : seededRandom(plan.random.seed);
  const timeoutMs = plan.timeoutMs ?? 20;
  let healed = false;
  const control: FaultControl = {
    calls: {},
    injected: { fail: 0, timeout: 0, 'effect-then-fail': 0, 'late-effect': 0 },
    heal: () => {
      healed = true;
    },
  };
  const choose = (op: string, call: number): Fault | undefined => {
    if (healed) return undefined;
    const chosen = plan.at?.find((f) => f.op === op && f.call === call)?.fault;
    if (chosen !== undefined || random === undefined) return chosen;
    const { rate, faults = ALL_FAULTS, ops } = plan.random!;
    if (ops !== undefined && !ops.includes(op)) return undefined;
    if (random() >= rate) return undefined;
    return faults[Math.floor(random() * faults.length)];
  };
  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      return async (...args: unknown[]) => {
        const call = (control.calls[property] = (control.calls[property] ?? 0) + 1);
        const fault = choose(property, call);
        if (fault === undefined) return value.apply(target, args);
        control.injected[fault]++;
        switch (fault) {
          case 'fail':
            throw new StoreFaultError(property, fault);
          case 'timeout':
            await wait(timeoutMs);
            throw new StoreFaultError(property, fault);
          case 'effect-then-fail':
            await value.apply(target, args);
            throw new StoreFaultError(property, fault);
          case 'late-effect':
            await wait(timeoutMs);
            setTimeout(() => Promise.resolve(value.apply(target, args)).catch(() => {}), timeoutMs);
            throw new StoreFaultError(property, fault);
        }
      };
    },
  });
  return [proxy, control];
}
