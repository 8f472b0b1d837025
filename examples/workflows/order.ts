/**
 * A saga: create order → charge → send confirmation email, which fails for good → the
 * charge is refunded and the order deleted, in reverse order. Prints what happened and
 * the run's span tree; exports the trace when a collector answers (npm run jaeger).
 *
 *   npm run example:order
 */
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { WorkflowFailedError, workflow } from 'otel-resilience';
import { printSpanTree, startTelemetry } from 'otel-resilience/setup';
import { answers, otlpEndpoint } from '../otlp.js';

const endpoint = otlpEndpoint();
const exporting = await answers(endpoint);
const memory = new InMemorySpanExporter();
const telemetry = startTelemetry({
  serviceName: 'order-saga',
  endpoint: exporting ? endpoint : false,
  spanProcessors: [new SimpleSpanProcessor({ exporter: memory })],
});

const orders = new Map<string, { item: string; charged: boolean }>();

const placeOrder = workflow('place-order', async (ctx, input: { item: string; card: string }) => {
  const orderId = await ctx.step(
    'create-order',
    () => {
      const id = `order-${orders.size + 1}`;
      orders.set(id, { item: input.item, charged: false });
      return id;
    },
    { compensate: (id) => id !== undefined && orders.delete(id) },
  );
  await ctx.step(
    'charge',
    (step) => {
      orders.get(orderId)!.charged = true;
      return `charge ${step.idempotencyKey}`;
    },
    {
      compensate: () => {
        const order = orders.get(orderId);
        if (order) order.charged = false;
      },
    },
  );
  await ctx.step(
    'send-email',
    () => {
      throw Object.assign(new Error('mailbox unavailable'), { code: 'ECONNREFUSED' });
    },
    { retry: { maxRetries: 2, baseDelayMs: 50 } },
  );
  return orderId;
});

try {
  await placeOrder.run('order-run-1', { item: 'espresso machine', card: 'tok_visa' });
} catch (error) {
  if (!(error instanceof WorkflowFailedError)) throw error;
  console.log(`${error.message} — orders left: ${orders.size}`);
}
const spans = memory.getFinishedSpans();
console.log(`\n${printSpanTree(spans)}`);
const flushed = await telemetry.shutdown();
const root = spans.find((s) => s.parentSpanContext === undefined);
if (!exporting) console.log(`\nno collector at ${endpoint}: the trace stays in this terminal`);
else if (!flushed) console.log(`\nExport to ${endpoint} failed; the trace was dropped.`);
else if (root)
  console.log(`\nIn Jaeger: ${process.env.JAEGER_UI_URL ?? 'http://localhost:16686'}/trace/${root.spanContext().traceId}`);
