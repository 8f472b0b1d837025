/**
 * `npm run demo` as a newcomer runs it: the compiled demo in a child process, once with
 * no collector (it must neither fail nor hang) and once exporting to a real Jaeger
 * (the trace it links must be retrievable from Jaeger's API).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { type RunningJaeger, startJaeger } from '../support/jaeger.js';

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
    expect(stdout).toMatch(/fallback \(breaker open\)/);
    expect(stdout).toMatch(/breaker closed→open/);
    expect(stdout).toMatch(/breaker half_open→closed/);
    expect(stdout).toMatch(/LlmClient\.complete attempt 2 .*ERROR/);
    expect(stdout).not.toContain('In Jaeger');
  });

  it('--policies tours the rate limiter, bulkhead, hedging, chaos, fallback chain and slow-call breaker', async () => {
    const { stdout } = await runDemo({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:9/v1/traces' }, ['--policies']);
    expect(stdout).toMatch(/rate limiter .*waited \d+ms for budget/);
    expect(stdout).toMatch(/bulkhead .*bulkhead rejected \(queue-full\)/);
    expect(stdout).toMatch(/bulkhead .*queued \d+ms/);
    expect(stdout).toMatch(/hedging .*hedge #2 launched/);
    expect(stdout).toMatch(/chaos .*chaos malformed-output, retry result/);
    expect(stdout).toMatch(/fallback chain .*fallback → rule-based/);
    expect(stdout).toMatch(/slow-call breaker .*breaker closed→open, short-circuited/);
    expect(stdout).toMatch(/PolicyTour\.search attempt 1 .*hedge\.outcome=lost/);
  });

  it('exports to Jaeger, and the trace it links is in Jaeger', async () => {
    jaeger = await startJaeger();
    const { stdout } = await runDemo({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: jaeger.otlpUrl, JAEGER_UI_URL: jaeger.queryUrl });
    const traceId = /In Jaeger: \S+\/trace\/([0-9a-f]{32})/.exec(stdout)?.[1];
    expect(traceId, stdout).toBeDefined();
    let spans: Array<{ operationName: string }> = [];
    for (let i = 0; i < 40 && spans.length === 0; i++) {
      const response = await fetch(`${jaeger.queryUrl}/api/traces/${traceId}`);
      if (response.ok) spans = ((await response.json()) as { data: Array<{ spans: typeof spans }> }).data[0]?.spans ?? [];
      if (spans.length === 0) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const names = spans.map((s) => s.operationName);
    expect(names).toContain('Agent.runTask');
    expect(names).toContain('LlmClient.complete attempt 2');
  });
});
