/**
 * The agent's streamed task: it calls one tool over MCP (a real MCP server on
 * 127.0.0.1), then streams its answer from the LLM (`stream: true`), each under
 * `@resilient`. The first streamed request is refused with a 429 before any token: it
 * is retried after its Retry-After, and the trace shows the failed attempt, the retry,
 * and the attempt that streamed — its span open until the last token, with the chunks
 * delivered and the token usage (`gen_ai.usage.*`) on it and on the call.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { trace as otelTrace } from '@opentelemetry/api';
import type OpenAI from 'openai';
import { resilient } from 'otel-resilience';
import { currentAttempt } from 'otel-resilience/context';

/** The model the streamed answer comes from (the demo's LLM service scripts its faults by name). */
export const STREAM_MODEL = 'gpt-stream';

export class StreamingAgent {
  private session: Client | undefined;

  constructor(
    private readonly openai: OpenAI,
    private readonly mcpUrl: URL,
  ) {}

  /** A tool over MCP: a dropped connection or an expired session is retried on a new session. */
  @resilient({ name: 'mcp lookup_metric', retry: { maxRetries: 2, baseDelayMs: 20 } })
  async lookupMetric(metric: string): Promise<string> {
    this.session ??= await this.connect();
    try {
      const result = await this.session.callTool({ name: 'lookup_metric', arguments: { metric } });
      return (result.content as Array<{ text?: string }>)[0]?.text ?? '';
    } catch (error) {
      await this.session.close().catch(() => {});
      this.session = undefined;
      throw error;
    }
  }

  /** The answer as a token stream: retried until its first token, never replayed after it. */
  @resilient({
    retry: { maxRetries: 2, baseDelayMs: 50 },
    stream: { firstChunkTimeoutMs: 2000, idleTimeoutMs: 1000 },
    attributes: () => ({ 'gen_ai.request.model': STREAM_MODEL }),
  })
  async answer(prompt: string) {
    return this.openai.chat.completions.create(
      {
        model: STREAM_MODEL,
        messages: [{ role: 'user', content: prompt }],
        stream: true,
        stream_options: { include_usage: true },
      },
      { signal: currentAttempt()?.signal },
    );
  }

  /** The task under its root span `task stream`: the tool, then the answer, printed token by token. */
  run(topic: string, write: (text: string) => void): Promise<void> {
    return otelTrace
      .getTracer('demo-agent')
      .startActiveSpan('task stream', { attributes: { 'agent.task.topic': topic } }, async (span) => {
        try {
          const metric = await this.lookupMetric(topic);
          for await (const chunk of await this.answer(`summarise for a report: ${topic} is ${metric}`)) {
            write(chunk.choices[0]?.delta?.content ?? '');
          }
        } finally {
          await this.session?.close().catch(() => {});
          span.end();
        }
      });
  }

  private async connect(): Promise<Client> {
    const client = new Client({ name: 'demo-agent', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(this.mcpUrl));
    return client;
  }
}
