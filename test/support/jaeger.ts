/**
 * Starts a real Jaeger v2 from collector/jaeger.yaml on free loopback ports (building
 * the binary once through collector/jaeger.sh). Throws if it cannot: an end-to-end test
 * that has no Jaeger fails, it never skips.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from './hooks.js';

const collectorDir = fileURLToPath(new URL('../../collector/', import.meta.url));

export interface RunningJaeger {
  /** OTLP/HTTP traces endpoint. */
  readonly otlpUrl: string;
  /** OTLP/gRPC `host:port` (what a collector in front of Jaeger exports to). */
  readonly otlpGrpcEndpoint: string;
  /** Base URL of the query API (`/api/traces`, `/api/services`). */
  readonly queryUrl: string;
  stop(): Promise<void>;
}

export async function startJaeger(): Promise<RunningJaeger> {
  const { stdout } = await promisify(execFile)('bash', [`${collectorDir}jaeger.sh`, 'build'], {
    timeout: 20 * 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const binary = stdout.trim().split('\n').at(-1)!;
  const ports = {
    JAEGER_OTLP_HTTP_PORT: await freePort(),
    JAEGER_OTLP_GRPC_PORT: await freePort(),
    JAEGER_QUERY_PORT: await freePort(),
    JAEGER_QUERY_GRPC_PORT: await freePort(),
    JAEGER_HEALTH_PORT: await freePort(),
  };
  const env: NodeJS.ProcessEnv = { ...process.env, JAEGER_HOST: '127.0.0.1', JAEGER_LOG_LEVEL: 'warn' };
  for (const [key, value] of Object.entries(ports)) env[key] = String(value);
  const child: ChildProcess = spawn(binary, ['--config', `${collectorDir}jaeger.yaml`], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`Jaeger exited during start-up:\n${log}`);
    const healthy = await fetch(`http://127.0.0.1:${ports.JAEGER_HEALTH_PORT}/status`).then(
      (r) => r.ok,
      () => false,
    );
    if (healthy) {
      return {
        otlpUrl: `http://127.0.0.1:${ports.JAEGER_OTLP_HTTP_PORT}/v1/traces`,
        otlpGrpcEndpoint: `127.0.0.1:${ports.JAEGER_OTLP_GRPC_PORT}`,
        queryUrl: `http://127.0.0.1:${ports.JAEGER_QUERY_PORT}`,
        stop,
      };
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await stop();
  throw new Error(`Jaeger did not become healthy within 60 s:\n${log}`);
}

/** A span in Jaeger's v1 JSON (`/api/traces`). */
export interface JaegerSpan {
  traceID: string;
  spanID: string;
  /** Key of the trace's `processes` (its service). */
  processID: string;
  operationName: string;
  /** Start, in µs since the epoch; `duration` in µs. */
  startTime: number;
  duration: number;
  references: Array<{ refType: string; spanID: string }>;
  tags: Array<{ key: string; value: unknown }>;
  logs: Array<{ timestamp: number; fields: Array<{ key: string; value: unknown }> }>;
}

/** Polls Jaeger's query API until `service` has a trace with a span named `rootName`. */
export async function waitForTrace(queryUrl: string, service: string, rootName: string): Promise<JaegerSpan[]> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const response = await fetch(`${queryUrl}/api/traces?service=${encodeURIComponent(service)}&limit=50`);
    if (response.ok) {
      const body = (await response.json()) as { data: Array<{ spans: JaegerSpan[] }> | null };
      const trace = body.data?.find((t) => t.spans.some((s) => s.operationName === rootName));
      if (trace) return trace.spans;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`No trace with span "${rootName}" for service "${service}" in Jaeger after 20 s`);
}

/** The traces of `service` in Jaeger now (up to `limit`), each as its spans. */
export async function tracesOf(queryUrl: string, service: string, limit = 1000): Promise<JaegerSpan[][]> {
  const response = await fetch(`${queryUrl}/api/traces?service=${encodeURIComponent(service)}&limit=${limit}&lookback=1h`);
  if (!response.ok) return [];
  const body = (await response.json()) as { data: Array<{ spans: JaegerSpan[] }> | null };
  return (body.data ?? []).map((t) => t.spans);
}

/** The root span of a trace's spans (the one without a parent among them). */
export function rootOf(spans: readonly JaegerSpan[]): JaegerSpan | undefined {
  const ids = new Set(spans.map((s) => s.spanID));
  return spans.find((s) => !s.references.some((r) => r.refType === 'CHILD_OF' && ids.has(r.spanID)));
}

/** The `event` field and other fields of a Jaeger log (= span event), as an object. */
export function logFields(log: JaegerSpan['logs'][number]): Record<string, unknown> {
  return Object.fromEntries(log.fields.map((f) => [f.key, f.value]));
}
