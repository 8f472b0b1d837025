/**
 * A small research agent, written the way a user of otel-resilience writes one: an LLM
 * client whose calls are `@resilient`, tools that are `@trace`d, and a fallback to a
 * second model when the primary one cannot answer.
 */
import type OpenAI from 'openai';
import { BrokenCircuitError, CircuitBreaker, resilient, trace } from 'otel-resilience';
import { currentAttempt } from 'otel-resilience/context';

/** One breaker per dependency: every method calling the primary model shares it. */
export const primaryModelBreaker = new CircuitBreaker({
  name: 'primary-model',
  failureThreshold: 4,
  halfOpenAfterMs: 1000,
});

export class LlmClient {
  constructor(private readonly openai: OpenAI) {}

  /** The primary model: retried on 429/503/dropped connections/timeouts, behind a breaker. */
  @resilient({
    retry: { maxRetries: 3, baseDelayMs: 50, maxDelayMs: 400 },
    circuitBreaker: primaryModelBreaker,
    attemptTimeoutMs: 500,
    totalTimeoutMs: 4000,
    attributes: ([model]) => ({ 'gen_ai.request.model': String(model) }),
  })
  async complete(model: string, prompt: string): Promise<string> {
    return this.chat(model, prompt);
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

/** What the agent itself knows about a task; the numbers come from its trace. */
export interface TaskOutcome {
  readonly topic: string;
  readonly outcome: 'answered' | 'fallback' | 'failed';
  readonly model: string;
  /** Why the primary model was not used: the error's name, or 'breaker open'. */
  readonly reason: string;
}

export class Agent {
  constructor(
    private readonly llm: LlmClient,
    private readonly tools: Tools,
    private readonly models: { primary: string; fallback: string },
  ) {}

  /** One agent task: a tool call, an LLM call (with fallback), a report. */
  @trace()
  async runTask(topic: string): Promise<TaskOutcome> {
    const notes = await this.tools.searchNotes(topic);
    const prompt = `Summarise for a report: ${notes.join('; ')}`;
    try {
      const answer = await this.llm.complete(this.models.primary, prompt);
      this.tools.formatReport(topic, answer);
      return { topic, outcome: 'answered', model: this.models.primary, reason: '' };
    } catch (error) {
      const reason = error instanceof BrokenCircuitError ? 'breaker open' : (error as Error).name;
      try {
        const answer = await this.llm.completeFallback(this.models.fallback, prompt);
        this.tools.formatReport(topic, answer);
        return { topic, outcome: 'fallback', model: this.models.fallback, reason };
      } catch (fallbackError) {
        return { topic, outcome: 'failed', model: '-', reason: `${reason}; fallback: ${(fallbackError as Error).name}` };
      }
    }
  }
}
