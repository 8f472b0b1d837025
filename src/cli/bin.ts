#!/usr/bin/env node
/** The `otel-resilience` command (package.json `bin`): see `runs.ts`. */
import { main } from './runs.js';

const code = await main(process.argv.slice(2), {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
});
// A workflow module may leave handles open (timers, clients): the command is done.
process.exit(code);
