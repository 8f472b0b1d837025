/**
 * `npm run demo`: an agent works through a batch of tasks against a flaky local LLM
 * service, and every rescue — retries after 429s, timeouts, dropped connections, the
 * circuit breaker opening and closing, the fallback model — shows in its traces.
 * Prints a per-task table and the span tree of the busiest task; exports to an OTLP
 * collector (Jaeger) when one answers, and runs the same without one.
 * `--policies` runs the policy tour instead (rate limiter, bulkhead, hedging, chaos,
 * fallback chain, slow-call breaker).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { type Attributes, context, createContextKey, propagation } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import OpenAI from 'openai';
import { printSpanTree, SpanClockProcessor, startTelemetry } from 'otel-resilience/setup';
import { answers, otlpEndpoint } from '../otlp.js';
import { Agent, LlmClient, type Outcome, primaryModelBreaker, type Task, type TaskKind, Tools } from './agent.js';
import { type FlakyLlmServer, startFlakyLlmServer } from './flaky-llm-server.js';
import { startMcpToolServer } from './mcp-tool-server.js';
import { PolicyTour, TOUR_SCRIPT } from './policy-tour.js';
import { STREAM_MODEL, StreamingAgent } from './streamed-answer.js';

const PRIMARY = 'gpt-large';
const FALLBACK = 'gpt-small';
const TASKS: readonly Task[] = (
  [
    ['summarise', 'quarterly revenue'],
    ['compare', 'churn by region'],
    ['summarise', 'hiring plan'],
    ['forecast', 'cloud costs'],
    ['summarise', 'security incidents'],
    ['compare', 'support backlog'],
    ['forecast', 'pricing test'],
    ['summarise', 'roadmap risks'],
    ['forecast', 'supplier delays'],
    ['compare', 'marketing spend'],
  ] as const satisfies ReadonlyArray<readonly [TaskKind, string]>
).map(([kind, topic]) => ({ kind, topic }));

const OUTCOME_TEXT: Record<Outcome, string> = {
  answered: 'answered',
  recovered: 'recovered',
  fell_back: 'fell back',
  failed: 'failed',
};

/** The chat request being sent, in the context of its fetch (set by {@link chatFetch}, read by the instrumentation's hooks). */
const CHAT_REQUEST = createContextKey('demo chat request');

/**
 * The openai client's fetch: notes the model of a chat completion in the OTel context of
 * the request (undici streams the body, so the instrumentation cannot read it), then fetches.
 */
const chatFetch: typeof fetch = (input, init) => {
  let model: unknown;
  try {
    model = typeof init?.body === 'string' ? (JSON.parse(init.body) as { model?: unknown }).model : undefined;
  } catch {
    model = undefined;
  }
  if (typeof model !== 'string') return fetch(input, init);
  return context.with(context.active().setValue(CHAT_REQUEST, { model }), () => fetch(input, init));
};

const chatModel = () => (context.active().getValue(CHAT_REQUEST) as { model: string } | undefined)?.model;

/**
 * CLIENT spans for the HTTP requests the openai client sends through fetch (undici):
 * HTTP attributes from the instrumentation, GenAI ones and the GenAI span name
 * (`chat <model>`) added here from {@link chatFetch}'s note, and a `traceparent` header so the LLM service's spans
 * join the trace.
 */
function instrumentLlmRequests(provider: TracerProvider): UndiciInstrumentation {
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const instrumentation = new UndiciInstrumentation({
    startSpanHook: () => {
      const model = chatModel();
      return model === undefined
        ? {}
        : { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': model };
    },
    requestHook: (span) => {
      const model = chatModel();
      if (model !== undefined) span.updateName(`chat ${model}`);
    },
  });
  instrumentation.setTracerProvider(provider);
  return instrumentation;
}

/** The LLM service's own tracer provider: its spans are exported as the service `llm-service`. */
function llmServiceTracing(endpoint: string): TracerProvider {
  return new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'llm-service' }),
    spanProcessors: [
      new SpanClockProcessor(),
      new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: endpoint }), scheduledDelayMillis: 1000 }),
    ],
  });
}

/** Why a breaker moved, from its state-change event: the counts against their thresholds. */
function breakerWhy(a: Attributes): string {
  const percent = (value: unknown) => `${Math.round(Number(value) * 100)}%`;
  switch (a['resilience.circuit_breaker.reason']) {
    case 'failure-threshold':
      return `${a['resilience.circuit_breaker.failures']}/${a['resilience.circuit_breaker.failure_threshold']} failures`;
    case 'failure-rate':
      return `failure rate ${percent(a['resilience.circuit_breaker.failure_rate'])} ≥ ${percent(a['resilience.circuit_breaker.failure_rate_threshold'])}`;
    case 'slow-call-rate':
      return `slow calls ${percent(a['resilience.circuit_breaker.slow_call_rate'])} ≥ ${percent(a['resilience.circuit_breaker.slow_call_rate_threshold'])}, this one ${Math.round(Number(a['resilience.circuit_breaker.call_duration_ms']))}ms`;
    default:
      return String(a['resilience.circuit_breaker.reason']);
  }
}

