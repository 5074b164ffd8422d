// agent-host's own gRPC client against real servers on real Unix sockets: a grpc-js server with the
// agent service definition (what the supervisor serves with) for the protocol as it should be, and
// a raw node:http2 server for what a broken or hostile peer could send.
import { Server, ServerCredentials, status, type ServerDuplexStream, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { createServer, type Http2Server, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { agentPackageDefinition, EosError, toServiceError, type agentV1 } from '@everythingos/proto';
import { decodeHelloResponse, decodeSessionResponse, encodeHelloRequest, encodeSessionRequest, loadAgentUnaryMethod } from '@everythingos/proto/agent-wire';
import { AgentClient, type ClientStream } from '../src/agent-client.js';

const HELLO = '/eos.agent.v1.AgentService/Hello';
const SESSION = '/eos.agent.v1.AgentService/Session';
const decodeHello = decodeHelloResponse as (b: Buffer) => agentV1.HelloResponse__Output;
const decodeFrame = decodeSessionResponse as (b: Buffer) => agentV1.SessionResponse__Output;
const auth = { nonce: 7, timestampMs: 1_764_000_000_000, mac: Buffer.alloc(32, 1) };

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'eos-agent-client-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) {
    await c();
  }
});

type Handlers = Record<string, (...args: never[]) => void>;

/** A grpc-js server for eos.agent.v1.AgentService with the given handlers (missing ones answer UNIMPLEMENTED). */
async function grpcServer(handlers: Handlers): Promise<string> {
  return (await grpcServerWithStop(handlers)).socket;
}

async function grpcServerWithStop(handlers: Handlers, socket = join(dir, `g${++n}.sock`)): Promise<{ socket: string; stop: () => void }> {
  const server = new Server();
  const service = agentPackageDefinition()['eos.agent.v1.AgentService'];
  if (service === undefined) {
    throw new Error('no agent service');
  }
  server.addService(service, handlers as never);
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix:${socket}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  const stop = (): void => server.forceShutdown();
  cleanups.push(stop);
  return { socket, stop };
}

/** A raw HTTP/2 server whose every stream `onStream` answers however it likes. */
async function rawServer(onStream: (stream: ServerHttp2Stream, path: string) => void): Promise<string> {
  const socket = join(dir, `r${++n}.sock`);
  const server: Http2Server = createServer();
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (s) => sessions.add(s));
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    onStream(stream, String(headers[':path']));
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) {
          s.destroy();
        }
        server.close(() => resolve());
      }),
  );
  return socket;
}

function client(socketPath: string, maxReceiveMessageBytes?: number): AgentClient {
  const c = new AgentClient({ socketPath, ...(maxReceiveMessageBytes === undefined ? {} : { maxReceiveMessageBytes }) });
  cleanups.push(() => c.close());
  return c;
}

function hello(c: AgentClient, timeoutMs = 5_000): Promise<agentV1.HelloResponse__Output> {
  return c.unary(HELLO, { auth, protocolVersion: 2, pid: 42 }, encodeHelloRequest, decodeHello, timeoutMs);
}

function grpcFrame(message: Buffer, compressed = 0): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = compressed;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/** Answers one raw stream with gRPC headers, `body`, then the given trailers. */
function answer(stream: ServerHttp2Stream, body: Buffer, trailers: Record<string, string>): void {
  stream.resume();
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers(trailers));
  stream.end(body);
}

async function rejection(p: Promise<unknown>): Promise<EosError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EosError);
  return err as EosError;
}

