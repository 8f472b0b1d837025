import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import { ResiliencePipeline } from '../../src/index.js';
import { httpError, useTracing } from '../support/hooks.js';
import { drain } from '../support/streams.js';

describe('stream replay', () => {
  const tracing = useTracing();

  for (const traced of [true, false]) {
    it(`a replayed attempt runs in the caller's async context, not the reader's (${traced ? 'traced' : 'no SDK'})`, async () => {
      if (!traced) await tracing().uninstall();
      const user = new AsyncLocalStorage<string>();
      const seen: Array<[number, string | undefined]> = [];
      let calls = 0;
      const pipeline = new ResiliencePipeline({ retry: { baseDelayMs: 0 }, stream: { replay: true } });
      const stream = (await user.run('caller', () =>
        pipeline.execute(async function* () {
          const call = ++calls;
          seen.push([call, user.getStore()]);
          yield `x${call}`;
          seen.push([call, user.getStore()]);
          if (call === 1) throw httpError(503);
          yield 'end';
        }),
      )) as AsyncIterable<string>;
      // The stream is read elsewhere (another request's context): the replay must not run there.
      expect(await user.run('reader', () => drain(stream))).toEqual({ chunks: ['x1', 'x2', 'end'] });
      expect(seen).toEqual([
        [1, 'caller'],
        [1, 'caller'],
        [2, 'caller'],
        [2, 'caller'],
      ]);
    });
  }
});
