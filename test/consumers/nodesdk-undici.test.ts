/**
 * A NodeSDK app with the undici instrumentation, set up as the README's NodeSDK path
 * says: one HTTP client span under each attempt span, export to a local OTLP receiver,
 * and `startTelemetry()` / `installTestTracing()` beside the running SDK.
 */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COUNTING_COLLECTOR, install, moduleApp, run } from './support.js';

const METRICS = `
import { ResiliencePipeline } from 'otel-resilience';
import { installTestMetrics } from 'otel-resilience/testing';

const recorder = installTestMetrics();
let failed = false;
await new ResiliencePipeline({ name: 'metered', retry: { baseDelayMs: 0 } }).execute(async () => {
  if (!failed) {
    failed = true;
    throw Object.assign(new Error('busy'), { status: 503 });
  }
});
console.log(JSON.stringify(await recorder.points('resilience.events')));
await recorder.uninstall();
`;

const APP = `
import { createServer } from 'node:http';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { resilient, SpanClockProcessor } from 'otel-resilience';
import { otlpSpanProcessor, spanTreePrinter, startTelemetry } from 'otel-resilience/setup';
import { installTestTracing } from 'otel-resilience/testing';

const listen = (server) => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
${COUNTING_COLLECTOR}
const collectorPort = collector.address().port;
let hits = 0;
const weather = createServer((request, response) => {
  hits++;
  response.writeHead(hits % 2 === 1 ? 503 : 200);
  response.end('sunny');
});
const weatherPort = await listen(weather);

const exporting = otlpSpanProcessor({ endpoint: 'http://127.0.0.1:' + collectorPort + '/v1/traces' });
const trees = [];
const sdk = new NodeSDK({
  serviceName: 'agent',
  spanProcessors: [new SpanClockProcessor(), exporting, spanTreePrinter({ printer: (tree) => trees.push(tree), timings: false })],
  instrumentations: [new UndiciInstrumentation()],
});
sdk.start();

const forecast = resilient(
  async (city) => {
    const response = await fetch('http://127.0.0.1:' + weatherPort + '/' + city);
    const body = await response.text(); // read to the end, so the HTTP client span ends inside the attempt
    if (!response.ok) throw Object.assign(new Error('HTTP ' + response.status), { status: response.status });
    return body;
  },
  { name: 'Weather.forecast', retry: { maxRetries: 2, baseDelayMs: 0 } },
);

const telemetry = startTelemetry({ console: true });
console.log('registered', telemetry.registered);
const recorder = installTestTracing();
console.log('answer', await forecast('oslo'));
await recorder.uninstall();
console.log('recorded\\n' + recorder.tree({ timings: false }));
console.log('shutdown', await telemetry.shutdown());
console.log('answer', await forecast('bergen'));
await sdk.shutdown();
console.log('printed\\n' + trees.join('\\n'));
console.log('delivery', JSON.stringify(exporting.delivery()), 'requests', requests);
collector.close();
weather.close();
`;

/** One call's tree: two attempts, each with its HTTP client span (the retry event's place among them depends on ms clock ties). */
function expectCallTree(tree: string): void {
  expect(tree).toMatch(/^Weather\.forecast {2}attempts=2 outcome=success\n/);
  expect(tree).toMatch(/─ Weather\.forecast attempt {2}ERROR 503 {2}attempt=1\n│ {2}├─ GET {2}ERROR 503\n│ {2}└─ • exception\n/);
  expect(tree).toMatch(/─ Weather\.forecast attempt {2}attempt=2[^\n]*\n[│ ] {2}└─ GET\n/);
  expect(tree).toContain('─ • resilience.retry  attempt=1 retry.delay_ms=0');
}

describe('NodeSDK app with undici instrumentation', () => {
  it('nests one HTTP client span under each attempt, beside startTelemetry() and installTestTracing()', {
    timeout: 300_000,
  }, async () => {
    const dir = moduleApp('nodesdk', APP);
    writeFileSync(join(dir, 'metrics.mjs'), METRICS);
    await install(
      dir,
      'npm install otel-resilience @opentelemetry/api',
      'npm install @opentelemetry/sdk-node @opentelemetry/sdk-trace @opentelemetry/exporter-trace-otlp-proto',
      'npm install @opentelemetry/instrumentation-undici',
      'npm install -D @opentelemetry/sdk-trace @opentelemetry/context-async-hooks',
    );
    // npm ls fails on an invalid or missing peer: the 3.x line as installed must be whole.
    expect(await run(dir, 'npm ls @opentelemetry/sdk-node')).toMatch(/@opentelemetry\/sdk-node@0\.30\d/);
    const out = await run(dir, 'OTEL_METRICS_EXPORTER=none OTEL_LOGS_EXPORTER=none node app.mjs');
    expect(out).toContain('registered false');
    expect(out.match(/already registered/g)).toHaveLength(1);
    expect(out).toContain('shutdown true');
    expectCallTree(`${out.slice(out.indexOf('recorded\n') + 'recorded\n'.length, out.indexOf('shutdown true'))}\n`);
    // The NodeSDK's own processors saw both calls: startTelemetry() and installTestTracing() took nothing away.
    const printed = out
      .slice(out.indexOf('printed\n'), out.indexOf('delivery '))
      .split(/^trace [0-9a-f]{32}\n/m)
      .slice(1);
    expect(printed).toHaveLength(2);
    for (const tree of printed) expectCallTree(tree);
    // installTestMetrics() beside the NodeSDK's pinned sdk-metrics (an ERESOLVE before), once its package is in.
    await install(dir, 'npm install -D @opentelemetry/sdk-metrics');
    const metered = await run(dir, 'node metrics.mjs');
    expect(metered).toContain('"event.name":"resilience.retry"');
    const delivery = JSON.parse(/delivery (\{.*\})/.exec(out)![1]!);
    expect(delivery).toEqual({ ended: 10, exported: 10, dropped: 0, undelivered: 0, pending: 0 });
    expect(Number(/requests (\d+)/.exec(out)![1])).toBeGreaterThan(0);
  });
});
