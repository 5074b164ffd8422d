import { credentials, type ServiceError } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { computeCallMac, fromServiceError, loadAgentProto, PROTOCOL_VERSION, type agentV1 } from '@everythingos/proto';
import { EventBus } from '../src/bus/event-bus.js';
import { AgentServer } from '../src/rpc/agent-server.js';
import { newAuthCounters } from '../src/rpc/auth-counters.js';
import { CallVerifier } from '../src/rpc/call-verifier.js';
import { StateStore } from '../src/state/state-store.js';
import { parseConfig } from '../src/config/load-config.js';
import { createServices } from '../src/services.js';
import { parseManifest } from '@everythingos/proto';

const log = pino({ level: 'silent' });

interface Harness {
  client: agentV1.AgentServiceClient;
  key: Buffer;
  counters: ReturnType<typeof newAuthCounters>;
  bus: EventBus;
  auth: (method: string, channel: string, body?: Buffer, opts?: { nonce?: number; ts?: number; key?: Buffer }) => agentV1.CallAuth;
}

async function harness(): Promise<Harness> {
  const dir = await mkdtemp('/tmp/eosd-srv-');
  await chmod(dir, 0o700);
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const bus = new EventBus({
    queueCapacity: 100,
    globalRateLimit: { eventsPerSec: 1000, burst: 1000 },
    deadLetterCapacity: 10,
    maxPayloadBytes: 1024,
    logger: log,
  });
  bus.registerAgent('a1', { publish: new Set(['ok.out']), subscribe: new Set(['ok.in']) }, { eventsPerSec: 1000, burst: 1000 });
  const counters = newAuthCounters();
  const services = await createServices({ config: parseConfig({ dev: true, stateDir: join(dir, 'state'), metrics: { listen: null } }, 'test', dir), logger: log });
  onTestFinished(() => services.close());
  const server = new AgentServer({
    agentId: 'a1',
    socketPath: join(dir, 'agent.sock'),
    manifestJson: Buffer.from('{}'),
    entryPath: '/nonexistent.js',
    tickRateMs: 0,
    heartbeatIntervalMs: 1000,
    bus,
    state: new StateStore(dir),
    authCounters: counters,
    manifest: parseManifest({ id: 'a1', name: 'A1', version: '1.0.0', description: 'test agent for the server', tier: 'low', publish: ['ok.out'], subscribe: ['ok.in'] }, 'test'),
    spec: { tier: 'low', allowModel: false, credentials: [] },
    services,
    log,
    agentLog: log,
  });
  await server.listen();
  onTestFinished(() => server.close());
  const key = randomBytes(32);
  server.bind({ verifier: new CallVerifier(key), onReady: () => undefined, onHeartbeat: () => undefined });
  const { eos } = loadAgentProto();
  const client = new eos.agent.v1.AgentService(`unix:${join(dir, 'agent.sock')}`, credentials.createInsecure());
  onTestFinished(() => client.close());
  let nonce = 0;
  return {
    client,
    key,
    counters,
    bus,
    auth: (method, channel, body, opts = {}) => {
      const n = opts.nonce ?? ++nonce;
      const ts = opts.ts ?? Date.now();
      return { nonce: n, timestampMs: ts, mac: computeCallMac(opts.key ?? key, method, channel, n, ts, body) };
    },
  };
}

function call<Req, Res>(client: agentV1.AgentServiceClient, method: string, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, (r: Req, cb: (e: ServiceError | null, r?: Res) => void) => void>)[method];
    fn!.call(client, req, (err, res) => (err ? reject(fromServiceError(err)) : resolve(res as Res)));
  });
}