describe('AgentClient unary calls', () => {
  it('sends the request and returns the response as a grpc-js server reads and writes them', async () => {
    let seen: agentV1.HelloRequest__Output | undefined;
    const socket = await grpcServer({
      Hello: (call: ServerUnaryCall<agentV1.HelloRequest__Output, agentV1.HelloResponse>, cb: sendUnaryData<agentV1.HelloResponse>) => {
        seen = call.request;
        cb(null, { agentId: 'a-1', manifestJson: Buffer.from('{"name":"x"}'), entryPath: '/pkg/index.js', tickRateMs: 250, heartbeatIntervalMs: 5000, protocolVersion: 2 });
      },
    });
    const res = await hello(client(socket));
    expect(seen).toEqual({ auth, protocolVersion: 2, pid: 42 });
    expect(res).toEqual({ agentId: 'a-1', manifestJson: Buffer.from('{"name":"x"}'), entryPath: '/pkg/index.js', tickRateMs: 250, heartbeatIntervalMs: 5000, protocolVersion: 2 });
  });

  it('makes the other unary methods with the codecs of the agent descriptor', async () => {
    let key = '';
    const socket = await grpcServer({
      GetState: (call: ServerUnaryCall<agentV1.GetStateRequest__Output, agentV1.GetStateResponse>, cb: sendUnaryData<agentV1.GetStateResponse>) => {
        key = call.request.key;
        cb(null, { found: true, valueJson: Buffer.from('{"v":1}') });
      },
      SetState: (_call: unknown, cb: sendUnaryData<agentV1.SetStateResponse>) => cb(null, {}),
    });
    const m = await loadAgentUnaryMethod('GetState');
    const res = (await client(socket).unary(m.path, { auth, key: 'k1' }, m.serialize, m.deserialize, 5_000)) as agentV1.GetStateResponse__Output;
    expect(key).toBe('k1');
    expect(res.found).toBe(true);
    expect(res.valueJson.toString()).toBe('{"v":1}');
    await expect(loadAgentUnaryMethod('Session')).rejects.toThrow(/no unary method Session/);
    // An empty response (every field at its default) is zero bytes on the wire: still one message.
    const setState = await loadAgentUnaryMethod('SetState');
    expect(await client(socket).unary(setState.path, { auth, key: 'k1', valueJson: Buffer.from('1') }, setState.serialize, setState.deserialize, 5_000)).toEqual({});
  });

  it('turns the eos-error-code the server sends into that EosError code and message', async () => {
    const socket = await grpcServer({
      Hello: (_call: unknown, cb: sendUnaryData<never>) => cb(toServiceError(new EosError('EOS_PERMISSION_DENIED', 'channel "x" is not declared; 100% sure')), null),
    });
    const err = await rejection(hello(client(socket)));
    expect(err.code).toBe('EOS_PERMISSION_DENIED');
    expect(err.message).toBe('channel "x" is not declared; 100% sure');
  });

  it('derives the code from the gRPC status when there is no eos-error-code (UNIMPLEMENTED, NOT_FOUND, unknown)', async () => {
    const socket = await grpcServer({
      Hello: (_call: unknown, cb: sendUnaryData<never>) => cb({ code: status.NOT_FOUND, details: 'gone' }, null),
      GetState: (_call: unknown, cb: sendUnaryData<never>) => cb({ code: status.DATA_LOSS, details: 'lost' }, null),
    });
    const c = client(socket);
    expect((await rejection(hello(c))).code).toBe('EOS_NOT_FOUND');
    const getState = await loadAgentUnaryMethod('GetState');
    const lost = await rejection(c.unary(getState.path, { auth, key: 'k' }, getState.serialize, getState.deserialize, 5_000));
    expect(lost.code).toBe('EOS_INTERNAL');
    expect(lost.message).toBe('lost');
    const think = await loadAgentUnaryMethod('Think');
    expect((await rejection(c.unary(think.path, { auth }, think.serialize, think.deserialize, 5_000))).code).toBe('EOS_UNIMPLEMENTED');
  });

  it('enforces its deadline, tells the server (grpc-timeout) and cancels the call there', async () => {
    let cancelled = false;
    let deadlineMs = 0;
    const socket = await grpcServer({
      Hello: (call: ServerUnaryCall<unknown, unknown>) => {
        deadlineMs = Number(call.getDeadline()) - Date.now();
        call.on('cancelled', () => {
          cancelled = true;
        });
      },
    });
    const t0 = Date.now();
    const err = await rejection(hello(client(socket), 300));
    expect(err.code).toBe('EOS_UNAVAILABLE');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(deadlineMs).toBeGreaterThan(100);
    expect(deadlineMs).toBeLessThanOrEqual(300);
    await expect.poll(() => cancelled).toBe(true);
  });

  it('fails with EOS_UNAVAILABLE when nothing listens on the socket, and after close()', async () => {
    const c = client(join(dir, 'nobody.sock'));
    expect((await rejection(hello(c))).code).toBe('EOS_UNAVAILABLE');
    c.close();
    const closed = await rejection(hello(c));
    expect(closed.code).toBe('EOS_UNAVAILABLE');
    expect(closed.message).toMatch(/closed/);
  });

  it('refuses a broken or hostile answer with an EosError: compressed, oversized, truncated, two messages, not gRPC', async () => {
    const good = grpcFrame(Buffer.from([0x0a, 0x01, 0x61]));
    const socket = await rawServer((stream) => {
      stream.on('data', (chunk: Buffer) => {
        // The test's pid field picks the answer.
        const pid = chunk.readUInt8(chunk.length - 1);
        switch (pid) {
          case 1:
            answer(stream, grpcFrame(Buffer.from([0x0a, 0x01, 0x61]), 1), { 'grpc-status': '0' });
            break;
          case 2: {
            // A header announcing 1 GiB: refused from the header, nothing allocated.
            const h = Buffer.alloc(5);
            h.writeUInt32BE(1 << 30, 1);
            answer(stream, h, { 'grpc-status': '0' });
            break;
          }
          case 3:
            answer(stream, good.subarray(0, good.length - 1), { 'grpc-status': '0' });
            break;
          case 4:
            answer(stream, Buffer.concat([good, good]), { 'grpc-status': '0' });
            break;
          case 5:
            stream.respond({ ':status': 200, 'content-type': 'text/html' });
            stream.end('<html>');
            break;
          case 6:
            stream.respond({ ':status': 503 });
            stream.end();
            break;
          case 7:
            // Trailers-only error with a percent-encoded message.
            stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '7', 'grpc-message': 'caf%C3%A9 %25 denied' }, { endStream: true });
            break;
          case 8:
            answer(stream, good, {});
            break;
          case 9: {
            // A whole message, then a lone header announcing 9 bytes that never come, then OK.
            const lone = Buffer.from([0, 0, 0, 0, 9]);
            answer(stream, Buffer.concat([good, lone]), { 'grpc-status': '0' });
            break;
          }
          case 10:
            answer(stream, good, { 'grpc-status': '' });
            break;
          default:
            answer(stream, good, { 'grpc-status': '0' });
        }
      });
    });
    const c = client(socket, 1024 * 1024);
    const call = (pid: number): Promise<EosError> => rejection(c.unary(HELLO, { auth, protocolVersion: 2, pid }, encodeHelloRequest, decodeHello, 5_000));
    expect(await call(1)).toMatchObject({ code: 'EOS_INTERNAL', message: expect.stringMatching(/compressed/) });
    expect(await call(2)).toMatchObject({ code: 'EOS_INTERNAL', message: expect.stringMatching(/1073741824 bytes, over the 1048576-byte limit/) });
    expect(await call(3)).toMatchObject({ code: 'EOS_INTERNAL', message: expect.stringMatching(/inside a message/) });
    expect(await call(4)).toMatchObject({ code: 'EOS_INTERNAL', message: expect.stringMatching(/2 messages/) });
    expect(await call(5)).toMatchObject({ code: 'EOS_INTERNAL', message: expect.stringMatching(/content type text\/html/) });
    expect(await call(6)).toMatchObject({ code: 'EOS_UNAVAILABLE', message: expect.stringMatching(/HTTP status 503/) });
    expect(await call(7)).toMatchObject({ code: 'EOS_PERMISSION_DENIED', message: 'café % denied' });
    expect(await call(8)).toMatchObject({ code: 'EOS_INTERNAL', message: expect.stringMatching(/without a gRPC status/) });
    expect(await call(9)).toMatchObject({ code: 'EOS_INTERNAL', message: expect.stringMatching(/inside a message/) });
    expect(await call(10)).toMatchObject({ code: 'EOS_INTERNAL', message: expect.stringMatching(/gRPC status 2/) });
    // The connection survived all of it.
    expect((await hello(c)).agentId).toBe('a');
  });
});

