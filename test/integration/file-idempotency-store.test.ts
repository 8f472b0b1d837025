/**
 * The file store on a real filesystem: the conformance suite, and processes racing for
 * one key — exactly one of them runs the side effect.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { FileIdempotencyStore } from '../../src/index.js';
import { describeIdempotencyStoreConformance } from '../support/idempotency-store-conformance.js';

const root = mkdtempSync(join(tmpdir(), 'otel-resilience-idem-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
describeIdempotencyStoreConformance(
  'FileIdempotencyStore',
  async (clock) => new FileIdempotencyStore(join(root, String(n++)), { clock }),
);

describe('FileIdempotencyStore across processes', () => {
  it('eight processes calling with one key run the side effect once and all get its result', async () => {
    const dist = fileURLToPath(new URL('../../dist/index.js', import.meta.url));
    const dir = join(root, 'shared');
    const effects = join(root, 'effects.log');
    const script = `
      import { appendFileSync } from 'node:fs';
      import { FileIdempotencyStore, idempotent } from ${JSON.stringify(dist)};
      const send = idempotent(async (to) => {
        appendFileSync(${JSON.stringify(effects)}, process.pid + '\\n');
        await new Promise((r) => setTimeout(r, 200));
        return 'sent to ' + to;
      }, { key: ([to]) => to, store: new FileIdempotencyStore(${JSON.stringify(dir)}), onInProgress: { waitMs: 5000, pollMs: 20 } });
      console.log(await send('ada@example.com'));
    `;
    const run = () => promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 });
    const outputs = await Promise.all(Array.from({ length: 8 }, run));
    expect(outputs.map((o) => o.stdout.trim())).toEqual(Array(8).fill('sent to ada@example.com'));
    expect(readFileSync(effects, 'utf8').trim().split('\n')).toHaveLength(1);
  });
});
