/**
 * The errors real client libraries throw — axios, node:http, the openai SDK, gRPC
 * (grpc-js) — produced against real servers on 127.0.0.1, as `classifyError` sees them.
 */
import { once } from 'node:events';
import { createServer, get, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import axios from 'axios';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyError, errorTypeOf } from '../../src/index.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const routes = new Map<string, Handler>([
  [
    '/429',
    (_, res) =>
      res.writeHead(429, { 'retry-after': '2', 'content-type': 'application/json' }).end('{"error":{"message":"slow down"}}'),
  ],
  ['/500', (_, res) => res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"boom"}}')],
  ['/503', (_, res) => res.writeHead(503).end('unavailable')],
  ['/400', (_, res) => res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"bad"}}')],
  ['/drop', (req) => req.socket.destroy()],
  ['/slow', (_, res) => setTimeout(() => res.writeHead(200).end('{}'), 2000).unref()],
]);

let base = '';
const server = createServer((req, res) => {
  const path = req.url!.replace(/^\/v1/, '').replace(/\/chat\/completions$/, '');
  (routes.get(path) ?? ((_, r) => r.writeHead(404).end()))(req, res);
});

beforeAll(async () => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  server.close();
});

const caught = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('axios', () => {
  it.each([
    ['/429', 'rate-limited', 429],
    ['/503', 'transient', 503],
    ['/400', 'permanent', 400],
  ])('%s is %s', async (path, category, status) => {
    const error = await caught(axios.get(base + path));
    expect(classifyError(error)).toMatchObject({ category, status });
  });

  it('reads Retry-After from AxiosHeaders', async () => {
    expect(classifyError(await caught(axios.get(`${base}/429`))).retryAfterMs).toBe(2000);
  });

  it('a dropped connection and its own timeout are worth retrying', async () => {
    expect(classifyError(await caught(axios.get(`${base}/drop`)))).toMatchObject({ retryable: true, code: 'ECONNRESET' });
    const timedOut = await caught(axios.get(`${base}/slow`, { timeout: 50 }));
    expect(classifyError(timedOut).retryable).toBe(true);
  });

  it("the caller's abort (CanceledError) is final", async () => {
    const canceled = await caught(axios.get(`${base}/slow`, { signal: AbortSignal.abort() }));
    expect(axios.isCancel(canceled)).toBe(true);
    expect(classifyError(canceled)).toMatchObject({ category: 'permanent', aborted: true, errorType: 'ERR_CANCELED' });
  });
});

describe('node:http', () => {
  const request = (url: string) =>
    new Promise((resolve, reject) => {
      get(url, (res) => res.resume().on('end', resolve)).on('error', reject);
    });

  it('socket hang up and connection refused are transient', async () => {
    expect(classifyError(await caught(request(`${base}/drop`)))).toMatchObject({ category: 'transient', code: 'ECONNRESET' });
    expect(classifyError(await caught(request('http://127.0.0.1:9/')))).toMatchObject({
      category: 'transient',
      code: 'ECONNREFUSED',
    });
  });
});

describe('openai SDK', () => {
  const client = (timeout = 10_000) => new OpenAI({ apiKey: 'test', baseURL: `${base}/v1`, maxRetries: 0, timeout });
  const chat = (path: string, c = client(), signal?: AbortSignal) =>
    caught(c.withOptions({ baseURL: `${base}/v1${path}` }).chat.completions.create({ model: 'm', messages: [] }, { signal }));

  it('rate limit, server, bad-request, connection, timeout and abort errors', async () => {
    expect(classifyError(await chat('/429'))).toMatchObject({ category: 'rate-limited', retryAfterMs: 2000 });
    expect(classifyError(await chat('/500'))).toMatchObject({ category: 'transient', status: 500 });
    expect(classifyError(await chat('/400'))).toMatchObject({ category: 'permanent', status: 400 });
    const dropped = await chat('/drop');
    expect(dropped).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(classifyError(dropped).retryable).toBe(true);
    // The undici code deep in its cause chain (APIConnectionError ← TypeError: fetch failed ← SocketError).
    expect(['UND_ERR_SOCKET', 'ECONNRESET']).toContain(errorTypeOf(dropped));
    const timedOut = await chat('/slow', client(50));
    expect(timedOut).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    expect(classifyError(timedOut).category).toBe('timeout');
    expect(errorTypeOf(timedOut)).toBe('APIConnectionTimeoutError');
    const aborted = await chat('/slow', client(), AbortSignal.abort());
    expect(aborted).toBeInstanceOf(OpenAI.APIUserAbortError);
    expect(classifyError(aborted)).toMatchObject({ category: 'permanent', aborted: true });
  });
});

describe('gRPC (grpc-js)', () => {
  const passThrough = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
  const service = {
    call: {
      path: '/test.Flaky/Call',
      requestStream: false,
      responseStream: false,
      requestSerialize: passThrough.serialize,
      requestDeserialize: passThrough.deserialize,
      responseSerialize: passThrough.serialize,
      responseDeserialize: passThrough.deserialize,
    },
  } as grpc.ServiceDefinition;
  let grpcServer: grpc.Server;
  let client: grpc.Client & { call: (req: Buffer, options: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void) => void };

  beforeAll(async () => {
    grpcServer = new grpc.Server();
    grpcServer.addService(service, {
      call: (callObj: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        const want = callObj.request.toString();
        if (want === 'slow') {
          setTimeout(() => callback(null, Buffer.from('late')), 1000).unref();
          return;
        }
        callback({ code: Number(want), details: `status ${want}` });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    const Client = grpc.makeGenericClientConstructor(service, 'Flaky');
    client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as typeof client;
  });
  afterAll(() => {
    client?.close();
    grpcServer?.forceShutdown();
  });

  const call = (request: string, deadlineMs = 5000) =>
    new Promise<grpc.ServiceError | null>((resolve) =>
      client.call(Buffer.from(request), { deadline: Date.now() + deadlineMs }, (error) => resolve(error)),
    );

  it.each([
    [grpc.status.UNAVAILABLE, 'transient', 'UNAVAILABLE'],
    [grpc.status.RESOURCE_EXHAUSTED, 'rate-limited', 'RESOURCE_EXHAUSTED'],
    [grpc.status.INVALID_ARGUMENT, 'permanent', 'INVALID_ARGUMENT'],
    [grpc.status.NOT_FOUND, 'permanent', 'NOT_FOUND'],
  ])('status %i is %s, error.type its name %s', async (code, category, name) => {
    const error = await call(String(code));
    expect(error?.code).toBe(code);
    expect(classifyError(error)).toMatchObject({ category, code: name });
    expect(errorTypeOf(error)).toBe(name);
  });

  it('DEADLINE_EXCEEDED is a timeout', async () => {
    const error = await call('slow', 50);
    expect(error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(classifyError(error)).toMatchObject({ category: 'timeout', code: 'DEADLINE_EXCEEDED' });
  });
});
