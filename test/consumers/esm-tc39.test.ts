/**
 * An ESM TypeScript app with TC39 standard decorators, installed step by step as the
 * README says: the core entry points load with `@opentelemetry/api` alone, `setup` once
 * its section's packages are in, `testing` with its own (no sdk-metrics).
 */
import { describe, expect, it } from 'vitest';
import { install, project, run } from './support.js';

const APP = `
import { resilient, trace } from 'otel-resilience';
import { currentAttempt } from 'otel-resilience/context';
import { startTelemetry } from 'otel-resilience/setup';

class HttpError extends Error {
  constructor(readonly status: number) { super('HTTP ' + status); }
}

class Llm {
  failures = 1;

  @resilient({ retry: { maxRetries: 2, baseDelayMs: 0 } })
  async complete(prompt: string): Promise<string> {
    if (this.failures-- > 0) throw new HttpError(503);
    return prompt + ' (attempt ' + currentAttempt()?.attempt + ')';
  }

  @trace()
  words(text: string): number {
    return text.split(' ').length;
  }
}

const telemetry = startTelemetry({ endpoint: false, console: true, serviceName: 'esm-app' });
const llm = new Llm();
const { words } = llm;
console.log(await llm.complete('hi'), words.call(llm, 'a b c'));
await telemetry.shutdown();
`;

describe('ESM TypeScript app with TC39 decorators', () => {
  it('installs with the README commands and prints one span per attempt', { timeout: 300_000 }, async () => {
    const dir = project('esm-tc39', {
      'package.json': JSON.stringify({ name: 'esm-app', private: true, type: 'module' }),
      'tsconfig.json': JSON.stringify({
        compilerOptions: {
          target: 'es2023',
          module: 'nodenext',
          strict: true,
          rootDir: 'src',
          outDir: 'dist',
          sourceMap: true,
          skipLibCheck: true,
          types: [],
        },
        include: ['src'],
      }),
      'src/app.ts': APP,
      'maps.mjs':
        "import { ResiliencePipeline } from 'otel-resilience'; try { new ResiliencePipeline({ retry: { maxRetries: -1 } }); } catch (e) { console.log(e.stack); }",
      'core.mjs':
        "import * as core from 'otel-resilience'; import 'otel-resilience/context'; console.log(typeof core.resilient);",
      'testing.mjs':
        "import { installTestTracing } from 'otel-resilience/testing'; const r = installTestTracing(); await r.uninstall(); console.log('testing loads');",
    });
    await install(dir, 'npm install otel-resilience @opentelemetry/api');
    expect(await run(dir, 'node core.mjs')).toContain('function');
    // The shipped source maps carry their sources: stack frames point into the TypeScript.
    expect(await run(dir, 'node --enable-source-maps maps.mjs')).toMatch(
      /node_modules\/otel-resilience\/src\/policies\/\S+\.ts:\d+/,
    );
    await install(dir, 'npm install -D @opentelemetry/sdk-trace @opentelemetry/context-async-hooks');
    expect(await run(dir, 'node testing.mjs')).toContain('testing loads');
    await install(dir, 'npm install @opentelemetry/sdk-node @opentelemetry/sdk-trace @opentelemetry/exporter-trace-otlp-proto');
    await run(dir, 'npm install -D typescript && npx tsc');
    const out = await run(dir, 'node --enable-source-maps dist/app.js');
    expect(out).toContain('hi (attempt 2) 3');
    expect(out).toMatch(
      /Llm\.complete \([\d.]+ ms\) {2}attempts=2 outcome=success\n├─ Llm\.complete attempt \([\d.]+ ms\) {2}ERROR 503 {2}attempt=1/,
    );
    expect(out).toContain('Llm.words (');
    expect(out).not.toMatch(/ERR_MODULE_NOT_FOUND|ERESOLVE/);
  });
});