/**
 * One line per resilience event of a trace: spans in start order, each span's events in
 * the order recorded (timestamps of different spans are only ordered to the millisecond).
 */
function happenings(spans: readonly ReadableSpan[]): string[] {
  const byStart = [...spans].sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
  const events = byStart.flatMap((span) => span.events);
  const lines: string[] = [];
  for (const { name, attributes: a = {} } of events) {
    if (name === 'resilience.retry') {
      lines.push(
        `retry ${a['error.type']} +${a['resilience.retry.delay_ms']}ms${a['resilience.retry.delay_source'] === 'retry-after' ? ' (Retry-After)' : ''}`,
      );
    } else if (name === 'resilience.timeout') lines.push(`timeout ${a['resilience.timeout.ms']}ms`);
    else if (name === 'resilience.circuit_breaker.state_change') {
      lines.push(`breaker ${a['resilience.circuit_breaker.from']}→${a['resilience.circuit_breaker.to']} (${breakerWhy(a)})`);
    } else if (name === 'resilience.circuit_breaker.rejected') lines.push('short-circuited');
    else if (name === 'resilience.rate_limiter.waited')
      lines.push(`waited ${a['resilience.rate_limiter.waited_ms']}ms for budget`);
    else if (name === 'resilience.rate_limiter.rejected') lines.push('rate-limited');
    else if (name === 'resilience.bulkhead.queued') lines.push(`queued ${a['resilience.bulkhead.waited_ms']}ms`);
    else if (name === 'resilience.bulkhead.rejected') lines.push(`bulkhead rejected (${a['resilience.reject_reason']})`);
    else if (name === 'resilience.hedge') lines.push(`hedge #${a['resilience.attempt']} launched`);
    else if (name === 'resilience.chaos') lines.push(`chaos ${a['resilience.chaos.name']}`);
    else if (name === 'resilience.fallback') {
      const step = a['resilience.fallback.name'];
      const outcome = a['resilience.fallback.outcome'];
      lines.push(outcome === 'answered' ? `fallback → ${step}` : `fallback ${step} ${outcome} (${a['error.type'] ?? 'result'})`);
    } else if (name === 'resilience.fallback.exhausted') lines.push('no fallback left');
  }
  return lines;
}

/** What a task's trace says happened. */
function summarise(spans: readonly ReadableSpan[]) {
  const call = spans.find((s) => s.name === 'LlmClient.complete');
  const happened = happenings(spans);
  return { attempts: Number(call?.attributes['resilience.attempts'] ?? 0), happened, score: happened.length };
}

/** Spans of the trace whose root span is the latest one named `rootName` (or starting with it, given a trailing space). */
function latestTrace(memory: InMemorySpanExporter, rootName: string) {
  const matches = (name: string) => (rootName.endsWith(' ') ? name.startsWith(rootName) : name === rootName);
  const root = memory.getFinishedSpans().findLast((s) => matches(s.name) && s.parentSpanContext === undefined)!;
  const traceId = root.spanContext().traceId;
  return { traceId, spans: memory.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId) };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The agent batch: a table of tasks, then the span tree of the busiest. Returns its trace id. */
async function runBatch(memory: InMemorySpanExporter, server: FlakyLlmServer, openai: OpenAI): Promise<string> {
  const agent = new Agent(new LlmClient(openai), new Tools(), { primary: PRIMARY, fallback: FALLBACK });
  const rows = [['#', 'task', 'outcome', 'model', 'attempts', 'ms', 'what happened']];
  const traces: Array<{ traceId: string; spans: ReadableSpan[]; score: number; topic: string; outcome: Outcome }> = [];
  for (const [index, task] of TASKS.entries()) {
    const started = performance.now();
    const result = await agent.runTask(task);
    const ms = Math.round(performance.now() - started);
    const { traceId, spans } = latestTrace(memory, 'task ');
    const { attempts, happened, score } = summarise(spans);
    traces.push({ traceId, spans, score, topic: task.topic, outcome: result.outcome });
    const text = OUTCOME_TEXT[result.outcome];
    const outcome = result.reason ? `${text} (${result.reason})` : text;
    const name = `${task.kind}: ${task.topic}`;
    rows.push([String(index + 1), name, outcome, result.model, String(attempts), String(ms), happened.join(', ')]);
    await sleep(250); // the agent's think time between tasks; lets the open breaker cool down
  }
  console.log(table(rows));
  console.log(
    `\nbreaker "${primaryModelBreaker.name}" is ${primaryModelBreaker.state}; the LLM service saw ${server.requests.length} requests`,
  );

  const busiest = traces.reduce((a, b) => (b.score > a.score ? b : a));
  console.log(`\nSpan tree of task "${busiest.topic}" (trace ${busiest.traceId}):\n`);
  console.log(printSpanTree(busiest.spans));
  // The link printed at the end: a call the primary model answered after retries, else the busiest.
  return (traces.find((t) => t.outcome === 'recovered') ?? busiest).traceId;
}

