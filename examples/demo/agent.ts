/**
 * A small research agent, written the way a user of otel-resilience writes one: an LLM
 * client whose calls are `@resilient`, tools that are `@trace`d, a fallback to a second
 * model when the primary one cannot answer, and one root span per task that names the
 * task's kind and says how it ended — what an on-call engineer scans on Jaeger's search page.
 */
import { trace as otelTrace, SpanStatusCode } from '@opentelemetry/api';
import type OpenAI from 'openai';
import { BrokenCircuitError, CircuitBreaker, errorTypeOf, resilient, trace } from 'otel-resilience';
import { currentAttempt } from 'otel-resilience/context';

/** One breaker per dependency: every method calling the primary model shares it. */
export const primaryModelBreaker = new CircuitBreaker({
  name: 'primary-model',
  failureThreshold: 4,
  halfOpenAfterMs: 1000,
});

export class LlmClient {
  constructor(private readonly openai: OpenAI) {}

  /** The primary model: retried on 429/503/dropped connections/timeouts, behind a breaker. Says which attempt answered. */
  @resilient({
    retry: { maxRetries: 3, baseDelayMs: 50, maxDelayMs: 400 },
    circuitBreaker: primaryModelBreaker,
    attemptTimeoutMs: 500,
    totalTimeoutMs: 4000,
    attributes: ([model]) => ({ 'gen_ai.request.model': String(model) }),
  })
  async complete(model: string, prompt: string): Promise<{ text: string; attempt: number }> {
    return { text: await this.chat(model, prompt), attempt: currentAttempt()?.attempt ?? 1 };
  }

  /** The fallback model: fewer retries, no breaker of its own. */
  @resilient({
    retry: { maxRetries: 1, baseDelayMs: 50 },
    attemptTimeoutMs: 1000,
    attributes: ([model]) => ({ 'gen_ai.request.model': String(model) }),
  })
  async completeFallback(model: string, prompt: string): Promise<string> {
    return this.chat(model, prompt);
  }

  /** One chat completion, cancelled when the current attempt's signal aborts (its timeout). */
  private async chat(model: string, prompt: string): Promise<string> {
    const response = await this.openai.chat.completions.create(
      { model, messages: [{ role: 'user', content: prompt }] },
      { signal: currentAttempt()?.signal },
    );
    return response.choices[0]?.message.content ?? '';
  }
}

export class Tools {
  /** A tool call: looks up notes for a topic (local, instant). */
  @trace({ attributes: ([topic]) => ({ 'tool.topic': String(topic) }) })
  async searchNotes(topic: string): Promise<string[]> {
    return [`${topic}: background`, `${topic}: recent changes`];
  }

  /** A synchronous tool: stays synchronous under @trace. */
  @trace()
  formatReport(topic: string, answer: string): string {
    return `# ${topic}\n${answer}`;
  }
}

/** Kinds of task the agent takes: few, so they can name root spans (span names stay low-cardinality). */
export type TaskKind = 'summarise' | 'compare' | 'forecast';

export interface Task {
  readonly kind: TaskKind;
  readonly topic: string;
}

/**
 * How a task ended: `answered` by the primary model at once, `recovered` by it after
 * retries, `fell_back` to the second model, or `failed`.
 */
export type Outcome = 'answered' | 'recovered' | 'fell_back' | 'failed';

/** What the agent itself knows about a task; the numbers come from its trace. */
export interface TaskOutcome {
  readonly topic: string;
  readonly outcome: Outcome;
  readonly model: string;
  /** Why the primary model was not used: the error's name, or 'breaker open'. */
  readonly reason: string;
}

const tracer = otelTrace.getTracer('demo-agent');

export class Agent {
  constructor(
    private readonly llm: LlmClient,
    private readonly tools: Tools,
    private readonly models: { primary: string; fallback: string },
  ) {}

  /**
   * One agent task under its root span `task <kind>`: `agent.task.outcome` says how it
   * ended, and only a failed task is an error (a recovered one is not red on the search page).
   */
  runTask(task: Task): Promise<TaskOutcome> {
    const attributes = { 'agent.task.kind': task.kind, 'agent.task.topic': task.topic };
    return tracer.startActiveSpan(`task ${task.kind}`, { attributes }, async (span) => {
      try {
        const result = await this.work(task);
        span.setAttributes({ 'agent.task.outcome': result.outcome, 'agent.task.model': result.model });
        if (result.reason) span.setAttribute('agent.task.reason', result.reason);
        if (result.outcome === 'failed') span.setStatus({ code: SpanStatusCode.ERROR, message: result.reason });
        return result;
      } finally {
        span.end();
      }
    });
  }

  /** A tool call, an LLM call (with fallback), a report. */
  private async work({ kind, topic }: Task): Promise<TaskOutcome> {
    const notes = await this.tools.searchNotes(topic);
    const prompt = `${kind} for a report: ${notes.join('; ')}`;
    try {
      const { text, attempt } = await this.llm.complete(this.models.primary, prompt);
      this.tools.formatReport(topic, text);
      return { topic, outcome: attempt > 1 ? 'recovered' : 'answered', model: this.models.primary, reason: '' };
    } catch (error) {
      const reason = error instanceof BrokenCircuitError ? 'breaker open' : errorTypeOf(error);
      try {
        const answer = await this.llm.completeFallback(this.models.fallback, prompt);
        this.tools.formatReport(topic, answer);
        return { topic, outcome: 'fell_back', model: this.models.fallback, reason };
      } catch (fallbackError) {
        return { topic, outcome: 'failed', model: '-', reason: `${reason}; fallback: ${errorTypeOf(fallbackError)}` };
      }
    }
  }
}
