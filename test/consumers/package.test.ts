/**
 * The tarball itself: what `npm pack` ships, and that every install command of the
 * README is run by a consumer test.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packTarball, project, ROOT, run } from './support.js';

describe('the packed package', () => {
  it('ships dist with source maps that carry their sources, the LICENSE, and no src/', async () => {
    const tarball = await packTarball();
    const files = (await run(ROOT, `tar tzf ${tarball}`)).trim().split('\n');
    expect(files).toContain('package/package.json');
    expect(files).toContain('package/dist/setup/index.js');
    expect(files).toContain('package/dist/testing/index.d.ts');
    expect(files.some((file) => file.startsWith('package/src/'))).toBe(false);
    // The LICENSE file goes in whenever the repository has one (npm adds it by name).
    expect(files.includes('package/LICENSE')).toBe(existsSync(join(ROOT, 'LICENSE')));
    const maps = files.filter((file) => file.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(10);
    const unpacked = project('unpacked', {});
    await run(unpacked, `tar xzf ${tarball}`);
    for (const map of maps) {
      const json = JSON.parse(readFileSync(join(unpacked, map), 'utf8')) as {
        sources: string[];
        sourcesContent?: Array<string | null>;
      };
      expect(json.sourcesContent?.length, map).toBe(json.sources.length);
      expect(
        json.sourcesContent?.every((text) => typeof text === 'string' && text.length > 0),
        map,
      ).toBe(true);
    }
  });

  it('runs every README install command in some consumer test', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const commands = readme
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => /^npm (install|i) /.test(line));
    expect(commands.length).toBeGreaterThan(4);
    const tests = readdirSync(join(ROOT, 'test/consumers'))
      .filter((file) => file.endsWith('.test.ts') && file !== 'package.test.ts')
      .map((file) => readFileSync(join(ROOT, 'test/consumers', file), 'utf8'))
      .join('\n');
    const missing = commands.filter((command) => !tests.includes(`'${command}'`));
    expect(missing).toEqual([]);
  });
});
