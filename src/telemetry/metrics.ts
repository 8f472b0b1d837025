import {
  type Attributes,
  type Counter,
  createNoopMeter,
  type Histogram,
  type MeterProvider,
  metrics,
  type ObservableResult,
} from '@opentelemetry/api';
import type { ResilienceEvent } from './events.js';
import * as names from './names.js';
import { eventName } from './spans.js';

/** The SDK's instruments, made once per meter provider. */
export interface Instruments {
  readonly events: Counter;
  readonly attemptDuration: Histogram;
}

/** Something whose state the breaker-state gauge reports (a circuit breaker). */
export interface StateSource {
  readonly name: string;
  readonly state: string;
}

/** Gauge values of the breaker states. */
const STATE_VALUES: Readonly<Record<string, number>> = { closed: 0, open: 1, half_open: 2, isolated: 3 };

const sources = new Set<WeakRef<StateSource>>();
let cachedProvider: MeterProvider | undefined;
let cachedInstruments: Instruments | undefined;

function observeStates(result: ObservableResult): void {
  for (const ref of sources) {
    const source = ref.deref();
    if (source === undefined) {
      sources.delete(ref);
      continue;
    }
    result.observe(STATE_VALUES[source.state] ?? -1, { [names.ATTR_BREAKER_NAME]: source.name });
  }
}

/**
 * The SDK's metric instruments from the global meter provider, or undefined while none
 * is registered (then nothing is measured). Built once per provider:
 * - `resilience.events` (counter): resilience events by `event.name`,
 *   `code.function.name` and `resilience.policy.name`;
 * - `resilience.attempt.duration` (histogram, seconds): attempt durations by
 *   `code.function.name` and, for failures, `error.type`;
 * - `resilience.circuit_breaker.state` (observable gauge): 0 closed, 1 open,
 *   2 half-open, 3 isolated, by `resilience.circuit_breaker.name`.
 * Never throws.
 */
export function getInstruments(): Instruments | undefined {
  try {
    const provider = metrics.getMeterProvider();
    if (provider === cachedProvider) return cachedInstruments;
    cachedProvider = provider;
    const meter = provider.getMeter(names.INSTRUMENTATION_SCOPE);
    if (meter === createNoopMeter()) {
      cachedInstruments = undefined;
      return undefined;
    }
    cachedInstruments = {
      events: meter.createCounter(names.METRIC_EVENTS, {
        description: 'Resilience events (retries, timeouts, rejections, …)',
        unit: '{event}',
      }),
      attemptDuration: meter.createHistogram(names.METRIC_ATTEMPT_DURATION, {
        description: 'Duration of one attempt',
        unit: 's',
      }),
    };
    meter
      .createObservableGauge(names.METRIC_BREAKER_STATE, {
        description: 'Circuit breaker state: 0 closed, 1 open, 2 half-open, 3 isolated',
      })
      .addCallback(observeStates);
    return cachedInstruments;
  } catch {
    return undefined;
  }
}

/** Reports `source.state` through the breaker-state gauge for as long as `source` lives. */
export function watchState(source: StateSource): void {
  sources.add(new WeakRef(source));
}

/** The name of the policy instance an event came from, if it names one. */
function policyName(event: ResilienceEvent): string | undefined {
  switch (event.type) {
    case 'breaker-state-change':
    case 'breaker-rejected':
      return event.breaker;
    case 'bulkhead-queued':
    case 'bulkhead-rejected':
      return event.bulkhead;
    case 'rate-limiter-waited':
    case 'rate-limiter-rejected':
    case 'rate-limiter-store-failed':
      return event.limiter;
    case 'fallback':
      return event.fallback;
    case 'chaos':
      return event.chaos;
    case 'workflow-checkpoint':
    case 'workflow-resumed':
    case 'workflow-step-replayed':
    case 'workflow-stalled':
    case 'workflow-compensation':
      return event.workflow;
    default:
      return undefined;
  }
}

/** Counts a resilience event of the call `operation`. Never throws. */
export function countEvent(instruments: Instruments, event: ResilienceEvent, operation: string): void {
  try {
    const attributes: Attributes = { [names.ATTR_EVENT_NAME]: eventName(event), [names.ATTR_CODE_FUNCTION_NAME]: operation };
    const policy = policyName(event);
    if (policy !== undefined) attributes[names.ATTR_POLICY_NAME] = policy;
    instruments.events.add(1, attributes);
  } catch {
    // Instrumentation must never break the user's call.
  }
}

/** Records one attempt's duration in seconds; `errorType` for a failed attempt. Never throws. */
export function recordAttemptDuration(instruments: Instruments, seconds: number, operation: string, errorType?: string): void {
  try {
    const attributes: Attributes = { [names.ATTR_CODE_FUNCTION_NAME]: operation };
    if (errorType !== undefined) attributes[names.ATTR_ERROR_TYPE] = errorType;
    instruments.attemptDuration.record(seconds, attributes);
  } catch {
    // Instrumentation must never break the user's call.
  }
}

/**
 * Counts `count` spans that export lost, by `errorType` (`queue_full` when the export
 * queue overflowed, else why the export failed), on `resilience.telemetry.dropped_spans`
 * of the global meter provider. Never throws.
 */
export function countDroppedSpans(count: number, errorType: string): void {
  try {
    metrics
      .getMeterProvider()
      .getMeter(names.INSTRUMENTATION_SCOPE)
      .createCounter(names.METRIC_DROPPED_SPANS, { description: 'Spans lost by telemetry export', unit: '{span}' })
      .add(count, { [names.ATTR_ERROR_TYPE]: errorType });
  } catch {
    // Instrumentation must never break the user's call.
  }
}
