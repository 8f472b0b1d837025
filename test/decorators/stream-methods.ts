/**
 * Compile-time check, in both decorator flavours (built by `npm run build:fixtures`):
 * `@resilient` takes methods that return a stream — an async generator, or a promise of
 * an async iterable (the openai SDK's `stream: true`) — as well as promises; the sync
 * refusal is in scenarios.ts.
 */
import { resilient } from '../../src/index.js';

export class Streams {
  @resilient({ retry: false })
  async *tokens(): AsyncGenerator<string> {
    yield 'a';
  }

  @resilient({ retry: false })
  async later(): Promise<AsyncIterable<string>> {
    return this.tokens();
  }
}
