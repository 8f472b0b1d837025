/**
 * A NestJS CommonJS app (legacy decorators, `require()` of the ESM package) with
 * `@trace`/`@resilient` written above and below `@Get`: every route answers, and the
 * retried one shows its attempts.
 */
import { describe, expect, it } from 'vitest';
import { install, project, run } from './support.js';

const MAIN = `
import 'reflect-metadata';
import { Controller, Get, Module, Param } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { resilient, trace } from 'otel-resilience';
import { installTestTracing } from 'otel-resilience/testing';

let calls = 0;

@Controller('weather')
class WeatherController {
  @trace({ name: 'route.above' })
  @resilient({ retry: { maxRetries: 2, baseDelayMs: 0 } })
  @Get('above/:city')
  async above(@Param('city') city: string): Promise<string> {
    if (calls++ === 0) throw Object.assign(new Error('flaky'), { status: 503 });
    return 'sunny in ' + city;
  }

  @Get('below/:city')
  @resilient({ retry: false })
  @trace()
  async below(@Param('city') city: string): Promise<string> {
    return 'rain in ' + city;
  }
}

@Module({ controllers: [WeatherController] })
class AppModule {}

async function main(): Promise<void> {
  const recorder = installTestTracing();
  const app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  const url = await app.getUrl();
  for (const path of ['above/oslo', 'below/bergen']) {
    const response = await fetch(url + '/weather/' + path);
    console.log(path, response.status, await response.text());
  }
  await app.close();
  await recorder.uninstall();
  console.log(recorder.tree({ timings: false }));
}

void main();
`;

describe('NestJS CommonJS app', () => {
  it('keeps the routes with the decorators above and below @Get', { timeout: 300_000 }, async () => {
    const dir = project('nestjs', {
      'package.json': JSON.stringify({ name: 'nest-app', private: true }),
      'tsconfig.json': JSON.stringify({
        compilerOptions: {
          target: 'es2023',
          module: 'nodenext',
          strict: true,
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
          rootDir: 'src',
          outDir: 'dist',
          skipLibCheck: true,
          types: [],
        },
        include: ['src'],
      }),
      'src/main.ts': MAIN,
    });
    await install(
      dir,
      'npm install otel-resilience @opentelemetry/api',
      'npm install -D @opentelemetry/sdk-trace @opentelemetry/context-async-hooks',
    );
    await run(dir, 'npm install @nestjs/core @nestjs/common @nestjs/platform-express reflect-metadata rxjs');
    await run(dir, 'npm install -D typescript && npx tsc');
    const out = await run(dir, 'node dist/main.js');
    expect(out).toContain('above/oslo 200 sunny in oslo');
    expect(out).toContain('below/bergen 200 rain in bergen');
    expect(out).toContain(
      'route.above\n└─ WeatherController.above  attempts=2 outcome=success\n   ├─ WeatherController.above attempt  ERROR 503  attempt=1',
    );
    expect(out).toContain('WeatherController.below  attempts=1 outcome=success\n└─ WeatherController.below');
  });
});
