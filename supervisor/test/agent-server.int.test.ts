import { credentials, type ServiceError } from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { computeCallMac, EosError, fromServiceError, loadAgentProto, PROTOCOL_VERSION, type agentV1 } from '@everythingos/proto';
import { EventBus } from '../src/bus/event-bus.js';
import { AgentServer, MAX_SESSION_FRAME_ENTRIES, type AgentServerOptions } from '../src/rpc/agent-server.js';
import { DaemonMetrics } from '../src/metrics/daemon-metrics.js';
import { queryLedger } from '../src/ledger/index.js';
import { newAuthCounters } from '../src/rpc/auth-counters.js';
import { CallVerifier } from '../src/rpc/call-verifier.js';
import { StateStore } from '../src/state/state-store.js';
import { parseConfig } from '../src/config/load-config.js';
import { createServices, ledgerDirs, type SecurityServices } from '../src/services.js';
import { parseManifest } from '@everythingos/proto';

const log = pino({ level: 'silent' });

interface Harness {
  client: agentV1.AgentServiceClient;
  server: AgentServer;
  key: Buffer;
  counters: ReturnType<typeof newAuthCounters>;
  bus: EventBus;
  services: SecurityServices;
  metrics: DaemonMetrics;
  stateDir: string;
  /** Result code of every act the server finished, in order. */
  actCodes: string[];
  /** Every protocol violation the server reported to the binding's owner. */
  violations: EosError[];
  auth: (method: string, channel: string, body?: Buffer, opts?: { nonce?: number; ts?: number; key?: Buffer }) => agentV1.CallAuth;
}

interface HarnessOptions {
  gateAct?: AgentServerOptions['gateAct'];
  /** Where the ledgers and keys live; a fresh temp dir by default. */
  stateDir?: string;
  /** The agent's and the bus's rate limit (events/s and burst); 1000 by default. */
  eventsPerSec?: number;
  mayDeliver?: AgentServerOptions['mayDeliver'];
}

async function harness(opts: HarnessOptions = {}): Promise<Harness> {
  const dir = await mkdtemp('/tmp/eosd-srv-');
  await chmod(dir, 0o700);
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const stateDir = opts.stateDir ?? join(dir, 'state');
  const rate = opts.eventsPerSec ?? 1000;
  const bus = new EventBus({
    queueCapacity: 100,
    globalRateLimit: { eventsPerSec: rate, burst: rate },
    deadLetterCapacity: 10,
    maxPayloadBytes: 1024,
    logger: log,
  });
  bus.registerAgent('a1', { publish: new Set(['ok.out', 'gated.out']), subscribe: new Set(['ok.in']) }, { eventsPerSec: rate, burst: rate });
  const counters = newAuthCounters();
  const metrics = new DaemonMetrics({ defaultMetrics: false });
  const services = await createServices({ config: parseConfig({ dev: true, stateDir, metrics: { listen: null } }, 'test', dir), logger: log, metrics });
  const actCodes: string[] = [];
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
    manifest: parseManifest({ id: 'a1', name: 'A1', version: '1.0.0', description: 'test agent for the server', tier: 'low', publish: ['ok.out', 'gated.out'], subscribe: ['ok.in'] }, 'test'),
    spec: { tier: 'low', allowModel: false, credentials: [] },
    services,
    ...(opts.gateAct === undefined ? {} : { gateAct: opts.gateAct }),
    ...(opts.mayDeliver === undefined ? {} : { mayDeliver: opts.mayDeliver }),
    observe: (method, code) => {
      if (method === 'Act') {
        actCodes.push(code);
      }
    },
    log,
    agentLog: log,
  });
  await server.listen();
  onTestFinished(() => server.close());
  const key = randomBytes(32);
  const violations: EosError[] = [];
  server.bind({ verifier: new CallVerifier(key), onReady: () => undefined, onHeartbeat: () => undefined, onViolation: (err) => violations.push(err) });
  const { eos } = loadAgentProto();
  const client = new eos.agent.v1.AgentService(`unix:${join(dir, 'agent.sock')}`, credentials.createInsecure());
  onTestFinished(() => client.close());
  let nonce = 0;
  return {
    client,
    server,
    key,
    counters,
    bus,
    services,
    metrics,
    stateDir,
    actCodes,
    violations,
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
    session.write({ emits: { emits: [genuine, forged] } });
    session.write({ emits: { emits: [genuine] } });
    await expect.poll(() => acks.length).toBe(2);
    expect(acks.map((a) => a.rejected.map((r) => [r.nonce, r.error?.code]))).toEqual([
      [[forged.auth.nonce, 'EOS_UNAUTHENTICATED']],
      [[genuine.auth.nonce, 'EOS_UNAUTHENTICATED']],
    ]);
    expect(h.counters.bad_mac).toBe(1);
    expect(h.counters.replay).toBe(1);
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

/** Whether this host lets us mount a tmpfs; in CI a missing capability is a failure, not a skip. */
function canMountTmpfs(): boolean {
  let missing = process.getuid?.() === 0 ? '' : 'not root';
  if (missing === '') {
    const probe = mkdtempSync('/tmp/eosd-probe-');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
      execFileSync('umount', [probe], { stdio: 'ignore' });
    } catch (err) {
      missing = `mount(2) failed: ${(err as Error).message}`;
    } finally {
      rmSync(probe, { recursive: true, force: true });
    }
  }
  if (missing !== '' && process.env.CI) {
    throw new Error(`the ledger-degraded act test needs root and mount(2) for a small tmpfs; CI must provide them (${missing})`);
  }
  return missing === '';
}
const TMPFS_OK = canMountTmpfs();

