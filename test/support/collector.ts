/**
 * Starts the real OpenTelemetry Collector of collector/otel-collector.yaml (built once by
 * collector/otelcol.sh with the collector builder) on free loopback ports, exporting to a
 * running Jaeger. Throws if it cannot: a test without its collector fails, never skips.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, waitForServer } from './hooks.js';

const collectorDir = fileURLToPath(new URL('../../collector/', import.meta.url));

/** The shipped collector config. */
export const collectorConfig = `${collectorDir}otel-collector.yaml`;

/** Builds the collector once (cached; a few minutes the first time) and returns its binary's path. */
export async function collectorBinary(): Promise<string> {
  const { stdout } = await promisify(execFile)('bash', [`${collectorDir}otelcol.sh`, 'build'], {
    timeout: 20 * 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout.trim().split('\n').at(-1)!;
}

export interface RunningCollector {
  /** OTLP/HTTP traces endpoint. */
  readonly otlpUrl: string;
  /** Recent stderr of the collector. */
  log(): string;
  stop(): Promise<void>;
}

/** Runs the shipped config with `env` (the variables it documents) on top of the ports chosen here. */
export async function startCollector(jaegerGrpcEndpoint: string, env: Record<string, string> = {}): Promise<RunningCollector> {
  const binary = await collectorBinary();
  const http = `127.0.0.1:${await freePort()}`;
  const child: ChildProcess = spawn(binary, ['--config', collectorConfig], {
    env: {
      ...process.env,
      OTELCOL_OTLP_HTTP_ENDPOINT: http,
      OTELCOL_OTLP_GRPC_ENDPOINT: `127.0.0.1:${await freePort()}`,
      OTELCOL_JAEGER_ENDPOINT: jaegerGrpcEndpoint,
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-8000);
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  };
  const otlpUrl = `http://${http}/v1/traces`;
  const probe = async () => {
    const response = await fetch(otlpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"resourceSpans":[]}',
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
  };
  await waitForServer('the OpenTelemetry Collector', { child, log: () => log, stop }, probe, 60_000);
  return { otlpUrl, log: () => log, stop };
}
