/**
 * What `npm run bench` measures: each case a function that makes one call, with the
 * setup of the process it runs in (`phase`). Each case is measured in a process of its
 * own (see `case-process.ts`), so nothing another case ran shapes the JIT state it is
 * measured in.
 */
import { context, trace as otelTrace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BatchSpanProcessor, type ReadableSpan, TracerProvider } from '@opentelemetry/sdk-trace';
import {
  ConsecutiveBreaker,
  circuitBreaker,
  retry as cockatielRetry,
  ExponentialBackoff,
  handleAll,
  TimeoutStrategy,
  timeout,
  wrap,
} from 'cockatiel';
import Opossum from 'opossum';
import { CircuitBreaker, resilient, trace } from 'otel-resilience';
import pRetry from 'p-retry';

/**
 * The process a case runs in: `sdk` an OpenTelemetry SDK registered (BatchSpanProcessor
 * and a no-op exporter, the AsyncLocalStorage context manager); `none` no SDK;
 * `context` no SDK, with `otel-resilience/context` loaded.
 */
export type Phase = 'sdk' | 'none' | 'context';

export interface Case {
  readonly key: string;
  readonly name: string;
  readonly phase: Phase;
  /** Builds the call to measure, once the phase is set up. */
  readonly make: () => (() => Promise<unknown>) | Promise<() => Promise<unknown>>;
}

const FUNCTION_ATTRIBUTES = { 'code.function.name': 'Service.traced' };
const ATTEMPT_ATTRIBUTE = 'resilience.attempt';
const OUTCOME_ATTRIBUTES = { 'resilience.attempts': 1, 'resilience.outcome': 'success' };

const work = async () => 42;

/** Calls per measured iteration: amortises the timer read over many calls. */
export const BATCH = 100;

/** Keys held by the many-keys limiter row (fewer in a `--smoke` run). */
export const KEYS = process.argv.includes('--smoke') ? 20_000 : 1_000_000;

/** Chunks of the streamed-call rows: an LLM answer of this many tokens. */
export const CHUNKS = 100;
async function* tokens() {
  for (let i = 0; i < CHUNKS; i++) yield i;
}
/** Reads a stream to its end. */
async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream);
}

/** A failure the retry policies all treat as transient. */
const transient = Object.assign(new Error('HTTP 503'), { status: 503 });
/** Fails every other call: one failure, then success, each call. */
function failOnce() {
  let n = 0;
  return async () => {
    if (n++ % 2 === 0) throw transient;
    return 42;
  };
}

/** The decorated service of the `@trace` and `@resilient` rows. */
function service() {
  class Service {
    @trace()
    async traced() {
      return 42;
    }

    @resilient({
      retry: { maxRetries: 3 },
      circuitBreaker: new CircuitBreaker({ name: 'bench', failureThreshold: 5, halfOpenAfterMs: 10_000 }),
      attemptTimeoutMs: 1000,
    })
    async resilient() {
      return 42;
    }
  }
  return new Service();
}

/** A call of a fresh `Service`'s `@resilient` method. */
function resilientCall() {
  const s = service();
  return () => s.resilient();
}

/**
 * A limiter keyed by the first argument whose buckets stay below full for the whole run
 * (a huge burst, one token per 100 s), so every key stays held, and that already holds a
 * bucket for each of `count` keys (one call per key before measuring), called with the
 * keys in turn: its row measures the steady state it names — calls against that many
 * held keys — not the first round's inserts.
 */
async function holdingKeys(count: number) {
  // Every key of the same length and built the same way, in both rows (`tenant-1000000`
  // …): the rows differ in the number of keys only, not in the strings hashed.
  const keys = Array.from({ length: count }, (_, i) => `tenant-${1_000_000 + i}`);
  const limited = resilient(async (_key: string) => 42, {
    name: 'keyed',
    retry: false,
    rateLimiter: { key: ([key]) => key as string, limits: { tokensPerInterval: 1, intervalMs: 100_000, burst: 1e12 } },
  });
  for (const key of keys) await limited(key);
  let i = 0;
  return () => limited(keys[i++ % count]!);
}