interface ActSession {
  session: ReturnType<agentV1.AgentServiceClient['session']>;
  results: agentV1.ActResult__Output[];
}

async function openActSession(h: Harness): Promise<ActSession> {
  await call(h.client, 'hello', { auth: h.auth('Hello', ''), protocolVersion: PROTOCOL_VERSION, pid: 1 });
  const session = h.client.session();
  onTestFinished(() => session.cancel());
  const results: agentV1.ActResult__Output[] = [];
  session.on('data', (f: agentV1.SessionResponse__Output) => f.actResults && results.push(...f.actResults.results));
  session.on('error', () => undefined);
  return { session, results };
}

function actRequest(h: Harness, channel: string, payload: unknown): agentV1.ActRequest & { auth: agentV1.CallAuth } {
  const body = Buffer.from(JSON.stringify({ payload, reason: 'test' }));
  return { auth: h.auth('Act', channel, body), channel, priority: 'PRIORITY_NORMAL', body };
}

/** [nonce, code or 'OK'] of each result, sorted: results of one frame may come in any order. */
function outcomes(results: agentV1.ActResult__Output[]): [number, string][] {
  return results.map((r): [number, string] => [r.nonce, r.error?.code ?? 'OK']).sort((a, b) => a[0] - b[0] || a[1].localeCompare(b[1]));
}

function actRecords(h: Harness): ReturnType<typeof queryLedger> {
  return queryLedger(ledgerDirs(h.stateDir).decisions, { kind: 'agent.act', limit: 100_000 });
}

async function decisionFsyncs(m: DaemonMetrics): Promise<number> {
  const v = (await m.ledgerFsync.get()).values.find((x) => x.metricName === 'eosd_ledger_fsync_seconds_count' && x.labels.stream === 'decisions');
  return v?.value ?? 0;
}