describe('AgentClient streams', () => {
  function session(
    c: AgentClient,
    onMessage: (f: agentV1.SessionResponse__Output) => void = () => undefined,
  ): { stream: ClientStream<agentV1.SessionRequest>; ended: Promise<EosError | undefined> } {
    let stream!: ClientStream<agentV1.SessionRequest>;
    const ended = new Promise<EosError | undefined>((resolve) => {
      stream = c.stream(SESSION, encodeSessionRequest, decodeFrame, { onMessage, onEnd: resolve });
    });
    return { stream, ended };
  }

  it('carries frames both ways in order, large ones intact, and ends with the status OK', async () => {
    const got: agentV1.SessionRequest__Output[] = [];
    const socket = await grpcServer({
      Session: (call: ServerDuplexStream<agentV1.SessionRequest__Output, agentV1.SessionResponse>) => {
        call.on('data', (f: agentV1.SessionRequest__Output) => {
          got.push(f);
          call.write({ shutdown: { graceMs: got.length, reason: 'x'.repeat(got.length === 3 ? 3 * 1024 * 1024 : 1) } });
        });
        call.on('end', () => call.end());
      },
    });
    const frames: agentV1.SessionResponse__Output[] = [];
    const { stream, ended } = session(client(socket), (f) => frames.push(f));
    const big = Buffer.alloc(2 * 1024 * 1024, 7);
    stream.write({ heartbeat: { auth, body: Buffer.from('1') } });
    stream.write({ emits: { emits: [{ auth, channel: 'a.b', priority: 'PRIORITY_HIGH', body: big }] } });
    stream.write({ ready: { auth } });
    stream.end();
    expect(await ended).toBeUndefined();
    expect(got.map((f) => f.frame)).toEqual(['heartbeat', 'emits', 'ready']);
    expect(got[1]?.emits?.emits[0]?.body.equals(big)).toBe(true);
    expect(frames.map((f) => f.shutdown?.graceMs)).toEqual([1, 2, 3]);
    expect(frames[2]?.shutdown?.reason.length).toBe(3 * 1024 * 1024);
  });

  it('reports the status the server ends the stream with as an EosError', async () => {
    const socket = await grpcServer({
      Session: (call: ServerDuplexStream<unknown, unknown>) => {
        call.on('data', () => call.emit('error', toServiceError(new EosError('EOS_PROTOCOL_VIOLATION', 'too many entries'))));
      },
    });
    const { stream, ended } = session(client(socket));
    stream.write({ ready: { auth } });
    expect(await ended).toMatchObject({ code: 'EOS_PROTOCOL_VIOLATION', message: 'too many entries' });
  });

  it('ends with EOS_UNAVAILABLE when the server goes away mid-stream or was never there', async () => {
    let stop = (): void => undefined;
    const server = await grpcServerWithStop({
      Session: (call: ServerDuplexStream<unknown, unknown>) => {
        call.on('data', () => stop());
      },
    });
    stop = server.stop;
    const socket = server.socket;
    const { stream, ended } = session(client(socket));
    stream.write({ ready: { auth } });
    expect(await ended).toMatchObject({ code: 'EOS_UNAVAILABLE' });
    const never = session(client(join(dir, 'nobody.sock')));
    expect(await never.ended).toMatchObject({ code: 'EOS_UNAVAILABLE' });
    expect(never.stream.write({ ready: { auth } })).toBe(false);
  });

  it('ends with EOS_INTERNAL on a frame that does not decode, delivering the ones before it and none after', async () => {
    const socket = await rawServer((stream) => {
      stream.resume();
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      const ok = grpcFrame(Buffer.from([0x22, 0x02, 0x08, 0x05])); // shutdown { graceMs: 5 }
      const bad = grpcFrame(Buffer.from([0x22, 0x05, 0x08])); // length past the end
      stream.end(Buffer.concat([ok, bad, ok]));
    });
    const frames: agentV1.SessionResponse__Output[] = [];
    const { ended } = session(client(socket), (f) => frames.push(f));
    expect(await ended).toMatchObject({ code: 'EOS_INTERNAL', message: expect.stringMatching(/could not be decoded/) });
    expect(frames.map((f) => f.shutdown?.graceMs)).toEqual([5]);
  });

  it('reads messages split over one-byte DATA frames and empty messages between others', async () => {
    const socket = await rawServer((stream) => {
      stream.resume();
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      const bytes = Buffer.concat([
        grpcFrame(Buffer.from([0x22, 0x02, 0x08, 0x05])), // shutdown { graceMs: 5 }
        grpcFrame(Buffer.alloc(0)), // SessionResponse {}: zero bytes
        grpcFrame(Buffer.from([0x22, 0x02, 0x08, 0x06])),
      ]);
      let i = 0;
      const next = (): void => {
        if (i === bytes.length) {
          stream.end();
          return;
        }
        stream.write(bytes.subarray(i, ++i), () => setImmediate(next));
      };
      next();
    });
    const frames: agentV1.SessionResponse__Output[] = [];
    const { ended } = session(client(socket), (f) => frames.push(f));
    expect(await ended).toBeUndefined();
    expect(frames.map((f) => f.frame ?? 'empty')).toEqual(['shutdown', 'empty', 'shutdown']);
    expect(frames.map((f) => f.shutdown?.graceMs)).toEqual([5, undefined, 6]);
  });

  it('reports a lost connection, not a clean end, when it closes while read messages wait behind pause()', async () => {
    const socket = await rawServer((stream) => {
      stream.resume();
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      const frame = (n: number): Buffer => grpcFrame(Buffer.from([0x22, 0x02, 0x08, n]));
      stream.write(frame(1));
      setTimeout(() => {
        stream.end(Buffer.concat([frame(2), frame(3), frame(4), frame(5)]));
        // The status OK has gone out with the trailers; the connection then drops before the
        // paused client read frames 2-5.
        setTimeout(() => stream.session?.destroy(), 100);
      }, 50);
    });
    const seen: number[] = [];
    const c = client(socket);
    const s = session(c, (f) => {
      seen.push(f.shutdown?.graceMs ?? -1);
      s.stream.pause();
    });
    expect(await s.ended).toMatchObject({ code: 'EOS_UNAVAILABLE', message: expect.stringMatching(/before every message was read/) });
    expect(seen).toEqual([1]);
  });

  it('connects again after the connection drops: the next call reaches a new server on the same socket', async () => {
    const socket = join(dir, `re${++n}.sock`);
    const serve = (agentId: string): Promise<{ socket: string; stop: () => void }> =>
      grpcServerWithStop({ Hello: (_call: unknown, cb: sendUnaryData<agentV1.HelloResponse>) => cb(null, { agentId }) }, socket);
    const first = await serve('first');
    const c = client(socket);
    expect((await hello(c)).agentId).toBe('first');
    first.stop();
    await expect.poll(() => hello(c, 1_000).then(() => 'answered', (e: unknown) => (e as EosError).code)).toBe('EOS_UNAVAILABLE');
    rmSync(socket, { force: true });
    await serve('second');
    expect((await hello(c)).agentId).toBe('second');
  });

  it('pause() stops reading: the server is held back by HTTP/2 flow control until resume()', async () => {
    let written = 0;
    let blocked = false;
    const socket = await grpcServer({
      Session: (call: ServerDuplexStream<unknown, agentV1.SessionResponse>) => {
        const pump = (): void => {
          while (written < 2000) {
            written++;
            if (!call.write({ shutdown: { graceMs: written, reason: 'y'.repeat(1000) } })) {
              blocked = true;
              call.once('drain', pump);
              return;
            }
          }
          call.end();
        };
        call.once('data', () => pump());
      },
    });
    const seen: number[] = [];
    const c = client(socket);
    const s = session(c, (f) => {
      seen.push(f.shutdown?.graceMs ?? -1);
      if (seen.length === 10) {
        s.stream.pause();
      }
    });
    s.stream.write({ ready: { auth } });
    await expect.poll(() => blocked).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    const heldAt = written;
    expect(heldAt).toBeLessThan(2000);
    expect(seen.length).toBeLessThan(heldAt);
    s.stream.resume();
    expect(await s.ended).toBeUndefined();
    expect(seen).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
  });
});
