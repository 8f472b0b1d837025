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
