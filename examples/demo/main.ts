/**
 * `npm run demo`: an agent works through a batch of tasks against a flaky local LLM
 * service, and every rescue — retries after 429s, timeouts, dropped connections, the
 * circuit breaker opening and closing, the fallback model — shows in its traces.
 * Prints a per-task table and the span tree of the busiest task; exports to an OTLP
 * collector (Jaeger) when one answers, and runs the same without one.
 * `--policies` runs the policy tour instead (rate limiter, bulkhead, hedging, chaos,
 * fallback chain, slow-call breaker).
 */
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import OpenAI from 'openai';
import { printSpanTree, startTelemetry } from 'otel-resilience/setup';
import { Agent, LlmClient, primaryModelBreaker, Tools } from './agent.js';
import { type FlakyLlmServer, startFlakyLlmServer } from './flaky-llm-server.js';
import { PolicyTour, TOUR_SCRIPT } from './policy-tour.js';

const PRIMARY = 'gpt-large';
const FALLBACK = 'gpt-small';
const TOPICS = [
  'quarterly revenue',
  'churn by region',
  'hiring plan',
  'cloud costs',
  'security incidents',
  'support backlog',
  'pricing test',
  'roadmap risks',
  'supplier delays',
  'marketing spend',
];

/** The OTLP/HTTP traces endpoint, from the standard variables or the local default. */
function otlpEndpoint(): string {
  const traces = process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (traces) return traces;
  const base = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  return base ? `${base.replace(/\/$/, '')}/v1/traces` : 'http://127.0.0.1:4318/v1/traces';
}

/** Whether something accepts TCP connections at the endpoint's host and port (500 ms). */
function answers(endpoint: string): Promise<boolean> {
  const url = new URL(endpoint);
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port || 80), timeout: 500 });
    const done = (up: boolean) => {
      socket.destroy();
      resolve(up);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
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
      lines.push(`breaker ${a['resilience.circuit_breaker.from']}→${a['resilience.circuit_breaker.to']}`);
    } else if (name === 'resilience.circuit_breaker.rejected') lines.push('short-circuited');
    else if (name === 'resilience.rate_limiter.waited')
      lines.push(`waited ${a['resilience.rate_limiter.waited_ms']}ms for budget`);
    else if (name === 'resilience.rate_limiter.rejected') lines.push('rate-limited');
    else if (name === 'resilience.bulkhead.queued') lines.push(`queued ${a['resilience.bulkhead.waited_ms']}ms`);
    else if (name === 'resilience.bulkhead.rejected') lines.push(`bulkhead rejected (${a['resilience.reject_reason']})`);
    else if (name === 'resilience.hedge') lines.push(`hedge #${a['resilience.attempt']} launched`);
    else if (name === 'resilience.chaos') lines.push(`chaos ${a['resilience.chaos.name']}`);
    else if (name === 'resilience.fallback') lines.push(`fallback → ${a['resilience.fallback.name']}`);
  }
  return lines;
}

/** What a task's trace says happened. */
function summarise(spans: readonly ReadableSpan[]) {
  const call = spans.find((s) => s.name === 'LlmClient.complete');
  const happened = happenings(spans);
  return { attempts: Number(call?.attributes['resilience.attempts'] ?? 0), happened, score: happened.length };
}

/** Spans of the trace whose root span is the latest one named `rootName`. */
function latestTrace(memory: InMemorySpanExporter, rootName: string) {
  const root = memory.getFinishedSpans().findLast((s) => s.name === rootName)!;
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
  const traces: Array<{ traceId: string; spans: ReadableSpan[]; score: number; topic: string }> = [];
  for (const [index, topic] of TOPICS.entries()) {
    const started = performance.now();
    const result = await agent.runTask(topic);
    const ms = Math.round(performance.now() - started);
    const { traceId, spans } = latestTrace(memory, 'Agent.runTask');
    const { attempts, happened, score } = summarise(spans);
    traces.push({ traceId, spans, score, topic });
    const outcome = result.reason ? `${result.outcome} (${result.reason})` : result.outcome;
    rows.push([String(index + 1), topic, outcome, result.model, String(attempts), String(ms), happened.join(', ')]);
    await sleep(250); // the agent's think time between tasks; lets the open breaker cool down
  }
  console.log(table(rows));
  console.log(
    `\nbreaker "${primaryModelBreaker.name}" is ${primaryModelBreaker.state}; the LLM service saw ${server.requests.length} requests`,
  );

  const busiest = traces.reduce((a, b) => (b.score > a.score ? b : a));
  console.log(`\nSpan tree of task "${busiest.topic}" (trace ${busiest.traceId}):\n`);
  console.log(printSpanTree(busiest.spans));
  return busiest.traceId;
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

  // The primary model's bad day, request by request; then seeded random trouble.
  const server = await startFlakyLlmServer({
    seed: Number(process.env.DEMO_SEED ?? 7),
    slowMs: 1500,
    script: {
      ...TOUR_SCRIPT,
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
  });
  const openai = new OpenAI({ apiKey: 'demo', baseURL: server.baseURL, maxRetries: 0 });

  console.log(`otel-resilience demo — flaky LLM service at ${server.baseURL}`);
  console.log(exporting ? `exporting traces to ${endpoint}` : `no collector at ${endpoint}: traces stay in this terminal`);
  console.log('');
  const traceId = args.policies ? await runTour(memory, openai) : await runBatch(memory, server, openai);

  const flushed = await telemetry.shutdown();
  await server.close();
  if (exporting) {
    const ui = process.env.JAEGER_UI_URL ?? 'http://localhost:16686';
    console.log(flushed ? `\nIn Jaeger: ${ui}/trace/${traceId}` : `\nExport to ${endpoint} failed; traces were dropped.`);
  }
}

await main();
