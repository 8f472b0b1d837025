/**
 * `npm run demo` as a newcomer runs it: the compiled demo in a child process, once with
 * no collector (it must neither fail nor hang) and once exporting to a real Jaeger
 * (the trace it links must be retrievable from Jaeger's API, with the task's root span,
 * HTTP+GenAI CLIENT spans and the LLM service's SERVER spans under them).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { type JaegerSpan, type RunningJaeger, rootOf, startJaeger, waitForTrace } from '../support/jaeger.js';

type Processes = Record<string, { serviceName: string }>;

const demo = fileURLToPath(new URL('../../build/examples/demo/main.js', import.meta.url));

function runDemo(env: Record<string, string>, args: string[] = []) {
  return promisify(execFile)(process.execPath, [demo, ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
}

let jaeger: RunningJaeger | undefined;
afterAll(async () => {
  await jaeger?.stop();
});

describe('the demo', () => {
  it('runs with no collector: prints the table and a span tree, and exits by itself', async () => {
    const { stdout } = await runDemo({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:9/v1/traces' });
    expect(stdout).toContain('no collector at http://127.0.0.1:9/v1/traces');
    expect(stdout).toMatch(/retry 429 \+300ms \(Retry-After\)/);
    expect(stdout).toMatch(/breaker closed→open \(4\/4 failures\)/);
    expect(stdout).toMatch(/breaker half_open→closed \(probes-succeeded\)/);
    // One name for every attempt, the number and the time slept before it as attributes.
    expect(stdout).toMatch(/LlmClient\.complete attempt \(.*ERROR 503 {2}attempt=1$/m);
    expect(stdout).toMatch(/LlmClient\.complete attempt \(.*attempt=2 retry\.slept_ms=\d/m);
    expect(stdout).not.toMatch(/attempt \d+ \(/);
    expect(stdout).toMatch(/^2 +compare: churn by region +recovered /m);
    expect(stdout).toMatch(/fell back \(breaker open\)/);
    expect(stdout).not.toContain('In Jaeger');
    // The streamed task: the MCP tool retried past the dropped call, the answer past a 429 before its first token.
    expect(stdout).toMatch(/mcp lookup_metric \(.*attempts=2 outcome=success/);
    expect(stdout).toMatch(
      /StreamingAgent\.answer attempt[^\n]*ERROR 429[\s\S]{0,300}retry\.delay_source=retry-after error\.type=429[\s\S]{0,200}StreamingAgent\.answer attempt[^\n]*stream\.chunks=\d+/,
    );
  });

  it('--policies tours the rate limiter, bulkhead, hedging, chaos, fallback chain and slow-call breaker', async () => {
    const { stdout } = await runDemo({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:9/v1/traces' }, ['--policies']);
    expect(stdout).toMatch(/rate limiter .*waited \d+ms for budget/);
    expect(stdout).toMatch(/bulkhead .*bulkhead rejected \(queue-full\)/);
    expect(stdout).toMatch(/bulkhead .*queued \d+ms/);
    expect(stdout).toMatch(/hedging .*hedge #2 launched/);
    expect(stdout).toMatch(/chaos .*chaos malformed-output, retry result/);
    expect(stdout).toMatch(/fallback chain .*fallback secondary-model failed \(503\), fallback → rule-based/);
    expect(stdout).toMatch(/slow-call breaker .*breaker closed→open \(slow calls 100% ≥ 50%, this one \d+ms\), short-circuited/);
    expect(stdout).toMatch(/PolicyTour\.search attempt .*attempt=1 hedge\.outcome=lost/);
    // Waits are child spans in the timeline.
    expect(stdout).toMatch(/─ rate limiter wait \(\d+ ms\).*rate_limiter\.waited_ms=\d+/);
    expect(stdout).toMatch(/─ bulkhead wait \(\d+ ms\).*bulkhead\.waited_ms=\d+/);
  });

  it('exports to Jaeger: root spans per task with their outcome, CLIENT spans to the LLM service, its SERVER spans', async () => {
    jaeger = await startJaeger();
    const { stdout } = await runDemo({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: jaeger.otlpUrl, JAEGER_UI_URL: jaeger.queryUrl });
    const traceId = /In Jaeger: \S+\/trace\/([0-9a-f]{32})/.exec(stdout)?.[1];
    expect(traceId, stdout).toBeDefined();
    let spans: JaegerSpan[] = [];
    let services = new Map<string, string>();
    for (let i = 0; i < 40; i++) {
      const response = await fetch(`${jaeger.queryUrl}/api/traces/${traceId}`);
      if (response.ok) {
        const trace = ((await response.json()) as { data: Array<{ spans: JaegerSpan[]; processes: Processes }> }).data[0];
        spans = trace?.spans ?? [];
        services = new Map(Object.entries(trace?.processes ?? {}).map(([id, p]) => [id, p.serviceName]));
      }
      // The LLM service exports from its own provider: wait until its span under every CLIENT span is in too.
      const clients = spans.filter((s) => s.tags.some((t) => t.key === 'span.kind' && t.value === 'client'));
      const served = spans.filter((s) => services.get(s.processID) === 'llm-service');
      if (clients.length > 0 && served.length >= clients.length) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const tag = (span: JaegerSpan, key: string) => span.tags.find((t) => t.key === key)?.value;
    // The linked trace is a task the primary model answered after retries.
    const root = rootOf(spans)!;
    expect(root.operationName).toMatch(/^task (summarise|compare|forecast)$/);
    expect(tag(root, 'agent.task.outcome')).toBe('recovered');
    expect(tag(root, 'error')).toBeUndefined();
    const call = spans.find((s) => s.operationName === 'LlmClient.complete')!;
    const attempts = spans.filter(
      (s) => s.references.some((r) => r.spanID === call.spanID) && tag(s, 'resilience.attempt') !== undefined,
    );
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    for (const attempt of attempts) {
      const client = spans.find((s) => s.references.some((r) => r.spanID === attempt.spanID) && tag(s, 'span.kind') === 'client');
      expect(client, `a CLIENT span under attempt ${tag(attempt, 'resilience.attempt')}`).toBeDefined();
      expect(client!.operationName).toBe('chat gpt-large');
      expect(tag(client!, 'http.request.method')).toBe('POST');
      expect(tag(client!, 'gen_ai.request.model')).toBe('gpt-large');
      expect(tag(client!, 'gen_ai.operation.name')).toBe('chat');
      expect(client!.startTime).toBeGreaterThanOrEqual(attempt.startTime - 1);
      expect(client!.startTime + client!.duration).toBeLessThanOrEqual(attempt.startTime + attempt.duration + 1);
      const served = spans.find((s) => s.references.some((r) => r.spanID === client!.spanID));
      expect(served, 'the LLM service answered under the CLIENT span').toBeDefined();
      expect(services.get(served!.processID)).toBe('llm-service');
      expect(tag(served!, 'span.kind')).toBe('server');
    }
    const dependencies = await fetch(`${jaeger.queryUrl}/api/dependencies?endTs=${Date.now()}&lookback=3600000`);
    expect(((await dependencies.json()) as { data: unknown[] }).data).toContainEqual(
      expect.objectContaining({ parent: 'otel-resilience-demo', child: 'llm-service' }),
    );
  });

  it('npm run example:order exports its saga when a collector answers', async () => {
    jaeger ??= await startJaeger();
    const order = fileURLToPath(new URL('../../build/examples/workflows/order.js', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [order], {
      env: { ...process.env, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: jaeger.otlpUrl },
      timeout: 60_000,
    });
    expect(stdout).toMatch(/In Jaeger: \S+\/trace\/[0-9a-f]{32}/);
    const spans = await waitForTrace(jaeger.queryUrl, 'order-saga', 'workflow place-order');
    expect(spans.map((s) => s.operationName)).toEqual(expect.arrayContaining(['workflow place-order compensate charge']));
  });
});
