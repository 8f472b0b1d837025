/**
 * The OpenTelemetry 2.x line (api 1.9, sdk-node 0.223, sdk-trace 2.12), installed with
 * the README's commands: a later `npm install` still resolves, and setup and testing work.
 */
import { describe, expect, it } from 'vitest';
import { COUNTING_COLLECTOR, install, moduleApp, run } from './support.js';

const APP = `
import { createServer } from 'node:http';
import { resilient } from 'otel-resilience';
import { startTelemetry } from 'otel-resilience/setup';
import { installTestTracing } from 'otel-resilience/testing';

${COUNTING_COLLECTOR}
let failures = 0;
const call = resilient(
  async () => {
    if (failures++ % 2 === 0) throw Object.assign(new Error('busy'), { status: 503 });
    return 'ok';
  },
  { name: 'Legacy.call', retry: { maxRetries: 2, baseDelayMs: 0 } },
);

const trees = [];
const telemetry = startTelemetry({
  serviceName: 'legacy-line',
  endpoint: 'http://127.0.0.1:' + collector.address().port + '/v1/traces',
  console: true,
  printer: (tree) => trees.push(tree),
});
console.log('answer', await call());
// Joins the provider startTelemetry() registered: the SDK keeps printing and exporting.
const recorder = installTestTracing();
await call();
await recorder.uninstall();
console.log('recorded\\n' + recorder.tree({ timings: false }));
console.log('flushed', await telemetry.flush(), JSON.stringify(telemetry.delivery()), 'requests', requests);
console.log('shutdown', await telemetry.shutdown());
console.log('trees', trees.length);
console.log(trees.join('\\n'));
collector.close();
`;

describe('the OpenTelemetry SDK 2.x line', () => {
  it('installs cleanly and exports, prints and records', { timeout: 300_000 }, async () => {
    const dir = moduleApp('sdk-2x', APP);
    await install(
      dir,
      'npm install otel-resilience @opentelemetry/api@1.9 @opentelemetry/sdk-node@0.223 @opentelemetry/sdk-trace@2.12 @opentelemetry/exporter-trace-otlp-proto@0.223',
      'npm install -D @opentelemetry/context-async-hooks@2.12',
    );
    // npm ls fails on an invalid or missing peer; the tree must be whole as installed.
    const tree = await run(dir, 'npm ls @opentelemetry/api @opentelemetry/sdk-trace');
    expect(tree).toMatch(/@opentelemetry\/api@1\.9\./);
    expect(tree).not.toMatch(/@opentelemetry\/sdk-trace@3/);
    const out = await run(dir, 'OTEL_METRICS_EXPORTER=none node app.mjs');
    expect(out).toContain('answer ok');
    expect(out).toMatch(/flushed true \{"ended":6,"exported":6,"dropped":0,"undelivered":0,"pending":0\} requests [1-9]/);
    expect(out).toContain('shutdown true');
    expect(out).toContain('trees 2');
    expect(out).toMatch(/Legacy\.call \([\d.]+ ms\) {2}attempts=2 outcome=success\n├─ Legacy\.call attempt /);
    expect(out).toContain('recorded\nLegacy.call  attempts=2 outcome=success\n├─ Legacy.call attempt  ERROR 503  attempt=1');
  });
});
