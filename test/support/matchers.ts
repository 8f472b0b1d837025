import { expect } from 'vitest';
import { type SpanMatchers, spanMatchers } from '../../src/testing/index.js';

expect.extend(spanMatchers);

declare module 'vitest' {
  interface Matchers<T = any> extends SpanMatchers<T> {}
}
