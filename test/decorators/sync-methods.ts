/**
 * Compile-time check, in both decorator flavours (built by `npm run build:fixtures`):
 * `@resilient` refuses a synchronous method — its decorated calls return a promise,
 * which a sync signature would hide (`n * 2` of a decorated `double` gave `NaN`).
 */
import { resilient } from '../../src/index.js';

export class Refused {
  // @ts-expect-error a sync method cannot be @resilient
  @resilient({ retry: false })
  double(n: number): number {
    return n * 2;
  }

  @resilient({ retry: false })
  async doubleLater(n: number): Promise<number> {
    return n * 2;
  }

  @resilient({ retry: false })
  async *tokens(): AsyncGenerator<string> {
    yield 'a';
  }
}
