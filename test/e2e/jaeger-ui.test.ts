/**
 * `npm run jaeger` (collector/jaeger.sh run) and the UI: a folder given as
 * JAEGER_UI_ASSETS is what Jaeger serves (jaeger_query.ui.assets_path); without one it
 * says the page is a placeholder and how to get the real UI; a folder without
 * index.html is refused before Jaeger starts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/hooks.js';

const script = fileURLToPath(new URL('../../collector/jaeger.sh', import.meta.url));

/** Runs `jaeger.sh run` on free ports until it reports health (or exits); returns its output so far and a stop. */
async function runJaeger(env: Record<string, string>) {
  const ports: Record<string, string> = {};
  for (const name of ['OTLP_HTTP', 'OTLP_GRPC', 'QUERY', 'QUERY_GRPC', 'HEALTH'])
    ports[`JAEGER_${name}_PORT`] = String(await freePort());
  const child: ChildProcess = spawn('bash', [script, 'run'], {
    env: { ...process.env, JAEGER_LOG_LEVEL: 'warn', ...ports, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  const exited = once(child, 'exit');
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && child.exitCode === null && !log.includes('Jaeger is up')) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await new Promise((resolve) => setTimeout(resolve, 100)); // the line after "up"
  return {
    log: () => log,
    ui: `http://127.0.0.1:${ports.JAEGER_QUERY_PORT}/`,
    exitCode: () => child.exitCode,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

let assets: string;
beforeAll(async () => {
  assets = await mkdtemp(join(tmpdir(), 'jaeger-ui-'));
  await writeFile(
    join(assets, 'index.html'),
    '<!doctype html><html><head><base href="/"></head><body>the UI in this folder</body></html>',
  );
});
afterAll(async () => {
  await rm(assets, { recursive: true, force: true });
});

describe('npm run jaeger and the UI', () => {
  it('serves the UI from JAEGER_UI_ASSETS', async () => {
    const jaeger = await runJaeger({ JAEGER_UI_ASSETS: assets });
    try {
      expect(jaeger.log()).toContain(`serves the Jaeger UI from ${assets}`);
      expect(await (await fetch(jaeger.ui)).text()).toContain('the UI in this folder');
    } finally {
      await jaeger.stop();
    }
  });

  it('says the page is a placeholder, and how to get the real UI, without it', async () => {
    const jaeger = await runJaeger({ JAEGER_UI_ASSETS: '' });
    try {
      expect(jaeger.log()).toMatch(/serves a PLACEHOLDER page.*\n.*assets\.tar\.gz of the jaegertracing\/jaeger-ui v1\.76\.0/);
      expect(await (await fetch(jaeger.ui)).text()).not.toContain('the UI in this folder');
    } finally {
      await jaeger.stop();
    }
  });

  it('refuses a folder without index.html', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'no-ui-'));
    const jaeger = await runJaeger({ JAEGER_UI_ASSETS: empty });
    await jaeger.stop();
    await rm(empty, { recursive: true });
    expect(jaeger.exitCode()).toBe(1);
    expect(jaeger.log()).toContain('has no index.html');
  });
});