describe('AgentServer call authentication', () => {
  it('accepts a correctly signed call and rejects the same call replayed', async () => {
    const h = await harness();
    const hello = { auth: h.auth('Hello', ''), protocolVersion: PROTOCOL_VERSION, pid: 1 };
    await expect(call(h.client, 'hello', hello)).resolves.toMatchObject({ agentId: 'a1' });
    await expect(call(h.client, 'hello', hello)).rejects.toMatchObject({ code: 'EOS_UNAUTHENTICATED' });
    const get = { auth: h.auth('GetState', 'k'), key: 'k' };
    await expect(call(h.client, 'getState', get)).resolves.toMatchObject({ found: false });
    await expect(call(h.client, 'getState', get)).rejects.toMatchObject({ code: 'EOS_UNAUTHENTICATED' });
    expect(h.counters.replay).toBe(2);
  });

  it('rejects a bad MAC, a MAC under another key, and a MAC over another body or channel', async () => {
    const h = await harness();
    await call(h.client, 'hello', { auth: h.auth('Hello', ''), protocolVersion: PROTOCOL_VERSION, pid: 1 });
    const bad = h.auth('GetState', 'k');
    (bad.mac as Buffer)[0] = (bad.mac as Buffer)[0]! ^ 0xff;
    await expect(call(h.client, 'getState', { auth: bad, key: 'k' })).rejects.toMatchObject({ code: 'EOS_UNAUTHENTICATED' });
    await expect(call(h.client, 'getState', { auth: h.auth('GetState', 'k', undefined, { key: randomBytes(32) }), key: 'k' })).rejects.toMatchObject({
      code: 'EOS_UNAUTHENTICATED',
    });
    const body = Buffer.from('"v"');
    await expect(call(h.client, 'setState', { auth: h.auth('SetState', 'k', body), key: 'k', body: Buffer.from('"w"') })).rejects.toMatchObject({
      code: 'EOS_UNAUTHENTICATED',
    });
    await expect(call(h.client, 'setState', { auth: h.auth('SetState', 'other', body), key: 'k', body })).rejects.toMatchObject({
      code: 'EOS_UNAUTHENTICATED',
    });
    await expect(call(h.client, 'getState', { key: 'k' })).rejects.toMatchObject({ code: 'EOS_UNAUTHENTICATED' });
    expect(h.counters.bad_mac).toBe(4);
    expect(h.counters.missing).toBe(1);
    await expect(call(h.client, 'setState', { auth: h.auth('SetState', 'k', body), key: 'k', body })).resolves.toEqual({});
  });

  it('rejects calls whose timestamp is two minutes off, either way', async () => {
    const h = await harness();
    await call(h.client, 'hello', { auth: h.auth('Hello', ''), protocolVersion: PROTOCOL_VERSION, pid: 1 });
    for (const skew of [-120_000, 120_000]) {
      await expect(call(h.client, 'getState', { auth: h.auth('GetState', 'k', undefined, { ts: Date.now() + skew }), key: 'k' })).rejects.toMatchObject({
        code: 'EOS_UNAUTHENTICATED',
      });
    }
    expect(h.counters.clock_skew).toBe(2);
    await expect(call(h.client, 'getState', { auth: h.auth('GetState', 'k', undefined, { ts: Date.now() - 30_000 }), key: 'k' })).resolves.toMatchObject({
      found: false,
    });
  });

  it('rejects a replayed or forged emit on the session stream while accepting the genuine one', async () => {
    const h = await harness();
    await call(h.client, 'hello', { auth: h.auth('Hello', ''), protocolVersion: PROTOCOL_VERSION, pid: 1 });
    const session = h.client.session();
    onTestFinished(() => session.cancel());
    const acks: agentV1.EmitAcks__Output[] = [];
    session.on('data', (f: agentV1.SessionResponse__Output) => f.acks && acks.push(f.acks));
    session.on('error', () => undefined);
    const body = Buffer.from('{"n":1}');
    const genuine = { auth: h.auth('Emit', 'ok.out', body), channel: 'ok.out', priority: 'PRIORITY_NORMAL' as const, body };
    const forged = { auth: h.auth('Emit', 'ok.out', Buffer.from('{"n":2}')), channel: 'ok.out', priority: 'PRIORITY_NORMAL' as const, body };
    session.write({ emits: { emits: [genuine, genuine, forged] } });
    await expect.poll(() => acks.length).toBe(1);
    const codes = acks[0]!.rejected.map((r) => [r.nonce, r.error?.code]);
    expect(codes).toEqual([
      [genuine.auth.nonce, 'EOS_UNAUTHENTICATED'],
      [forged.auth.nonce, 'EOS_UNAUTHENTICATED'],
    ]);
    expect(h.bus.counters().published).toBe(1);
  });

  it('authenticates model calls first, then refuses them without the model:call capability', async () => {
    const h = await harness();
    await call(h.client, 'hello', { auth: h.auth('Hello', ''), protocolVersion: PROTOCOL_VERSION, pid: 1 });
    const body = Buffer.from('{"prompt":"hi"}');
    await expect(call(h.client, 'think', { body })).rejects.toMatchObject({ code: 'EOS_UNAUTHENTICATED' });
    await expect(call(h.client, 'think', { auth: h.auth('Think', '', body), body })).rejects.toMatchObject({ code: 'EOS_PERMISSION_DENIED' });
  });

  it('rejects a handshake with another protocol version with EOS_PROTOCOL_MISMATCH', async () => {
    const h = await harness();
    await expect(call(h.client, 'hello', { auth: h.auth('Hello', ''), protocolVersion: PROTOCOL_VERSION + 1, pid: 1 })).rejects.toMatchObject({
      code: 'EOS_PROTOCOL_MISMATCH',
    });
  });
});
