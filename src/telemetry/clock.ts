/**
 * The one clock of every span, event and end time, and the causal order of spans.
 *
 * The OpenTelemetry JS SDK stamps a span's start from `Date.now()`, in whole
 * milliseconds (open-telemetry/opentelemetry-js#5019), and its events and end as that
 * start plus `performance.now()` elapsed. Each span is thus off by its own 0–1 ms, while
 * a retry, a breaker transition or a child span takes well under a millisecond: a
 * breaker opened "before" the failure that opened it, children ended after their
 * parents. {@link SpanClockProcessor} re-stamps each span's start on one clock — wall
 * time anchored once, advanced by `performance.now()` — so the SDK's own event and end
 * times, computed from that start, land on the same clock, for every span of the
 * provider (instrumentation's client spans included), with no change to the SDK.
 *
 * It also remembers, per span, a start sequence and how many events its parent had at
 * that moment: the causal order, which the span-tree printer uses so that its output
 * never depends on timestamps (equal under fake timers, close under real ones).
 */
import { type Context, diag, type HrTime, type Span, trace } from '@opentelemetry/api';

/** The clock's distance from `Date.now()`, in ms, beyond which it re-anchors (a clock step or a fake clock). */
const MAX_DRIFT_MS = 2;

/** Epoch ms at `performance.now() === 0`; set at first use. */
let anchor: number | undefined;

/** Read at call time, so that fake timers (which replace `performance` and `Date`) apply here as in the SDK. */
const performanceNow = () => globalThis.performance.now();

/**
 * The anchor from the moment `Date.now()` ticks over to the next millisecond (at most
 * about 2 ms of spinning, once), so the clock starts within microseconds of wall time;
 * the middle of the current millisecond when the clock does not move (faked).
 */
function calibrate(): number {
  const first = Date.now();
  const limit = performanceNow() + 2;
  for (let i = 0; i < 200_000; i++) {
    const wall = Date.now();
    const now = performanceNow();
    if (wall !== first) return wall - now;
    if (now > limit) break;
  }
  return first + 0.5 - performanceNow();
}

/**
 * The span clock's time at the performance-clock reading `performanceMs`, in epoch ms
 * with a fraction. Follows `Date.now()` within {@link MAX_DRIFT_MS}: when the wall clock
 * steps (NTP, a suspended machine, `vi.setSystemTime`) the clock re-anchors to it.
 */
function at(performanceMs: number): number {
  anchor ??= calibrate();
  const wall = Date.now();
  const time = anchor + performanceMs;
  if (time < wall - MAX_DRIFT_MS || time > wall + 1 + MAX_DRIFT_MS) {
    anchor = wall + 0.5 - performanceNow();
    return anchor + performanceMs;
  }
  return time;
}

/** Now on the span clock: epoch milliseconds with a sub-millisecond fraction. */
export function spanClockNow(): number {
  return at(performanceNow());
}

/** Epoch milliseconds as an OpenTelemetry `HrTime` (`[seconds, nanoseconds]`). */
export function toHrTime(epochMs: number): HrTime {
  const seconds = Math.floor(epochMs / 1000);
  const nanos = Math.round((epochMs - seconds * 1000) * 1e6);
  return nanos >= 1e9 ? [seconds + 1, nanos - 1e9] : [seconds, nanos];
}

/** Where a span sits in the causal order of the spans a {@link SpanClockProcessor} saw start. */
export interface CausalPosition {
  /** Start sequence: a later number started later, in this process. */
  readonly sequence: number;
  /** How many events the parent span had when this span started; undefined when the parent is remote or unknown. */
  readonly parentEvents: number | undefined;
}

/**
 * Where a span's position is kept: a symbol-keyed property of the span object itself
 * (a WeakMap entry per span cost over a microsecond of garbage collection per span).
 */
const POSITION = Symbol.for('otel-resilience.causal-position');
let nextSequence = 0;

/** The causal position of `span`, when it started under a {@link SpanClockProcessor}. */
export function causalPosition(span: object): CausalPosition | undefined {
  return (span as { [POSITION]?: CausalPosition })[POSITION];
}

/** The fields of the SDK's span (`@opentelemetry/sdk-trace` 2.x and 3.x) this processor reads and writes. */
interface SdkSpanFields {
  startTime?: HrTime;
  readonly events?: readonly unknown[];
  readonly _performanceStartTime?: number;
  readonly _startTimeProvided?: boolean;
}

let warned = false;

/**
 * A span processor (the SDK's `SpanProcessor` interface, structurally) that puts every
 * span of its tracer provider on one sub-millisecond clock ({@link spanClockNow}) and
 * records the causal order the span-tree printer uses. Register it with the provider,
 * before the processors that export:
 *
 * @example
 * // startTelemetry() and installTestTracing() include it; in your own NodeSDK:
 * new NodeSDK({ spanProcessors: [new SpanClockProcessor(), new BatchSpanProcessor(exporter)] });
 *
 * A span started with an explicit `startTime` keeps it (and the SDK stamps its events
 * and end from `Date.now()`); pass explicit times from {@link spanClockNow} to keep such
 * spans on the clock. With an SDK whose spans it does not recognise, it leaves their
 * times alone and says so once through the OpenTelemetry diagnostic logger. Never throws.
 */
export class SpanClockProcessor {
  /** Re-stamps `span`'s start on the span clock and records its causal position; `parentContext` is the one it started in. */
  onStart(span: Span, parentContext: Context): void {
    try {
      const parent = trace.getSpan(parentContext) as (Span & SdkSpanFields) | undefined;
      const parentEvents =
        parent !== undefined && !parent.spanContext().isRemote && Array.isArray(parent.events) ? parent.events.length : undefined;
      const fields = span as Span & SdkSpanFields & { [POSITION]?: CausalPosition };
      fields[POSITION] = { sequence: nextSequence++, parentEvents };
      if (fields._startTimeProvided === true) return;
      if (typeof fields._performanceStartTime === 'number' && Array.isArray(fields.startTime)) {
        fields.startTime = toHrTime(at(fields._performanceStartTime));
      } else if (!warned) {
        warned = true;
        diag.warn(
          'otel-resilience: SpanClockProcessor does not recognise these spans; their times stay at millisecond precision',
        );
      }
    } catch {
      // Telemetry must never break the traced call.
    }
  }

  /** Nothing to do when a span ends: its end time already follows the start on the span clock. */
  onEnd(): void {}

  /** Holds nothing: resolves at once. */
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  /** Holds nothing: resolves at once. */
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