describe('AgentServer acts on the session stream', () => {
  it('answers out of order: an act waiting for approval holds back none of the others, whose records share one fdatasync', async () => {
    let release: ((o: 'approved' | 'denied') => void) | undefined;
    const h = await harness({
      gateAct: (channel) => (channel === 'gated.out' ? new Promise((resolve) => (release = resolve)) : 'approved'),
    });
    const s = await openActSession(h);
    const fsyncsBefore = await decisionFsyncs(h.metrics);
    const gated = actRequest(h, 'gated.out', { wire: 1 });
    const ok = Array.from({ length: 32 }, (_, i) => actRequest(h, 'ok.out', { i }));
    s.session.write({ acts: { acts: [gated, ...ok] } });
    await expect.poll(() => s.results.length).toBe(32);
    expect(outcomes(s.results)).toEqual(ok.map((a) => [a.auth.nonce, 'OK']));
    expect(s.results.every((r) => r.eventId !== '' && r.ledgerSeq > 0)).toBe(true);
    // The 32 ungated records of the frame were made durable by one write + fdatasync.
    expect((await decisionFsyncs(h.metrics)) - fsyncsBefore).toBe(1);
    expect(actRecords(h)).toHaveLength(32);
    expect(release).toBeDefined();

    release?.('approved');
    await expect.poll(() => s.results.length).toBe(33);
    const last = s.results[32];
    expect(last?.nonce).toBe(gated.auth.nonce);
    expect(last?.error).toBeNull();
    expect(last?.ledgerSeq).toBeGreaterThan(Math.max(...s.results.slice(0, 32).map((r) => r.ledgerSeq)));
    expect(actRecords(h).at(-1)?.payload).toMatchObject({ channel: 'gated.out', eventId: last?.eventId });
  });

  it('takes a frame of 1024 acts: one write + fdatasync for all, 1024 records in frame order, each act answered once', async () => {
    const h = await harness({ eventsPerSec: 10_000 });
    const s = await openActSession(h);
    const fsyncsBefore = await decisionFsyncs(h.metrics);
    const frame = Array.from({ length: 1024 }, (_, i) => actRequest(h, 'ok.out', { i, text: 'durch die Wüste 🐪' }));
    s.session.write({ acts: { acts: frame } });
    await expect.poll(() => s.results.length, { timeout: 10_000 }).toBe(1024);
    expect(outcomes(s.results)).toEqual(frame.map((a) => [a.auth.nonce, 'OK']));
    expect((await decisionFsyncs(h.metrics)) - fsyncsBefore).toBe(1);
    const records = actRecords(h);
    expect(records).toHaveLength(1024);
    const byNonce = new Map(s.results.map((r) => [r.nonce, r]));
    // Frame order is ledger order, and each result names its own record.
    expect(records.map((r) => r.seq)).toEqual(frame.map((a) => byNonce.get(Number(a.auth.nonce))?.ledgerSeq));
    expect(records.map((r) => (r.payload as { eventId: string }).eventId)).toEqual(frame.map((a) => byNonce.get(Number(a.auth.nonce))?.eventId));
  });

  it('answers several frames in flight at once (4 x 256 acts written without waiting), with contiguous records', async () => {
    const h = await harness({ eventsPerSec: 10_000 });
    const s = await openActSession(h);
    const frames = Array.from({ length: 4 }, (_, f) => Array.from({ length: 256 }, (_, i) => actRequest(h, 'ok.out', { f, i })));
    for (const frame of frames) {
      s.session.write({ acts: { acts: frame } });
    }
    await expect.poll(() => s.results.length, { timeout: 10_000 }).toBe(1024);
    expect(outcomes(s.results)).toEqual(frames.flat().map((a) => [a.auth.nonce, 'OK']));
    const seqs = actRecords(h).map((r) => r.seq);
    expect(seqs).toHaveLength(1024);
    expect(seqs.every((q, i) => i === 0 || q === (seqs[i - 1] as number) + 1)).toBe(true);
    expect(new Set(s.results.map((r) => r.ledgerSeq)).size).toBe(1024);
    expect(h.bus.counters().published).toBe(1024);
  });

  it('rejects a forged and a replayed act on their own; the genuine acts of the frame and the session go on', async () => {
    const h = await harness();
    const s = await openActSession(h);
    const g1 = actRequest(h, 'ok.out', { n: 1 });
    const forged = { ...actRequest(h, 'ok.out', { n: 2 }), body: Buffer.from(JSON.stringify({ payload: { n: 666 } })) };
    const g2 = actRequest(h, 'ok.out', { n: 3 });
    s.session.write({ acts: { acts: [g1, forged, g2] } });
    await expect.poll(() => s.results.length).toBe(3);
    expect(outcomes(s.results)).toEqual([
      [g1.auth.nonce, 'OK'],
      [forged.auth.nonce, 'EOS_UNAUTHENTICATED'],
      [g2.auth.nonce, 'OK'],
    ]);
    expect(h.counters.bad_mac).toBe(1);
    expect(actRecords(h)).toHaveLength(2);
    // g1 replayed in a later frame is refused on its own.
    const g3 = actRequest(h, 'ok.out', { n: 4 });
    s.session.write({ acts: { acts: [g1, g3] } });
    await expect.poll(() => s.results.length).toBe(5);
    expect(outcomes(s.results.slice(3))).toEqual([
      [g1.auth.nonce, 'EOS_UNAUTHENTICATED'],
      [g3.auth.nonce, 'OK'],
    ]);
    expect(h.counters.replay).toBe(1);
    expect(actRecords(h)).toHaveLength(3);
    expect(h.violations).toEqual([]);
  });

  it('refuses an undeclared channel per act with EOS_PERMISSION_DENIED, audits it, and records only the declared acts', async () => {
    const h = await harness();
    const s = await openActSession(h);
    const a = actRequest(h, 'ok.out', 1);
    const denied = actRequest(h, 'payments.out', 2);
    const b = actRequest(h, 'ok.out', 3);
    s.session.write({ acts: { acts: [a, denied, b] } });
    await expect.poll(() => s.results.length).toBe(3);
    expect(outcomes(s.results)).toEqual([
      [a.auth.nonce, 'OK'],
      [denied.auth.nonce, 'EOS_PERMISSION_DENIED'],
      [b.auth.nonce, 'OK'],
    ]);
    expect(actRecords(h).map((r) => (r.payload as { channel: string }).channel)).toEqual(['ok.out', 'ok.out']);
    await expect
      .poll(() => queryLedger(ledgerDirs(h.stateDir).audit, { kind: 'acl.denied' }).map((r) => r.payload), { timeout: 5_000 })
      .toEqual([{ action: 'act', channel: 'payments.out' }]);
  });

  it('answers EOS_APPROVAL_DENIED for a denied act, and refuses an approved act whose process ended while it waited', async () => {
    const gates: ((o: 'approved' | 'denied') => void)[] = [];
    const h = await harness({ gateAct: () => new Promise((resolve) => gates.push(resolve)) });
    const s = await openActSession(h);
    const first = actRequest(h, 'ok.out', 1);
    s.session.write({ acts: { acts: [first] } });
    await expect.poll(() => gates.length).toBe(1);
    gates[0]?.('denied');
    await expect.poll(() => outcomes(s.results)).toEqual([[first.auth.nonce, 'EOS_APPROVAL_DENIED']]);

    s.session.write({ acts: { acts: [actRequest(h, 'ok.out', 2)] } });
    await expect.poll(() => gates.length).toBe(2);
    // The process is stopped (estop, quarantine, crash) and a new one bound before the approver answers.
    h.server.bind({ verifier: new CallVerifier(randomBytes(32)), onReady: () => undefined, onHeartbeat: () => undefined });
    gates[1]?.('approved');
    await expect.poll(() => h.actCodes).toEqual(['EOS_APPROVAL_DENIED', 'EOS_UNAVAILABLE']);
    expect(actRecords(h)).toHaveLength(0);
    expect(h.bus.counters().published).toBe(0);
  });

  it.skipIf(!TMPFS_OK)('fails closed: every act of a frame is refused with EOS_LEDGER_DEGRADED when the decision ledger cannot write', async () => {
    const root = mkdtempSync('/tmp/eosd-full-');
    const mnt = join(root, 'mnt');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
    onTestFinished(() => {
      execFileSync('umount', ['-l', mnt]);
      rmSync(root, { recursive: true, force: true });
    });
    const h = await harness({ stateDir: join(mnt, 'state') });
    const s = await openActSession(h);
    // Fill the file system: the next ledger write that needs a new page fails with ENOSPC.
    const fd = openSync(join(mnt, 'filler'), 'w');
    try {
      const chunk = Buffer.alloc(64 * 1024, 0x78);
      for (;;) {
        writeSync(fd, chunk);
      }
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      closeSync(fd);
    }
    const frame = Array.from({ length: 64 }, (_, i) => actRequest(h, 'ok.out', { i }));
    s.session.write({ acts: { acts: frame } });
    await expect.poll(() => s.results.length).toBe(64);
    expect(outcomes(s.results)).toEqual(frame.map((a) => [a.auth.nonce, 'EOS_LEDGER_DEGRADED']));
    expect(h.services.decisionLedger.degraded).toBe(true);
    // Later frames are refused before anything is appended.
    const again = [actRequest(h, 'ok.out', 'a'), actRequest(h, 'ok.out', 'b')];
    s.session.write({ acts: { acts: again } });
    await expect.poll(() => s.results.length).toBe(66);
    expect(outcomes(s.results.slice(64))).toEqual(again.map((a) => [a.auth.nonce, 'EOS_LEDGER_DEGRADED']));
    expect(h.bus.counters().published).toBe(0);
  });
});

