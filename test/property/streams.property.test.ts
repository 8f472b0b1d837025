/**
 * Streams and usage under a pipeline, for any plan of attempts:
 * - a stream is never replayed after its first chunk reached the caller unless
 *   `stream.replay` is on: no attempt starts after one delivered a chunk, and the
 *   caller receives exactly that attempt's chunks;
 * - the usage on the call span equals the sum over its attempt spans, failed attempts
 *   (results `retryOnResult` refused) included.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ResiliencePipeline } from '../../src/index.js';
import { useTracing } from '../support/hooks.js';

const tracing = useTracing();
const transient = () => Object.assign(new Error('HTTP 503'), { status: 503 });

/** One attempt: fails before any chunk, or yields `chunks` and then ends or fails. */
const attemptPlan = fc.oneof(
  fc.record({ kind: fc.constant('fail-early' as const) }),
  fc.record({ kind: fc.constant('stream' as const), chunks: fc.integer({ min: 1, max: 5 }), failsAfter: fc.boolean() }),
);

describe('streams', () => {
  it('is never replayed after its first chunk unless opted in', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(attemptPlan, { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 0, max: 4 }),
        fc.boolean(),
        async (plan, maxRetries, replay) => {
          const started: number[] = [];
          let firstDeliveredBy: number | undefined;
          const pipeline = new ResiliencePipeline({ retry: { maxRetries, baseDelayMs: 0 }, stream: { replay } });
          let n = 0;
          const received: string[] = [];
          try {
            const stream = (await pipeline.execute(async function* () {
              const attempt = n++;
              started.push(attempt);
              const step = plan[attempt] ?? { kind: 'stream', chunks: 1, failsAfter: false };
              if (step.kind === 'fail-early') throw transient();
              for (let i = 0; i < step.chunks; i++) yield `${attempt}:${i}`;
              if (step.failsAfter) throw transient();
            })) as AsyncIterable<string>;
            for await (const chunk of stream) {
              firstDeliveredBy ??= Number(chunk.split(':')[0]);
              received.push(chunk);
            }
          } catch {
            // the plan's failure
          }
          if (!replay && firstDeliveredBy !== undefined) {
            expect(Math.max(...started)).toBe(firstDeliveredBy);
            expect(received.every((c) => c.startsWith(`${firstDeliveredBy}:`))).toBe(true);
          }
          expect(started.length).toBeLessThanOrEqual(maxRetries + 1);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('usage', () => {
  it('the call span holds the sum of its attempt spans', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            input: fc.integer({ min: 0, max: 10_000 }),
            output: fc.integer({ min: 0, max: 10_000 }),
            refused: fc.boolean(),
            streamed: fc.boolean(),
          }),
          { minLength: 1, maxLength: 5 },
        ),
        async (plan) => {
          tracing().reset();
          const pipeline = new ResiliencePipeline({
            name: 'llm',
            retry: {
              maxRetries: plan.length - 1,
              baseDelayMs: 0,
              retryOnResult: (r) => (r as { refused?: boolean }).refused === true,
            },
          });
          let n = 0;
          const result = await pipeline.execute(async () => {
            const step = plan[n++]!;
            const usage = { prompt_tokens: step.input, completion_tokens: step.output };
            if (!step.streamed || step.refused) return { refused: step.refused, usage };
            return (async function* () {
              yield { usage: null };
              yield { usage };
            })();
          });
          if (typeof (result as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
            for await (const _ of result as AsyncIterable<unknown>);
          }
          const spans = tracing().spans();
          const sum = (key: string) =>
            spans.filter((s) => s.name.startsWith('llm attempt')).reduce((t, s) => t + ((s.attributes[key] as number) ?? 0), 0);
          const call = spans.find((s) => s.name === 'llm')!;
          expect(call.attributes['gen_ai.usage.input_tokens']).toBe(sum('gen_ai.usage.input_tokens'));
          expect(call.attributes['gen_ai.usage.output_tokens']).toBe(sum('gen_ai.usage.output_tokens'));
        },
      ),
      { numRuns: 150 },
    );
  });
});
