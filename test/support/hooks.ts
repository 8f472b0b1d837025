/** Shared test set-ups: fake timers, in-memory tracing, HTTP-like errors, free ports, servers' start-up. */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { afterEach, beforeEach, vi } from 'vitest';
import type { Clock } from '../../src/index.js';
import { installTestTracing, type SpanRecorder } from '../../src/testing/index.js';

/** Fake timers (and Date) for every test of the calling file. */
export function useFakeTimers(): void {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });
}

/** An in-memory tracer provider for every test of the calling file; returns the current recorder. */
export function useTracing(): () => SpanRecorder {
  let recorder: SpanRecorder;
  beforeEach(() => {
    recorder = installTestTracing();
  });
  afterEach(() => recorder.uninstall());
  return () => recorder;
}

/** A clock that moves only when told to (timers are not needed by its users). */
export interface ManualClock extends Clock {
  advance(ms: number): void;
}

/** A {@link ManualClock} starting at `start` ms. */
export function manualClock(start = 1_700_000_000_000): ManualClock {
  let now = start;
  return {
    now: () => now,
    setTimeout: () => undefined,
    clearTimeout: () => {},
    advance(ms) {
      now += ms;
    },
  };
}

/** Fake timers plus an in-memory tracer provider for every test; returns the current recorder. */
export function useFakeTimersAndTracing(): () => SpanRecorder {
  let recorder: SpanRecorder;
  beforeEach(() => {
    vi.useFakeTimers();
    recorder = installTestTracing();
  });
  afterEach(async () => {
    vi.useRealTimers();
    await recorder.uninstall();
  });
  return () => recorder;
}

/** An error shaped like an HTTP client's: `status` and `headers`. */
export function httpError(status: number, headers?: Record<string, string>): Error & { status: number } {
  return Object.assign(new Error(`HTTP ${status}`), { status, headers });
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * Polls `probe` (a connection attempt) every 50 ms until it succeeds. When the process
 * exits first or `timeoutMs` passes, calls `stop` and throws with the server's recent `log()`.
 */
export async function waitForServer(
  name: string,
  server: { child: ChildProcess; log: () => string; stop: () => Promise<void> },
  probe: () => Promise<unknown>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let failure = `did not accept connections within ${timeoutMs / 1000} s`;
  while (Date.now() < deadline) {
    if (server.child.exitCode !== null) {
      failure = 'exited during start-up';
      break;
    }
    try {
      await probe();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  await server.stop();
  throw new Error(`${name} ${failure}:\n${server.log()}`);
}

/** A clock whose timers fire on the next real macrotask, moving its time to their deadline. */
export function virtualClock(): Clock {
  let now = 1_000_000;
  return {
    now: () => now,
    setTimeout: (callback, delayMs) =>
      setTimeout(() => {
        now += delayMs;
        callback();
      }, 0),
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  };
}