/**
 * Warms `count` calls through each of four other pipeline shapes first, as a service
 * with several `@resilient` methods would: the code the rows share sees more than one
 * shape (what a process of one case alone never shows).
 */
async function afterOtherPipelines(count: number): Promise<void> {
  const shapes = [
    resilient(work, { name: 'retry-only', circuitBreaker: false }),
    resilient(work, { name: 'total', retry: { maxRetries: 1 }, totalTimeoutMs: 5000 }),
    resilient(work, { name: 'bulkhead', bulkhead: { maxConcurrent: 4 }, attemptTimeoutMs: 2000 }),
    resilient(work, { name: 'fallback', retry: false, fallback: () => 0 }),
  ];
  for (const shape of shapes) for (let i = 0; i < count; i++) await shape();
}

/** Warms `count` calls through each of four other opossum breaker configurations first. */
async function afterOtherBreakers(count: number): Promise<void> {
  const shapes = [
    new Opossum(work, { timeout: false }),
    new Opossum(work, { timeout: 2000, errorThresholdPercentage: 20 }),
    new Opossum(work, { timeout: 500, capacity: 4 }),
    new Opossum(work, { timeout: 1000, rollingCountTimeout: 1000 }),
  ];
  for (const shape of shapes) {
    for (let i = 0; i < count; i++) await shape.fire();
    shape.shutdown();
  }
}

function cockatielPolicy() {
  return wrap(
    cockatielRetry(handleAll, { maxAttempts: 3, backoff: new ExponentialBackoff() }),
    circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
    timeout(1000, TimeoutStrategy.Cooperative),
  );
}

const tracer = () => otelTrace.getTracer('bench');

/** Sets up the process for `phase`; returns what ends it (flushing the SDK). */
export async function setUp(phase: Phase): Promise<() => Promise<void>> {
  if (phase === 'context') await import('otel-resilience/context');
  if (phase !== 'sdk') return async () => {};
  const exporter = {
    export: (_spans: ReadableSpan[], done: (result: { code: number }) => void) => done({ code: 0 }),
    shutdown: async () => {},
  };
  const provider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter })] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  otelTrace.setGlobalTracerProvider(provider);
  return () => provider.shutdown();
}

