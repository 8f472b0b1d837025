/**
 * `otel-resilience/context`: the attempt running now, from anywhere inside a
 * `@resilient` method or a function run by a `ResiliencePipeline`.
 *
 * ```ts
 * import { currentAttempt } from 'otel-resilience/context';
 *
 * class Llm {
 *   @resilient({ attemptTimeoutMs: 10_000 })
 *   async ask(prompt: string) {
 *     const context = await buildContext(prompt);
 *     // after an await too: this attempt's signal, aborted when its timeout fires
 *     return openai.responses.create({ model, input: context }, { signal: currentAttempt()?.signal });
 *   }
 * }
 * ```
 *
 * Why a module of its own: pay for what you use, as OpenTelemetry does with its context
 * manager. Without an OpenTelemetry SDK, carrying the attempt across `await`s takes one
 * `AsyncLocalStorage.run` per call — about 250 ns on Node 24, as much as retry, breaker
 * and timeout together. Loading this module turns that on for every call started from
 * then on (import it statically, so it is on before the first call); calls traced
 * through an OpenTelemetry context manager carry the attempt in the OpenTelemetry
 * context they already make (one context value more per attempt, and none before this
 * module is loaded). Work given to `execute((ctx) => …)` receives the
 * same context as its argument and needs no import.
 */
import { publishAttempts } from '../pipeline/current-attempt.js';

publishAttempts();

export { currentAttempt } from '../pipeline/current-attempt.js';
export type { ExecutionContext } from '../policies/context.js';
