/**
 * The run-level figures of workflows (the seed's "task success rate, average retry
 * count, breaker trips, fallback usage rate, compensation rate", plus runs awaiting a
 * person and time to decision), through the OTel metrics API. A run execution carries a
 * {@link RunTally} in an AsyncLocalStorage (not the OTel context, which propagates only
 * when an SDK registered a context manager): every resilience event reported inside it
 * (its steps' retries, their breakers' trips, fallbacks) is counted there, and the tally
 * is recorded when the execution ends. Never throws.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Counter, Histogram, UpDownCounter } from '@opentelemetry/api';
import type { ResilienceEvent } from './events.js';
import { perMeterProvider } from './meter.js';
import * as names from './names.js';

/** What happened inside one execution of a run. */
export class RunTally {
  retries = 0;
  breakerTrips = 0;
  fallbacks = 0;
}

const tallies = new AsyncLocalStorage<RunTally>();

/** Runs `fn` with `tally` counting the events reported inside it. */
export function withTally<T>(tally: RunTally, fn: () => T): T {
  return tallies.run(tally, fn);
}

/** Counts `event` in the tally of the run execution it happens in, if any (called for every event reported). */
export function tallyEvent(event: ResilienceEvent): void {
  const tally = tallies.getStore();
  if (tally === undefined) return;
  if (event.type === 'retry') tally.retries++;
  else if (event.type === 'breaker-state-change' && event.to === 'open') tally.breakerTrips++;
  else if (event.type === 'fallback') tally.fallbacks++;
}

interface RunInstruments {
  readonly runs: Counter;
  readonly awaiting: UpDownCounter;
  readonly decisionTime: Histogram;
  readonly retries: Histogram;
  readonly trips: Histogram;
  readonly fallbacks: Histogram;
}

const instruments = perMeterProvider((meter): RunInstruments => {
  const perRun = (name: string, description: string) =>
    meter.createHistogram(name, {
      description,
      unit: '{count}',
      advice: { explicitBucketBoundaries: [0, 1, 2, 3, 5, 10, 20, 50] },
    });
  return {
    runs: meter.createCounter(names.METRIC_WORKFLOW_RUNS, { description: 'Workflow run executions by outcome', unit: '{run}' }),
    awaiting: meter.createUpDownCounter(names.METRIC_WORKFLOW_AWAITING, {
      description: 'Workflow runs waiting for a person',
      unit: '{run}',
    }),
    decisionTime: meter.createHistogram(names.METRIC_HAND_OFF_DECISION_TIME, {
      description: 'Time from a hand-off or approval request to the decision',
      unit: 's',
    }),
    retries: perRun(names.METRIC_WORKFLOW_RUN_RETRIES, 'Retries in one workflow run execution'),
    trips: perRun(names.METRIC_WORKFLOW_RUN_BREAKER_TRIPS, 'Circuit breaker trips in one workflow run execution'),
    fallbacks: perRun(names.METRIC_WORKFLOW_RUN_FALLBACKS, 'Fallbacks taken in one workflow run execution'),
  };
});

/** Records where one execution left the run, and what its tally counted. */
export function recordRunOutcome(workflow: string, outcome: string, tally: RunTally): void {
  try {
    const m = instruments();
    if (m === undefined) return;
    const attributes = { [names.ATTR_WORKFLOW_NAME]: workflow, [names.ATTR_WORKFLOW_OUTCOME]: outcome };
    m.runs.add(1, attributes);
    m.retries.record(tally.retries, attributes);
    m.trips.record(tally.breakerTrips, attributes);
    m.fallbacks.record(tally.fallbacks, attributes);
  } catch {
    // Instrumentation must never break the user's call.
  }
}

/** A run of `workflow` started (+1) or stopped (-1) waiting for a person. */
export function recordAwaiting(workflow: string, delta: 1 | -1): void {
  try {
    instruments()?.awaiting.add(delta, { [names.ATTR_WORKFLOW_NAME]: workflow });
  } catch {
    // Instrumentation must never break the user's call.
  }
}

/** A decision taken up after `waitedMs`. */
export function recordDecisionTime(workflow: string, kind: string, outcome: string, waitedMs: number): void {
  try {
    instruments()?.decisionTime.record(waitedMs / 1000, {
      [names.ATTR_WORKFLOW_NAME]: workflow,
      [names.ATTR_HAND_OFF_KIND]: kind,
      [names.ATTR_HAND_OFF_OUTCOME]: outcome,
    });
  } catch {
    // Instrumentation must never break the user's call.
  }
}