/** The streamed task: an MCP tool call, then the answer token by token; prints its span tree. */
async function runStreamed(memory: InMemorySpanExporter, openai: OpenAI): Promise<void> {
  const tools = await startMcpToolServer();
  try {
    process.stdout.write('\nStreamed answer (MCP tool lookup_metric, then stream: true): ');
    await new StreamingAgent(openai, tools.url).run('quarterly revenue', (text) => process.stdout.write(text));
    const { traceId, spans } = latestTrace(memory, 'task stream');
    console.log(`\n\nSpan tree of the streamed task (trace ${traceId}):\n`);
    console.log(printSpanTree(spans));
  } finally {
    await tools.close();
  }
}

/** The policy tour: one scene per policy, a table, and every scene's span tree. Returns the last trace id. */
async function runTour(memory: InMemorySpanExporter, openai: OpenAI): Promise<string> {
  const rows = [['policy', 'ms', 'what happened']];
  const trees: string[] = [];
  let traceId = '';
  for (const { policy, run } of new PolicyTour(openai).scenes()) {
    const started = performance.now();
    await run().catch(() => undefined);
    const ms = Math.round(performance.now() - started);
    const found = latestTrace(memory, `tour ${policy}`);
    traceId = found.traceId;
    rows.push([policy, String(ms), happenings(found.spans).join(', ')]);
    trees.push(`${policy} (trace ${found.traceId}):\n${printSpanTree(found.spans)}`);
  }
  console.log(table(rows));
  console.log(`\n${trees.join('\n\n')}`);
  return traceId;
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({ options: { policies: { type: 'boolean', default: false } } });
  const endpoint = otlpEndpoint();
  const exporting = await answers(endpoint);
  const memory = new InMemorySpanExporter();
  const telemetry = startTelemetry({
    serviceName: 'otel-resilience-demo',
    endpoint: exporting ? endpoint : false,
    spanProcessors: [new SimpleSpanProcessor({ exporter: memory })],
  });
  const undici = instrumentLlmRequests(telemetry.tracerProvider);
  const llmTracing = exporting ? llmServiceTracing(endpoint) : undefined;

  // The primary model's bad day, request by request; then seeded random trouble.
  const server = await startFlakyLlmServer({
    seed: Number(process.env.DEMO_SEED ?? 7),
    slowMs: 1500,
    script: {
      ...TOUR_SCRIPT,
      // The streamed answer: refused before its first token, then streamed.
      [STREAM_MODEL]: [{ kind: 'rate-limit', retryAfterMs: 200 }, { kind: 'ok' }],
      [PRIMARY]: [
        { kind: 'ok' },
        { kind: 'rate-limit', retryAfterMs: 300 },
        { kind: 'ok' },
        { kind: 'slow', delayMs: 1500 },
        { kind: 'ok' },
        { kind: 'drop' },
        { kind: 'ok' },
        { kind: 'unavailable' },
        { kind: 'unavailable' },
        { kind: 'unavailable' },
        { kind: 'unavailable' },
      ],
    },
    rates: { [PRIMARY]: { rateLimit: 0.1, unavailable: 0.1 } },
    ...(llmTracing ? { tracerProvider: llmTracing } : {}),
  });
  const openai = new OpenAI({ apiKey: 'demo', baseURL: server.baseURL, maxRetries: 0, fetch: chatFetch });

  console.log(`otel-resilience demo — flaky LLM service at ${server.baseURL}`);
  console.log(exporting ? `exporting traces to ${endpoint}` : `no collector at ${endpoint}: traces stay in this terminal`);
  console.log('');
  const traceId = args.policies ? await runTour(memory, openai) : await runBatch(memory, server, openai);
  if (!args.policies) await runStreamed(memory, openai);

  undici.disable();
  const [flushed] = await Promise.all([telemetry.shutdown(), llmTracing?.shutdown().catch(() => undefined)]);
  await server.close();
  if (exporting) {
    const ui = process.env.JAEGER_UI_URL ?? 'http://localhost:16686';
    console.log(
      flushed
        ? `\nIn Jaeger: ${ui}/trace/${traceId}\n(behind the tail-sampling collector of collector/docker-compose.yaml it shows about 11 s later: decision_wait)`
        : `\nExport to ${endpoint} failed; traces were dropped.`,
    );
  }
}

await main();
