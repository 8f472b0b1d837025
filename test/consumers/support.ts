/**
 * Consumer projects: the packed package (`npm pack` of this build) installed into fresh
 * projects under the temp dir with the README's own install commands, from the npm
 * registry as a user would (npm's own cache, nothing cached by hand).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The environment of commands run in a consumer project: Node 24 first on PATH, none of the outer npm run's settings. */
function consumerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key) && !key.startsWith('VITEST') && key !== 'NODE_OPTIONS' && !key.startsWith('OTEL_')) env[key] = value;
  }
  env.PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;
  env.npm_config_audit = 'false';
  env.npm_config_fund = 'false';
  env.npm_config_update_notifier = 'false';
  return env;
}

/** Runs `command` with bash in `cwd`; resolves its stdout, rejects with everything it printed. */
export function run(cwd: string, command: string, timeoutMs = 240_000): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      'bash',
      ['-c', command],
      { cwd, env: consumerEnv(), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`\`${command}\` in ${cwd} failed: ${error.message}\n${stdout}\n${stderr}`));
        else resolvePromise(`${stdout}${stderr ? `\n${stderr}` : ''}`);
      },
    );
  });
}

/** Directories this test file made; removed when it ends (a project with node_modules is large). */
const made: string[] = [];
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

let tarball: Promise<string> | undefined;

/** `npm pack` of the built package (npm test builds first), once per test file. */
export function packTarball(): Promise<string> {
  tarball ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'otel-resilience-pack-'));
    made.push(dir);
    const out = await run(ROOT, `npm pack --silent --pack-destination ${dir}`);
    const name = out.trim().split('\n')[0]!.trim();
    const path = join(dir, name);
    if (!existsSync(path)) throw new Error(`npm pack wrote no ${path}: ${out}`);
    return path;
  })();
  return tarball;
}

/** A fresh project directory under the temp dir holding `files` (paths relative to it). */
export function project(name: string, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), `otel-resilience-${name}-`));
  made.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

/**
 * `command` exactly as a README line (it must be one), with the package name
 * `otel-resilience` pointing at the packed tarball.
 */
export async function readmeCommand(command: string): Promise<string> {
  if (!README.split('\n').some((line) => line.trim() === command)) {
    throw new Error(`the README has no line \`${command}\``);
  }
  const path = await packTarball();
  return command.replace(/(^|\s)otel-resilience(?=\s|$)/, `$1${path}`);
}

/** Runs each README install command in `dir`, in order. */
export async function install(dir: string, ...commands: string[]): Promise<void> {
  for (const command of commands) await run(dir, await readmeCommand(command));
}

/** A fresh ESM project (`"type": "module"`) whose program is `app.mjs`. */
export function moduleApp(name: string, app: string): string {
  return project(name, {
    'package.json': JSON.stringify({ name: `${name}-app`, private: true, type: 'module' }),
    'app.mjs': app,
  });
}

/**
 * Program text starting a local OTLP/HTTP receiver on 127.0.0.1 that answers 200 and
 * counts requests in \`requests\`; its port is \`collector.address().port\`.
 */
export const COUNTING_COLLECTOR = `
let requests = 0;
const collector = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    requests++;
    response.writeHead(200, { 'content-type': 'application/x-protobuf' });
    response.end();
  });
});
await new Promise((resolve) => collector.listen(0, '127.0.0.1', resolve));
`;
