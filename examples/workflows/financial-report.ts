/**
 * Runs the financial-report workflow (financial-report-workflow.ts) from the command line:
 *
 *   node build/examples/workflows/financial-report.js run|resume <runId> [--dir DIR] [--to EMAIL] [--slow STEP]
 *
 * With `--to cfo@acme.invalid` the email step fails for good and the run hands off: this
 * prints the incident, and `npx otel-resilience runs …` takes it from there (README,
 * "Human hand-off"). Traces go to OTEL_EXPORTER_OTLP_ENDPOINT when it is set.
 */
import { parseArgs } from 'node:util';
import { RetryPolicy, WorkflowAwaitingHumanError, WorkflowLeaseHeldError, WorkflowStalledError } from 'otel-resilience';
import { startTelemetry } from 'otel-resilience/setup';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    dir: { type: 'string', default: '.runs' },
    to: { type: 'string', default: 'cfo@example.com' },
    slow: { type: 'string' },
    'lease-ms': { type: 'string', default: '1000' },
  },
});
const [command = 'run', runId = 'acme-q3'] = positionals;
process.env.REPORT_DIR = values.dir;
process.env.REPORT_LEASE_MS = values['lease-ms'];
if (values.slow !== undefined) process.env.REPORT_SLOW = values.slow;
// The module reads its settings when it loads.
const { report } = await import('./financial-report-workflow.js');

const telemetry = startTelemetry({
  serviceName: 'financial-report',
  ...(process.env.OTEL_EXPORTER_OTLP_ENDPOINT ? {} : { endpoint: false }),
});
// A resumed run may find the crashed owner's lease still running: wait it out. A run that
// stalled (its store failed after a step) is resumed the same way: nothing was undone.
const waitForLease = new RetryPolicy({
  maxRetries: 30,
  retryOn: (e) => e instanceof WorkflowLeaseHeldError || e instanceof WorkflowStalledError,
});
try {
  const result = await waitForLease.execute(() =>
    command === 'resume' ? report.resume(runId) : report.run(runId, { company: 'ACME', to: values.to }),
  );
  console.log(result);
} catch (error) {
  if (!(error instanceof WorkflowAwaitingHumanError)) throw error;
  const incident = error.task.incident;
  console.log(`${error.message}`);
  if (incident !== undefined) {
    console.log(`  ${incident.error.type}: ${incident.error.message} (${incident.attempts} attempts)`);
    console.log(`  trace: ${incident.traceUrl}`);
  }
  console.log(`  npx otel-resilience runs show ${runId} --store file:${values.dir}/runs`);
}
console.log(JSON.stringify(await report.status(runId)));
await telemetry.shutdown();
