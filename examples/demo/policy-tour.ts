/**
 * `npm run demo -- --policies`: one short scene per policy beyond retry and the breaker
 * — rate limiter, bulkhead, hedging, chaos, fallback chain, slow-call breaker — each
 * run under its own root span so its trace tells the story.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type OpenAI from 'openai';
import { CircuitBreaker, chaosFaults, resilient, seededRandom, traced } from 'otel-resilience';
import { currentAttempt } from 'otel-resilience/context';
import type { Fault } from './flaky-llm-server.js';

/** Models the tour asks the flaky service for, and what the service does to each. */
export const TOUR_SCRIPT: Readonly<Record<string, readonly Fault[]>> = {
  'search-model': [{ kind: 'slow', delayMs: 1500 }],
  'primary-model': Array.from({ length: 4 }, () => ({ kind: 'unavailable' as const })),
  'secondary-model': Array.from({ length: 2 }, () => ({ kind: 'unavailable' as const })),
  'slow-model': Array.from({ length: 3 }, () => ({ kind: 'slow' as const, delayMs: 300 })),
};

const slowModelBreaker = new CircuitBreaker({
  name: 'slow-model',
  slowCallDurationMs: 200,
  slowCallRateThreshold: 0.5,
  minimumThroughput: 2,
  halfOpenAfterMs: 60_000,
});

export class PolicyTour {
  constructor(private readonly openai: OpenAI) {}

  private async chat(model: string, prompt: string): Promise<string> {
    const response = await this.openai.chat.completions.create(
      { model, messages: [{ role: 'user', content: prompt }] },
      { signal: currentAttempt()?.signal },
    );
    return response.choices[0]?.message.content ?? '';
  }

  /** Tokens-per-second budget per model: a burst of long prompts waits for budget. */
  @resilient({
    retry: false,
    rateLimiter: {
      name: 'tokens-per-second',
      limits: { tokensPerInterval: 200, intervalMs: 1000, burst: 200 },
      key: ([model]) => String(model),
      cost: ([, prompt]) => String(prompt).length,
      maxWaitMs: 3000,
    },
  })
  async budgeted(model: string, prompt: string): Promise<string> {
    return this.chat(model, prompt);
  }

  /** A tool that allows two calls at a time, two more waiting at most 300 ms. */
  @resilient({ retry: false, bulkhead: { name: 'crm-api', maxConcurrent: 2, maxQueue: 2, queueTimeoutMs: 300 } })
  async lookupCustomer(id: number): Promise<string> {
    await sleep(200);
    return `customer ${id}`;
  }

  /** Search with hedging: a second request goes out if the first is slow; the first answer wins. */
  @resilient({ hedging: { maxHedgedAttempts: 1, delayMs: 150 }, attemptTimeoutMs: 3000 })
  async search(query: string): Promise<string> {
    return this.chat('search-model', query);
  }

  /** A tool whose output chaos corrupts half the time; retryOnResult catches the malformed JSON. */
  @resilient({
    retry: { maxRetries: 4, baseDelayMs: 10, retryOnResult: (result) => !isJson(result) },
    chaos: { name: 'malformed-output', injectionRate: 0.5, outcome: chaosFaults.malformedToolOutput(), random: seededRandom(5) },
  })
  async calculator(expression: string): Promise<string> {
    return JSON.stringify({ expression, value: expression.length * 7 });
  }

  /** Primary model → secondary model → rule-based answer. */
  @resilient({
    retry: { maxRetries: 1, baseDelayMs: 20 },
    fallback: [
      {
        name: 'secondary-model',
        handler(this: PolicyTour, _failure, prompt: string) {
          return this.chat('secondary-model', prompt);
        },
      },
      { name: 'rule-based', handler: (_failure, prompt: string) => `(rule-based) I cannot answer "${prompt}" right now.` },
    ],
  })
  async answer(prompt: string): Promise<string> {
    return this.chat('primary-model', prompt);
  }

  /** A slow dependency: the breaker opens on the slow-call rate, though every call succeeds. */
  @resilient({ retry: false, circuitBreaker: slowModelBreaker, fallback: () => '(skipped: slow-model breaker open)' })
  async summarise(text: string): Promise<string> {
    return this.chat('slow-model', text);
  }

  /** The scenes, each under a root span named after its policy. */
  scenes(): Array<{ policy: string; run: () => Promise<unknown> }> {
    const long = 'x'.repeat(150);
    return [
      { policy: 'rate limiter', run: () => Promise.all([1, 2, 3].map(() => this.budgeted('tour-model', long))) },
      { policy: 'bulkhead', run: () => Promise.allSettled([1, 2, 3, 4, 5].map((id) => this.lookupCustomer(id))) },
      { policy: 'hedging', run: () => this.search('resilience libraries') },
      { policy: 'chaos', run: () => Promise.all(['1+1', '2*3', '7-4'].map((e) => this.calculator(e))) },
      { policy: 'fallback chain', run: () => this.answer('what is our churn?') },
      {
        policy: 'slow-call breaker',
        run: async () => [await this.summarise('a'), await this.summarise('b'), await this.summarise('c')],
      },
    ].map(({ policy, run }) => ({ policy, run: traced(run, { name: `tour ${policy}` }) }));
  }
}

function isJson(value: unknown): boolean {
  try {
    JSON.parse(String(value));
    return true;
  } catch {
    return false;
  }
}
