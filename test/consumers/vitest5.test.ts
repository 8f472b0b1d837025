/**
 * A vitest 5 project whose test files declare decorated classes inline, in both
 * flavours, with the README's configurations, and whose matcher types compile.
 */
import { describe, expect, it } from 'vitest';
import { install, project, run } from './support.js';

const spec = (flavour: string) => `
import { afterEach, beforeEach, expect, it } from 'vitest';
import { resilient, trace } from 'otel-resilience';
import { installTestTracing, spanMatchers, type SpanMatchers } from 'otel-resilience/testing';

expect.extend(spanMatchers);
declare module 'vitest' {
  // vitest 5's Matchers has two type parameters; a declaration must repeat them.
  interface Matchers<R extends void | Promise<void> = void | Promise<void>, T = unknown> extends SpanMatchers<R> {}
}

class Unavailable extends Error {
  status = 503;
}

class Llm {
  failures = 1;

  @resilient({ retry: { maxRetries: 2, baseDelayMs: 0 } })
  async complete(prompt: string): Promise<string> {
    if (this.failures-- > 0) throw new Unavailable('503');
    return this.shout(prompt);
  }

  @trace()
  shout(text: string): string {
    return text.toUpperCase();
  }
}

let spans: ReturnType<typeof installTestTracing>;
beforeEach(() => {
  spans = installTestTracing();
});
afterEach(() => spans.uninstall());

it('${flavour}: retries the 503 with one span per attempt', async () => {
  expect(await new Llm().complete('hi')).toBe('HI');
  expect(spans).toHaveSpan('Llm.complete attempt', { status: 'error', attributes: { 'error.type': '503' }, parent: 'Llm.complete' });
  expect(spans).toHaveSpan('Llm.shout', { parent: 'Llm.complete attempt' });
  expect(spans).toHaveSpan('Llm.complete', {
    attributes: { 'resilience.attempts': 2, 'resilience.outcome': 'success' },
    events: [{ name: 'resilience.retry', attributes: { 'resilience.attempt': 1, 'error.type': '503' } }],
    parent: null,
  });
  expect(spans.tree({ timings: false })).toContain('├─ Llm.complete attempt  ERROR 503  attempt=1\\n│  └─ • exception');
});
`;

const LEGACY_CONFIG = `import { defineConfig } from 'vitest/config';

export default defineConfig({ oxc: { decorator: { legacy: true } }, test: { include: ['legacy/**/*.test.ts'] } });
`;

const TC39_CONFIG = `import babel from '@rolldown/plugin-babel';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [babel({ plugins: [['@babel/plugin-proposal-decorators', { version: '2023-11' }]] })],
  test: { include: ['tc39/**/*.test.ts'] },
});
`;

const tsconfig = (legacy: boolean) =>
  JSON.stringify({
    compilerOptions: {
      target: 'es2023',
      module: 'nodenext',
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: [],
      ...(legacy ? { experimentalDecorators: true } : {}),
    },
    include: [legacy ? 'legacy' : 'tc39'],
  });

describe('vitest 5 project', () => {
  it('asserts the spans of inline decorated classes in both flavours', { timeout: 300_000 }, async () => {
    const dir = project('vitest5', {
      'package.json': JSON.stringify({ name: 'vitest-app', private: true, type: 'module' }),
      'legacy/llm.test.ts': spec('legacy'),
      'tc39/llm.test.ts': spec('tc39'),
      'vitest.legacy.config.ts': LEGACY_CONFIG,
      'vitest.tc39.config.ts': TC39_CONFIG,
      'tsconfig.legacy.json': tsconfig(true),
      'tsconfig.tc39.json': tsconfig(false),
    });
    await install(
      dir,
      'npm install otel-resilience @opentelemetry/api',
      'npm install -D @opentelemetry/sdk-trace @opentelemetry/context-async-hooks',
      'npm install -D vitest',
      'npm install -D @rolldown/plugin-babel @babel/core @babel/plugin-proposal-decorators',
    );
    expect(await run(dir, 'npx vitest run --config vitest.legacy.config.ts')).toMatch(/1 passed/);
    expect(await run(dir, 'npx vitest run --config vitest.tc39.config.ts')).toMatch(/1 passed/);
    await run(dir, 'npm install -D typescript && npx tsc -p tsconfig.legacy.json && npx tsc -p tsconfig.tc39.json');
  });
});
