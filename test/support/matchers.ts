import { expect } from 'vitest';
import { type SpanMatchers, spanMatchers } from '../../src/testing/index.js';

expect.extend(spanMatchers);

declare module 'vitest' {
  // vitest 5's `Matchers` has two type parameters; every declaration must repeat them.
  interface Matchers<R extends void | Promise<void> = void | Promise<void>, T = unknown> extends SpanMatchers<R> {}
}
