/**
 * The kill -9 harness: workers run order workflows (reserve → charge → email through
 * `idempotent` → receipt, with compensations registered) and idempotent notifications
 * against the file and the Redis stores, and are killed with SIGKILL at random moments
 * — at least 200 kills in all, the two stores side by side — then one last worker
 * resumes every run and key. From the effects the downstream saw (each with its
 * idempotency key and the worker's pid) and the final stores, the figures printed:
 * completed steps redone (0), runs that cannot be resumed (0), lock errors (0),
 * compensations (0: no step fails for good), and duplicate downstream effects — only
 * in the documented window (by a worker killed before it could record the effect),
 * each with the same idempotency key as the first.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FileWorkflowStore, seededRandom, type WorkflowStore } from '../../src/index.js';
import { RedisWorkflowStore } from '../../src/redis/index.js';
import { type RunningRedis, startRedis } from '../support/redis.js';

const KILLS_PER_STORE = 110;
const RUNS = 300;
const KEYS = 300;
const worker = fileURLToPath(new URL('./kill9-worker.mjs', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'otel-resilience-kill9-'));
let redis: RunningRedis | undefined;
afterAll(async () => {
  await redis?.stop();
  rmSync(root, { recursive: true, force: true });
});

interface Effect {
  kind: 'step' | 'email' | 'notify' | 'compensate';
  key: string;
  run?: string;
  step?: string;
  nonce: string;
  pid: number;
}

function startWorker(kind: string, dir: string, port: number, mode: 'work' | 'finish', seed: number) {
  const child = spawn(process.execPath, [worker, kind, dir, String(port), String(RUNS), String(KEYS), mode, String(seed)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const ready = new Promise<void>((resolve, reject) => {
    const check = () => (out.includes('ready') ? resolve() : undefined);
    child.stdout!.on('data', check);
    child.once('exit', () => reject(new Error(`worker exited before it was ready:\n${out}`)));
  });
  return { child, ready, output: () => out };
}

function alive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/** Kills `kills` workers at random moments after they are ready, then finishes everything with one more. */
async function torture(kind: 'file' | 'redis', dir: string, port: number, seed: number) {
  mkdirSync(dir, { recursive: true });
  const random = seededRandom(seed);
  const killed = new Set<number>();
  for (let i = 0; i < KILLS_PER_STORE; i++) {
    const w = startWorker(kind, dir, port, 'work', seed * 1000 + i);
    await w.ready;
    await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 250)));
    killed.add(w.child.pid!);
    await kill(w.child);
  }
  const last = startWorker(kind, dir, port, 'finish', seed * 1000 + KILLS_PER_STORE);
  const [code] = (await once(last.child, 'exit')) as [number];
  const summary = JSON.parse(last.output().trim().split('\n').at(-1)!) as { unresumable: number };
  expect(code, last.output()).toBe(0);
  return { killed, unresumable: summary.unresumable, finisher: last.child.pid! };
}

