/**
 * One bench case in a process of its own, driven by `run.ts` over IPC: it sets up its
 * phase, builds its call and says `ready`; then each `{ round }` message measures one
 * round and answers `{ ns }` (ns per call, the median over the round's samples), and
 * `{ done: true }` ends it. One process per case, as JMH forks a JVM per benchmark: a
 * case's JIT state is its own, not shaped by what other libraries ran in the same
 * process before it (opossum's timers, for one, deoptimise code that inlined Node's
 * `Timeout` methods).
 */
import { Bench } from 'tinybench';
import { BATCH, CASES, setUp } from './cases.js';

export interface RoundRequest {
  readonly round: number;
  readonly timeMs: number;
}

const key = process.argv[2];
const found = CASES.find((c) => c.key === key);
if (found === undefined) throw new Error(`no bench case ${key}`);
const bench = found;
const tearDown = await setUp(bench.phase);
const call = await bench.make();
// A heap as its live data calls for, whatever building the case took: building a million
// keys at once grows V8's young generation to its 64 MB maximum (everything survives),
// and a busy process keeps it, so each call's allocations would stream through 64 MB
// instead of a few — a cost of the set-up, not of the calls measured. A last-resort
// collection (what a low-memory notification runs) shrinks it again.
const { gc } = globalThis as { gc?: (options: object) => void };
if (gc === undefined) throw new Error('bench case processes run with --expose-gc');
gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });

async function measureRound(timeMs: number): Promise<number> {
  const b = new Bench({ time: timeMs, warmup: true, warmupTime: Math.min(200, timeMs) });
  b.add(bench.key, async () => {
    for (let i = 0; i < BATCH; i++) await call();
  });
  await b.run();
  const result = b.tasks[0]?.result;
  const latency = result && 'latency' in result ? result.latency : undefined;
  if (!latency) throw new Error(`bench case ${bench.key} produced no result`);
  return (latency.p50 * 1e6) / BATCH;
}

process.on('message', async (message: RoundRequest | { done: true }) => {
  if ('done' in message) {
    await tearDown();
    process.disconnect();
    return;
  }
  process.send!({ ns: await measureRound(message.timeMs) });
});
process.send!('ready');