function emitRequest(h: Harness, channel: string, payload: unknown): agentV1.Emit & { auth: agentV1.CallAuth } {
  const body = Buffer.from(JSON.stringify(payload));
  return { auth: h.auth('Emit', channel, body), channel, priority: 'PRIORITY_NORMAL', body };
}

/** Resolves with the EosError the session ended with. */
function sessionEnd(session: ReturnType<agentV1.AgentServiceClient['session']>): Promise<EosError> {
  return new Promise((resolve) => {
    session.on('error', (err: ServiceError) => resolve(fromServiceError(err)));
    session.on('end', () => resolve(new EosError('EOS_INTERNAL', 'the session ended without an error status')));
  });
}

describe('AgentServer against a hostile session (STRIDE D-7)', () => {
  for (const kind of ['acts', 'emits'] as const) {
    it(`ends the session with EOS_PROTOCOL_VIOLATION on a frame of 1,025 ${kind}: no entry is checked, recorded or delivered, the violation is audited once and its owner told`, async () => {
      const h = await harness({ eventsPerSec: 10_000 });
      await call(h.client, 'hello', { auth: h.auth('Hello', ''), protocolVersion: PROTOCOL_VERSION, pid: 1 });
      const session = h.client.session();
      onTestFinished(() => session.cancel());
      const replies: agentV1.SessionResponse__Output[] = [];
      session.on('data', (f: agentV1.SessionResponse__Output) => replies.push(f));
      const ended = sessionEnd(session);
      const n = MAX_SESSION_FRAME_ENTRIES + 1;
      if (kind === 'acts') {
        session.write({ acts: { acts: Array.from({ length: n }, (_, i) => actRequest(h, 'ok.out', { i })) } });
      } else {
        session.write({ emits: { emits: Array.from({ length: n }, (_, i) => emitRequest(h, 'ok.out', { i })) } });
      }
      await expect(ended).resolves.toMatchObject({ code: 'EOS_PROTOCOL_VIOLATION' });
      expect(h.violations.map((v) => [v.code, v.details])).toEqual([['EOS_PROTOCOL_VIOLATION', { reason: 'too_many_entries', frame: kind, entries: n }]]);
      expect(replies).toEqual([]);
      expect(h.bus.counters().published).toBe(0);
      expect(h.bus.counters().rateLimited).toBe(0);
      expect(actRecords(h)).toHaveLength(0);
      await expect
        .poll(() => queryLedger(ledgerDirs(h.stateDir).audit, { kind: 'session.protocol_violation' }).map((r) => [r.agent, r.payload]), { timeout: 5_000 })
        .toEqual([['a1', { reason: 'too_many_entries', frame: kind, entries: n }]]);
      // The server itself goes on serving the agent's socket.
      await expect(call(h.client, 'getState', { auth: h.auth('GetState', 'k'), key: 'k' })).resolves.toMatchObject({ found: false });
    });
  }

  it('treats one nonce twice in an ActBatch as a protocol violation: the genuine act is not answered with the replay error, and neither is recorded', async () => {
    const h = await harness();
    const s = await openActSession(h);
    const ended = sessionEnd(s.session);
    const g1 = actRequest(h, 'ok.out', { n: 1 });
    const g2 = actRequest(h, 'ok.out', { n: 2 });
    s.session.write({ acts: { acts: [g1, g2, g1] } });
    await expect(ended).resolves.toMatchObject({ code: 'EOS_PROTOCOL_VIOLATION' });
    expect(h.violations.map((v) => v.details)).toEqual([{ reason: 'duplicate_nonce', frame: 'acts', entries: 3 }]);
    expect(s.results).toEqual([]);
    expect(h.counters.replay).toBe(0);
    expect(actRecords(h)).toHaveLength(0);
    expect(h.bus.counters().published).toBe(0);
  });

  it('stops reading a session whose replies are not drained, and reads on once the agent reads them', async () => {
    const h = await harness();
    await call(h.client, 'hello', { auth: h.auth('Hello', ''), protocolVersion: PROTOCOL_VERSION, pid: 1 });
    const session = h.client.session();
    onTestFinished(() => session.cancel());
    let acks = 0;
    session.on('data', (f: agentV1.SessionResponse__Output) => f.acks && acks++);
    session.on('error', () => undefined);
    // The hostile agent never reads: every frame it sends makes a reply of about 60 kB.
    session.pause();
    const FRAMES = 120;
    for (let f = 0; f < FRAMES; f++) {
      const emits = Array.from({ length: MAX_SESSION_FRAME_ENTRIES }, (_, i) => ({ ...emitRequest(h, 'ok.out', { f, i }), body: Buffer.from('"forged"') }));
      session.write({ emits: { emits } });
    }
    const entriesRead = (): number => h.counters.bad_mac + h.bus.counters().rateLimited;
    // Give the server time to read everything it would read.
    let last = -1;
    await expect.poll(() => {
      const now = entriesRead();
      const settled = now === last && now > 0;
      last = now;
      return settled;
    }, { timeout: 10_000, interval: 300 }).toBe(true);
    const framesRead = entriesRead() / MAX_SESSION_FRAME_ENTRIES;
    expect(framesRead).toBeLessThan(FRAMES / 2);
    expect(acks).toBe(0);
    session.resume();
    await expect.poll(() => acks, { timeout: 20_000 }).toBe(FRAMES);
    expect(entriesRead()).toBe(FRAMES * MAX_SESSION_FRAME_ENTRIES);
    expect(h.bus.counters().published).toBe(0);
  });

  it('refuses acts past the rate limit before computing their MAC; a refused act is never recorded or delivered', async () => {
    const h = await harness({ eventsPerSec: 1 });
    const s = await openActSession(h);
    const forged = Array.from({ length: 64 }, (_, i) => ({ ...actRequest(h, 'ok.out', { i }), body: Buffer.from('{"payload":"forged"}') }));
    s.session.write({ acts: { acts: forged } });
    await expect.poll(() => s.results.length).toBe(64);
    const codes = s.results.map((r) => r.error?.code);
    // One token: the first act is verified (bad MAC); the other 63 are refused without a MAC computed.
    expect(codes.filter((c) => c === 'EOS_UNAUTHENTICATED')).toHaveLength(1);
    expect(codes.filter((c) => c === 'EOS_RATE_LIMITED')).toHaveLength(63);
    expect(h.counters.bad_mac).toBe(1);
    const genuine = actRequest(h, 'ok.out', { n: 'genuine' });
    s.session.write({ acts: { acts: [genuine] } });
    await expect.poll(() => s.results.length).toBe(65);
    expect(s.results[64]).toMatchObject({ nonce: genuine.auth.nonce, error: { code: 'EOS_RATE_LIMITED' } });
    expect(actRecords(h)).toHaveLength(0);
    expect(h.bus.counters().published).toBe(0);
  });

  it('withholds an act whose record became durable after the emergency stop engaged, and answers it with EOS_ESTOP_ACTIVE', async () => {
    let engaged = false;
    let engageDuringNextRecord = false;
    const h = await harness({
      mayDeliver: () => {
        if (engaged) {
          throw new EosError('EOS_ESTOP_ACTIVE', 'emergency stop is engaged');
        }
        // Passed the check before recording; the stop engages while the record is being made durable.
        engaged = engageDuringNextRecord;
      },
    });
    h.bus.registerAgent('b1', { publish: new Set(), subscribe: new Set(['ok.out']) }, { eventsPerSec: 10, burst: 10 });
    const delivered: string[] = [];
    h.bus.attach('b1', {
      write: (events) => {
        delivered.push(...events.map((e) => e.id));
        return true;
      },
    });
    h.bus.subscribe('b1', 'ok.out');
    const s = await openActSession(h);
    const before = actRequest(h, 'ok.out', { n: 0 });
    s.session.write({ acts: { acts: [before] } });
    await expect.poll(() => delivered.length).toBe(1);

    engageDuringNextRecord = true;
    const raced = actRequest(h, 'ok.out', { n: 1 });
    s.session.write({ acts: { acts: [raced] } });
    await expect.poll(() => s.results.length).toBe(2);
    expect(s.results[1]).toMatchObject({ nonce: raced.auth.nonce, error: { code: 'EOS_ESTOP_ACTIVE' } });
    const records = actRecords(h);
    expect(records).toHaveLength(2);
    const racedEventId = (records[1]!.payload as { eventId: string }).eventId;
    await expect
      .poll(() => queryLedger(ledgerDirs(h.stateDir).audit, { kind: 'agent.act_withheld' }).map((r) => r.payload), { timeout: 5_000 })
      .toEqual([{ channel: 'ok.out', eventId: racedEventId, ledgerSeq: records[1]!.seq, code: 'EOS_ESTOP_ACTIVE' }]);

    // Acts made while the stop is engaged are refused before they are recorded.
    const after = actRequest(h, 'ok.out', { n: 2 });
    s.session.write({ acts: { acts: [after] } });
    await expect.poll(() => s.results.length).toBe(3);
    expect(s.results[2]).toMatchObject({ nonce: after.auth.nonce, error: { code: 'EOS_ESTOP_ACTIVE' } });
    expect(actRecords(h)).toHaveLength(2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(delivered).toHaveLength(1);
    expect(delivered).not.toContain(racedEventId);
    expect(h.bus.counters().published).toBe(1);
  });
});