/** Figures from what the downstream saw and what the store kept. */
async function figures(kind: string, dir: string, store: WorkflowStore, killed: Set<number>, unresumable: number) {
  const effects = readFileSync(join(dir, 'effects.log'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Effect);
  const errors = existsSync(join(dir, 'errors.log')) ? readFileSync(join(dir, 'errors.log'), 'utf8').trim().split('\n') : [];
  const lockErrors = errors.filter((e) => /Could not lock/.test(e)).length;
  const byOp = new Map<string, Effect[]>();
  for (const e of effects) {
    if (e.kind === 'compensate') continue;
    const op = e.kind === 'step' ? `${e.run}/${e.step}` : `${e.kind}/${e.key}`;
    byOp.set(op, [...(byOp.get(op) ?? []), e]);
  }
  let redone = 0;
  let duplicates = 0;
  const duplicatesByKind: Record<string, number> = { step: 0, email: 0, notify: 0 };
  let outsideWindow = 0;
  let otherKey = 0;
  let notCompleted = 0;
  const checkpointed = new Map<string, string>();
  for (let i = 0; i < RUNS; i++) {
    const run = (await store.load(`order-${i}`))?.run;
    if (run?.status !== 'completed') notCompleted++;
    for (const [step, { output }] of Object.entries(run?.steps ?? {}))
      if (step !== 'email') checkpointed.set(`order-${i}/${step}`, output as string);
  }
  for (const [op, list] of byOp) {
    duplicates += list.length - 1;
    duplicatesByKind[list[0]!.kind] = (duplicatesByKind[list[0]!.kind] ?? 0) + list.length - 1;
    if (new Set(list.map((e) => e.key)).size > 1) otherKey++;
    const kept = checkpointed.get(op);
    const keptAt = kept === undefined ? -1 : list.findIndex((e) => e.nonce === kept);
    if (kept !== undefined) redone += list.length - 1 - keptAt; // executions after the checkpointed one
    // Every execution but the one that counted was by a worker killed before recording it.
    const counted = kept !== undefined ? keptAt : list.length - 1;
    outsideWindow += list.filter((e, i) => i !== counted && !killed.has(e.pid)).length;
  }
  // The finisher's stores have swept the stale locks of keys nobody touched again.
  const files = kind === 'file' ? ['runs', 'records'].flatMap((d) => readdirSync(join(dir, d)).map((f) => join(dir, d, f))) : [];
  const locks = files
    .filter((f) => /\.(lock|break)$/.test(f))
    .map((f) => JSON.parse(readFileSync(f, 'utf8') || '{"pid":0}') as { pid: number });
  return {
    store: kind,
    kills: killed.size,
    'downstream effects': effects.length,
    'completed steps redone': redone,
    'runs that cannot be resumed': unresumable + notCompleted,
    'lock errors': lockErrors,
    'other errors': errors.length - lockErrors,
    compensations: effects.filter((e) => e.kind === 'compensate').length,
    'duplicate downstream effects (in the window: killed before recording)': duplicates,
    'duplicates by kind (workflow steps, emails through idempotent, idempotent notifications)': duplicatesByKind,
    'duplicates outside the window': outsideWindow,
    'duplicates with another idempotency key': otherKey,
    'temporary files left': files.filter((f) => f.endsWith('.tmp')).length,
    // A lock whose holder is dead is taken over at once by the next process that needs it;
    // one whose holder still lives would make the next process wait.
    'lock files left (taken over at once: their holders are dead)': locks.length,
    'lock files left whose holder lives': locks.filter((l) => alive(l.pid)).length,
  };
}

describe('kill -9 at random moments, then resume', () => {
  it(`${2 * KILLS_PER_STORE} kills across the file and Redis stores: nothing completed is redone, every run resumes`, async () => {
    const started = Date.now();
    redis = await startRedis();
    const fileDir = join(root, 'file');
    const redisDir = join(root, 'redis');
    const [file, onRedis] = await Promise.all([torture('file', fileDir, 0, 1), torture('redis', redisDir, redis.port, 2)]);
    const client = await redis.connect();
    const results = [
      await figures('file', fileDir, new FileWorkflowStore(join(fileDir, 'runs')), file.killed, file.unresumable),
      await figures('redis', redisDir, new RedisWorkflowStore({ client }), onRedis.killed, onRedis.unresumable),
    ];
    console.log(`[kill -9] ${Math.round((Date.now() - started) / 1000)} s\n${JSON.stringify(results, null, 2)}`);
    for (const r of results) {
      expect(r.kills).toBe(KILLS_PER_STORE);
      expect(r['completed steps redone']).toBe(0);
      expect(r['runs that cannot be resumed']).toBe(0);
      expect(r['lock errors']).toBe(0);
      expect(r['other errors']).toBe(0);
      expect(r.compensations).toBe(0);
      expect(r['duplicates outside the window']).toBe(0);
      expect(r['duplicates with another idempotency key']).toBe(0);
      expect(r['temporary files left']).toBe(0);
      expect(r['lock files left whose holder lives']).toBe(0);
    }
  }, 300_000);
});