/** Every case, in the order of the printed table. */
export const CASES: readonly Case[] = [
  { key: 'bare', name: 'bare `await fn()`', phase: 'sdk', make: () => work },
  {
    key: 'rawSpan',
    name: 'raw OTel span (startActiveSpan)',
    phase: 'sdk',
    make: () => () =>
      tracer().startActiveSpan('raw', async (span) => {
        try {
          return await work();
        } finally {
          span.end();
        }
      }),
  },
  {
    key: 'rawSpanAttr',
    name: 'raw OTel span + code.function.name (what @trace records)',
    phase: 'sdk',
    make: () => () =>
      tracer().startActiveSpan('raw', { attributes: FUNCTION_ATTRIBUTES }, async (span) => {
        try {
          return await work();
        } finally {
          span.end();
        }
      }),
  },
  {
    key: 'trace',
    name: '@trace',
    phase: 'sdk',
    make: () => {
      const s = service();
      return () => s.traced();
    },
  },
  {
    key: 'spanFloor',
    name: 'floor: the same call + attempt span and attributes, no policy',
    phase: 'sdk',
    make: () => () =>
      tracer().startActiveSpan('call', { attributes: FUNCTION_ATTRIBUTES }, async (span) => {
        try {
          return await tracer().startActiveSpan('call attempt 1', async (attempt) => {
            attempt.setAttribute(ATTEMPT_ATTRIBUTE, 1);
            try {
              return await work();
            } finally {
              attempt.end();
            }
          });
        } finally {
          span.setAttributes(OUTCOME_ATTRIBUTES);
          span.end();
        }
      }),
  },
  {
    key: 'resilientTraced',
    name: '@resilient traced (retry+breaker+attempt timeout)',
    phase: 'sdk',
    make: resilientCall,
  },
  { key: 'streamBare', name: `bare stream of ${CHUNKS} chunks (for await)`, phase: 'sdk', make: () => () => drain(tokens()) },
  {
    key: 'streamResilient',
    name: `resilient(stream) traced, ${CHUNKS} chunks`,
    phase: 'sdk',
    make: () => {
      const streamed = resilient(tokens, { name: 'llm.stream' });
      return () => drain(streamed());
    },
  },
  {
    key: 'handWritten',
    name: 'hand-written: call span + cockatiel + span per attempt',
    phase: 'sdk',
    make: () => {
      const policy = cockatielPolicy();
      return () =>
        tracer().startActiveSpan('call', async (span) => {
          try {
            return await policy.execute(({ attempt }) =>
              tracer().startActiveSpan(`call attempt ${attempt}`, async (attemptSpan) => {
                try {
                  return await work();
                } finally {
                  attemptSpan.end();
                }
              }),
            );
          } finally {
            span.end();
          }
        });
    },
  },
  { key: 'bareNoSdk', name: 'bare `await fn()` (no SDK)', phase: 'none', make: () => work },
  {
    key: 'resilientNoSdk',
    name: '@resilient, no SDK registered',
    phase: 'none',
    make: resilientCall,
  },
  {
    key: 'resilientNoSdkBusy',
    name: '@resilient, no SDK, after four other pipeline shapes ran',
    phase: 'none',
    make: async () => {
      await afterOtherPipelines(200_000);
      return resilientCall();
    },
  },
  {
    key: 'cockatiel',
    name: 'cockatiel wrap(retry, breaker, timeout)',
    phase: 'none',
    make: () => {
      const policy = cockatielPolicy();
      return () => policy.execute(work);
    },
  },
  {
    key: 'opossum',
    name: 'opossum fire() with a timeout',
    phase: 'none',
    make: () => {
      const breaker = new Opossum(work, { timeout: 1000 });
      return () => breaker.fire();
    },
  },
  {
    key: 'opossumBusy',
    name: 'opossum fire(), after four other breaker configurations ran',
    phase: 'none',
    make: async () => {
      await afterOtherBreakers(200_000);
      const breaker = new Opossum(work, { timeout: 1000 });
      return () => breaker.fire();
    },
  },
  { key: 'pRetry', name: 'p-retry success path', phase: 'none', make: () => () => pRetry(work, { retries: 3 }) },
  {
    key: 'failResilient',
    name: 'failure path: resilient(fn), fail once, 0 ms backoff',
    phase: 'none',
    make: () => resilient(failOnce(), { name: 'failOnce', retry: { maxRetries: 3, baseDelayMs: 0 } }),
  },
  {
    key: 'failPRetry',
    name: 'failure path: p-retry, fail once, minTimeout 0',
    phase: 'none',
    make: () => {
      const failing = failOnce();
      return () => pRetry(failing, { retries: 3, minTimeout: 0, maxTimeout: 0, randomize: false });
    },
  },
  {
    key: 'failLoop',
    name: 'failure path: hand-written try/catch loop',
    phase: 'none',
    make: () => {
      const failing = failOnce();
      return async () => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await failing();
          } catch (error) {
            if (attempt > 3) throw error;
          }
        }
      };
    },
  },
  { key: 'limiterOneKey', name: 'keyed rate limiter, one key', phase: 'none', make: () => holdingKeys(1) },
  {
    key: 'limiterManyKeys',
    name: `keyed rate limiter, ${KEYS.toLocaleString('en')} distinct keys held`,
    phase: 'none',
    make: () => holdingKeys(KEYS),
  },
  { key: 'bareContext', name: 'bare `await fn()` (otel-resilience/context loaded)', phase: 'context', make: () => work },
  {
    key: 'resilientContext',
    name: '@resilient, no SDK, otel-resilience/context loaded',
    phase: 'context',
    make: resilientCall,
  },
  {
    key: 'alsRun',
    name: 'AsyncLocalStorage.run(store, fn)',
    phase: 'context',
    make: async () => {
      const { AsyncLocalStorage } = await import('node:async_hooks');
      const storage = new AsyncLocalStorage<number>();
      return () => storage.run(1, work);
    },
  },
];
