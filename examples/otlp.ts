/** Where the examples send traces: the standard OTLP variables, and whether a collector answers there. */
import { connect } from 'node:net';

/** The OTLP/HTTP traces endpoint, from the standard variables or the local default. */
export function otlpEndpoint(): string {
  const traces = process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (traces) return traces;
  const base = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  return base ? `${base.replace(/\/$/, '')}/v1/traces` : 'http://127.0.0.1:4318/v1/traces';
}

/** Whether something accepts TCP connections at the endpoint's host and port (500 ms). */
export function answers(endpoint: string): Promise<boolean> {
  const url = new URL(endpoint);
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port || 80), timeout: 500 });
    const done = (up: boolean) => {
      socket.destroy();
      resolve(up);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}
