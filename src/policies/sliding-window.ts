/** Number of buckets the failure-rate window is divided into. */
const BUCKETS = 10;

/**
 * Calls, failures and slow calls over a sliding time window, kept in fixed buckets (the
 * time-based sliding window of resilience4j), for the circuit breaker's rates.
 */
export class SlidingWindow {
  private readonly bucketMs: number;
  private readonly ids = new Float64Array(BUCKETS).fill(-1);
  private readonly calls = new Uint32Array(BUCKETS);
  private readonly failures = new Uint32Array(BUCKETS);
  private readonly slow = new Uint32Array(BUCKETS);

  /** @param windowMs the window's length in ms, split into equal buckets */
  constructor(windowMs: number) {
    this.bucketMs = windowMs / BUCKETS;
  }

  /** Counts one call at `now` (ms), failed and/or slow. */
  record(now: number, failed: boolean, slow: boolean): void {
    const id = Math.floor(now / this.bucketMs);
    const slot = id % BUCKETS;
    if (this.ids[slot] !== id) {
      this.ids[slot] = id;
      this.calls[slot] = 0;
      this.failures[slot] = 0;
      this.slow[slot] = 0;
    }
    this.calls[slot]! += 1;
    if (failed) this.failures[slot]! += 1;
    if (slow) this.slow[slot]! += 1;
  }

  /** [calls, failures, slow calls] in the buckets that overlap the last `windowMs`. */
  totals(now: number): [number, number, number] {
    const newest = Math.floor(now / this.bucketMs);
    let calls = 0;
    let failures = 0;
    let slow = 0;
    for (let slot = 0; slot < BUCKETS; slot++) {
      if (this.ids[slot]! > newest - BUCKETS) {
        calls += this.calls[slot]!;
        failures += this.failures[slot]!;
        slow += this.slow[slot]!;
      }
    }
    return [calls, failures, slow];
  }

  /** Forgets every call. */
  clear(): void {
    this.ids.fill(-1);
  }
}
