import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmod, chown, mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import {
  EosError,
  fromServiceError,
  isErrorCode,
  loadControlProto,
  parseManifest,
  type AgentManifest,
  type controlV1,
} from '@everythingos/proto';
import type { AgentEvent, Priority } from '../runtime.js';
import { peerAgentSource } from './peer-agent-source.js';

/** Agent id of the harness's relay agent; reserved in harness runs. */
export const HARNESS_PEER_ID = 'eos-test-peer';

/** Deadline of control calls, ms; a stop may escalate to SIGKILL. */
const CONTROL_DEADLINE_MS = 60_000;
/** Daemon log lines kept in memory; a chatty agent must not grow a test's heap without bound. */
const MAX_LOG_LINES = 50_000;

/** Options of {@link startAgentHarness}. @experimental */
export interface AgentHarnessOptions {
  /** The agent package under test: a directory with package.json (`everythingos` manifest) and its built entry. */
  packageDir: string;
  /**
   * The `eosd` bin to run. @defaultValue the `eosd` bin of `@everythingos/supervisor` as resolved from
   * `packageDir` (add it to the agent package's devDependencies).
   */
  eosdBin?: string;
  /** Channels the test may emit on (the peer's `publish` list). @defaultValue the agent's `subscribe` list */
  inject?: readonly string[];
  /** Channels the test observes (the peer's `subscribe` list). @defaultValue the agent's `publish` list */
  observe?: readonly string[];
  /** The agent's publish rate limit, as `agents[].rateLimit` in the daemon config. @defaultValue eosd's default */
  rateLimit?: { eventsPerSec: number; burst: number };
  /** How long starting the daemon, the peer and the agent may take, ms. @defaultValue 30000 */
  startTimeoutMs?: number;
  /** The daemon's log level. @defaultValue 'debug' */
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  /**
   * Parent of the harness's temp directory; keep it short (Unix socket paths are at most 107 bytes).
   * As root it must be traversable by other uids. @defaultValue '/tmp'
   */
  tmpRoot?: string;
}

/** One NDJSON line of the daemon's output, parsed. */
export type HarnessLogLine = Record<string, unknown> & { msg?: string; agentId?: string };

/** Options of the waiting calls. */
export interface WaitOptions {
  /** @defaultValue 10000 */
  timeoutMs?: number;
}

/** What `status()` reports about the agent under test (from eosd's control socket). */
export interface HarnessAgentStatus {
  state: string;
  pid: number;
  restarts: number;
  lastExit: string;
}

/**
 * A running eosd (dev mode, temp state dir) with the agent under test and a relay peer. Every
 * call the agent makes goes through the real supervisor: authentication, ACL, rate limits and
 * state persistence are the production code paths. @experimental
 */
export interface AgentHarness {
  /** The agent's id from its manifest. */
  readonly agentId: string;
  /** The agent's validated manifest. */
  readonly manifest: AgentManifest;
  /** The daemon's temp state directory. */
  readonly stateDir: string;
  /**
   * Publishes an event as the peer agent (`source` is `eos-test-peer`); resolves once eosd accepted it.
   * @throws EosError `EOS_PERMISSION_DENIED` when the channel is not in `inject`, `EOS_RATE_LIMITED`.
   */
  emit(channel: string, payload: unknown, options?: { priority?: Priority }): Promise<void>;
  /** Every event observed so far, optionally of one channel, in arrival order. */
  events<T = unknown>(channel?: string): AgentEvent<T>[];
  /**
   * The next event on `channel` not yet returned by `nextEvent` (events are queued from the start).
   * @throws EosError `EOS_DEADLINE_EXCEEDED` after `timeoutMs`, naming the channel.
   */
  nextEvent<T = unknown>(channel: string, options?: WaitOptions): Promise<AgentEvent<T>>;
  /** The first observed event on `channel` matching `predicate`, past or future. @throws EosError `EOS_DEADLINE_EXCEEDED`. */
  waitForEvent<T = unknown>(channel: string, predicate: (e: AgentEvent<T>) => boolean, options?: WaitOptions): Promise<AgentEvent<T>>;
  /** A value the agent stored with `setState`, read from the file eosd persisted; undefined when absent. */
  getState<T = unknown>(key: string): Promise<T | undefined>;
  /** The daemon's log lines about the agent under test (its own `log` calls have `msg` and `agent` fields). */
  logs(): HarnessLogLine[];
  /** The first log line about the agent matching `predicate`, past or future. @throws EosError `EOS_DEADLINE_EXCEEDED`. */
  waitForLog(predicate: (l: HarnessLogLine) => boolean, options?: WaitOptions): Promise<HarnessLogLine>;
  /** The agent's lifecycle state as eosd reports it. */
  status(): Promise<HarnessAgentStatus>;
  /** Restarts the agent through the control socket (state survives); resolves when it runs again. */
  restart(): Promise<void>;
  /** Stops the daemon (agents first) and deletes the temp directory. Idempotent. */
  close(): Promise<void>;
}

interface PeerResult {
  type: 'result';
  id: number;
  error?: { code?: string; message?: string };
}
type PeerMessage = { type: 'ready' } | { type: 'event'; event: AgentEvent } | PeerResult;

type Method<Req, Res> = (req: Req, opts: { deadline: number }, cb: (err: ServiceError | null, res?: Res) => void) => unknown;

function deadlineError(what: string, timeoutMs: number, tail: string): EosError {
  return new EosError('EOS_DEADLINE_EXCEEDED', `timed out after ${timeoutMs} ms waiting for ${what}\n--- eosd output (tail) ---\n${tail}`);
}

/**
 * Finds the `eosd` bin of `@everythingos/supervisor` in the `node_modules` folders of `packageDir`
 * and its ancestors, as Node resolves packages but without `NODE_PATH` or global folders (package
 * manager shims set `NODE_PATH`, which would find an eosd the agent package does not declare).
 */
async function resolveEosdBin(packageDir: string): Promise<string> {
  let dir = packageDir;
  for (;;) {
    const pkgJson = join(dir, 'node_modules', '@everythingos', 'supervisor', 'package.json');
    let text: string | undefined;
    try {
      text = await readFile(pkgJson, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw err;
      }
    }
    if (text !== undefined) {
      const bin = (JSON.parse(text) as { bin?: Record<string, string> }).bin?.eosd;
      if (bin === undefined) {
        throw new EosError('EOS_NOT_FOUND', `${pkgJson} has no "eosd" bin`);
      }
      return resolve(dirname(pkgJson), bin);
    }
    const parent = dirname(dir);
    if (parent === dir) {
      throw new EosError(
        'EOS_NOT_FOUND',
        `cannot find @everythingos/supervisor from ${packageDir}; add it to the agent package's devDependencies or pass eosdBin`,
      );
    }
    dir = parent;
  }
}

async function readManifest(packageDir: string): Promise<AgentManifest> {
  const file = join(packageDir, 'package.json');
  let pkg: { everythingos?: unknown };
  try {
    pkg = JSON.parse(await readFile(file, 'utf8')) as { everythingos?: unknown };
  } catch (err) {
    throw new EosError('EOS_MANIFEST_INVALID', `cannot read ${file}`, { cause: err });
  }
  return parseManifest(pkg.everythingos, file);
}

/**
 * Starts a real eosd in dev mode with a temp state directory, a relay peer agent and the agent
 * package under test, and resolves once the agent is `running` (its `onStart` has completed).
 * Always `close()` it, e.g. in `afterEach` or `onTestFinished`.
 *
 * ```ts
 * const h = await startAgentHarness({ packageDir: fileURLToPath(new URL('..', import.meta.url)) });
 * onTestFinished(() => h.close());
 * await h.emit('demo.ping', { n: 1 });
 * expect((await h.nextEvent('demo.pong')).payload).toEqual({ n: 1 });
 * ```
 * @throws EosError `EOS_MANIFEST_INVALID`, `EOS_NOT_FOUND` (no eosd), `EOS_DEADLINE_EXCEEDED` or
 *   `EOS_AGENT_START_FAILED`-class codes from eosd when the agent does not start.
 * @experimental
 */
export async function startAgentHarness(options: AgentHarnessOptions): Promise<AgentHarness> {
  const packageDir = await realpath(resolve(options.packageDir));
  const manifest = await readManifest(packageDir);
  if (manifest.id === HARNESS_PEER_ID) {
    throw new EosError('EOS_INVALID_ARGUMENT', `agent id ${HARNESS_PEER_ID} is reserved for the harness's peer`);
  }
  const eosdBin = options.eosdBin ?? (await resolveEosdBin(packageDir));
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const inject = [...(options.inject ?? manifest.subscribe)];
  const observe = [...(options.observe ?? manifest.publish)];

  const dir = await mkdtemp(join(options.tmpRoot ?? '/tmp', 'eosh-'));
  // Agents run under other uids when the harness runs as root; they must traverse this directory.
  await chmod(dir, 0o711);
  const isRoot = process.getuid?.() === 0;
  const stateDir = join(dir, 's');
  const runDir = join(dir, 'r');
  const peerDir = join(dir, 'peer');
  const socketPath = join(dir, 'h.sock');
  const sdkRoot = fileURLToPath(new URL('../..', import.meta.url));

  await mkdir(join(peerDir, 'node_modules', '@everythingos'), { recursive: true });
  await symlink(sdkRoot, join(peerDir, 'node_modules', '@everythingos', 'sdk'), 'dir');
  await writeFile(join(peerDir, 'index.mjs'), peerAgentSource(socketPath, observe));
  await writeFile(
    join(peerDir, 'package.json'),
    JSON.stringify({
      name: 'eos-test-peer',
      version: '0.0.0',
      type: 'module',
      main: 'index.mjs',
      everythingos: {
        id: HARNESS_PEER_ID,
        name: 'Test harness peer',
        version: '0.0.0',
        description: 'Relays events between a test and the bus.',
        tier: 'low',
        publish: inject,
        subscribe: observe,
      },
    }),
  );
  await writeFile(
    join(dir, 'eosd.json'),
    JSON.stringify({
      dev: true,
      stateDir,
      runDir,
      logLevel: options.logLevel ?? 'debug',
      // The test talks to its peer agent over a socket in this temp dir: no namespaces here (the
      // agent keeps its own uid, no_new_privs and cgroups), and no fixed metrics port.
      sandbox: { namespaces: false, homeQuota: false },
      metrics: { listen: null },
      agents: [
        { id: HARNESS_PEER_ID, package: peerDir, tier: 'low', autostart: false, restart: 'temporary', rateLimit: { eventsPerSec: 1e6, burst: 1e6 } },
        {
          id: manifest.id,
          package: packageDir,
          tier: manifest.tier,
          autostart: false,
          ...(options.rateLimit === undefined ? {} : { rateLimit: options.rateLimit }),
        },
      ],
    }),
  );

  const logLines: HarnessLogLine[] = [];
  let rawTail = '';
  const logWaiters = new Set<() => void>();
  const eventLog: AgentEvent[] = [];
  const queues = new Map<string, AgentEvent[]>();
  const eventWaiters = new Set<() => void>();
  const pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  let nextId = 1;
  let peerSocket: Socket | undefined;
  let peerReady: (() => void) | undefined;
  const peerReadyPromise = new Promise<void>((r) => (peerReady = r));

  const server: Server = createServer((sock) => {
    if (peerSocket !== undefined) {
      sock.destroy();
      return;
    }
    peerSocket = sock;
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const msg = JSON.parse(buf.slice(0, nl)) as PeerMessage;
        buf = buf.slice(nl + 1);
        switch (msg.type) {
          case 'ready':
            peerReady?.();
            break;
          case 'event': {
            eventLog.push(msg.event);
            const q = queues.get(msg.event.channel) ?? [];
            q.push(msg.event);
            queues.set(msg.event.channel, q);
            for (const w of eventWaiters) {
              w();
            }
            break;
          }
          case 'result': {
            const p = pending.get(msg.id);
            pending.delete(msg.id);
            if (msg.error === undefined) {
              p?.resolve();
            } else {
              const code = msg.error.code;
              p?.reject(new EosError(isErrorCode(code) ? code : 'EOS_INTERNAL', msg.error.message ?? 'emit failed'));
            }
            break;
          }
        }
      }
    });
    sock.on('close', () => {
      peerSocket = undefined;
      for (const p of pending.values()) {
        p.reject(new EosError('EOS_UNAVAILABLE', 'the harness peer disconnected'));
      }
      pending.clear();
    });
    sock.on('error', () => {
      // 'close' follows and fails pending emits; nothing else to do here.
    });
  });
  server.listen(socketPath);
  await once(server, 'listening');
  await chmod(socketPath, 0o600);

  const child: ChildProcess = spawn(process.execPath, [eosdBin, 'start', '--config', join(dir, 'eosd.json')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, LANG: process.env.LANG ?? 'C.UTF-8' },
  });
  let stdoutBuf = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    rawTail = (rawTail + chunk).slice(-20_000);
    stdoutBuf += chunk;
    let nl: number;
    while ((nl = stdoutBuf.indexOf('\n')) !== -1) {
      const line = stdoutBuf.slice(0, nl);
      stdoutBuf = stdoutBuf.slice(nl + 1);
      let rec: HarnessLogLine;
      try {
        rec = JSON.parse(line) as HarnessLogLine;
      } catch {
        rec = { raw: line };
      }
      logLines.push(rec);
      if (logLines.length > MAX_LOG_LINES) {
        logLines.splice(0, logLines.length - MAX_LOG_LINES);
      }
      for (const w of logWaiters) {
        w();
      }
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    rawTail = (rawTail + chunk).slice(-20_000);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));

  const waitUntil = <T>(
    what: string,
    find: () => T | undefined,
    waiters: Set<() => void>,
    timeoutMs: number,
  ): Promise<T> => {
    const err = deadlineError(what, timeoutMs, '');
    Error.captureStackTrace(err, waitUntil);
    return new Promise<T>((resolvePromise, reject) => {
      const check = (): boolean => {
        const hit = find();
        if (hit !== undefined) {
          waiters.delete(check);
          clearTimeout(timer);
          resolvePromise(hit);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        err.message += rawTail;
        reject(err);
      }, timeoutMs);
      if (!check()) {
        waiters.add(check);
      }
    });
  };

  const { eos } = loadControlProto();
  const control = new eos.control.v1.ControlService(`unix:${join(runDir, 'control.sock')}`, credentials.createInsecure());
  const call = <Req, Res>(method: Method<Req, Res>, req: Req): Promise<Res> =>
    new Promise<Res>((resolvePromise, reject) => {
      method.call(control, req, { deadline: Date.now() + CONTROL_DEADLINE_MS }, (err, res) => {
        if (err !== null || res === undefined) {
          reject(fromServiceError(err));
        } else {
          resolvePromise(res);
        }
      });
    });
  const startAgent = (id: string): Promise<controlV1.StartAgentResponse__Output> =>
    call(control.startAgent as Method<controlV1.StartAgentRequest, controlV1.StartAgentResponse__Output>, { id });

  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) {
      return;
    }
    closed = true;
    control.close();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    peerSocket?.destroy();
    server.close();
    await rm(dir, { recursive: true, force: true });
  };

  const withTail = (err: unknown): Error => {
    const e = err as Error;
    e.message += `\n--- eosd output (tail) ---\n${rawTail}`;
    return e;
  };

  try {
    const exitedEarly = exited.then(() => {
      throw new EosError('EOS_UNAVAILABLE', `eosd exited during harness start (code ${child.exitCode}, signal ${child.signalCode})`);
    });
    // Rejects whenever the daemon exits, also after a successful start; only the race above uses it.
    exitedEarly.catch(() => undefined);
    const boot = async (): Promise<void> => {
      await waitUntil('supervisor ready', () => logLines.find((l) => l.msg === 'supervisor ready'), logWaiters, startTimeoutMs);
      if (isRoot) {
        const uids = JSON.parse(await readFile(join(stateDir, 'uids.json'), 'utf8')) as Record<string, number>;
        const peerUid = uids[HARNESS_PEER_ID];
        if (peerUid !== undefined) {
          await chown(socketPath, peerUid, 0);
        }
      }
      await startAgent(HARNESS_PEER_ID);
      await peerReadyPromise;
      await startAgent(manifest.id);
    };
    await Promise.race([boot(), exitedEarly]);
  } catch (err) {
    const wrapped = withTail(err);
    await close();
    throw wrapped;
  }

  const agentLines = (): HarnessLogLine[] => logLines.filter((l) => l.agentId === manifest.id);

  return {
    agentId: manifest.id,
    manifest,
    stateDir,
    emit(channel, payload, opts = {}) {
      const sock = peerSocket;
      if (sock === undefined) {
        return Promise.reject(new EosError('EOS_UNAVAILABLE', 'the harness peer is not connected'));
      }
      const id = nextId++;
      return new Promise<void>((resolvePromise, reject) => {
        pending.set(id, { resolve: resolvePromise, reject });
        sock.write(`${JSON.stringify({ type: 'emit', id, channel, payload, priority: opts.priority ?? 'normal' })}\n`);
      });
    },
    events<T>(channel?: string) {
      return (channel === undefined ? eventLog : eventLog.filter((e) => e.channel === channel)) as AgentEvent<T>[];
    },
    nextEvent<T>(channel: string, opts: WaitOptions = {}) {
      return waitUntil(`an event on ${channel}`, () => queues.get(channel)?.shift(), eventWaiters, opts.timeoutMs ?? 10_000) as Promise<
        AgentEvent<T>
      >;
    },
    waitForEvent<T>(channel: string, predicate: (e: AgentEvent<T>) => boolean, opts: WaitOptions = {}) {
      return waitUntil(
        `a matching event on ${channel}`,
        () => (eventLog as AgentEvent<T>[]).find((e) => e.channel === channel && predicate(e)),
        eventWaiters,
        opts.timeoutMs ?? 10_000,
      );
    },
    async getState<T>(key: string) {
      let text: string;
      try {
        text = await readFile(join(stateDir, 'agents', manifest.id, 'state.json'), 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          return undefined;
        }
        throw err;
      }
      return (JSON.parse(text) as Record<string, T>)[key];
    },
    logs: agentLines,
    waitForLog(predicate, opts = {}) {
      return waitUntil('a matching agent log line', () => agentLines().find(predicate), logWaiters, opts.timeoutMs ?? 10_000);
    },
    async status() {
      const res = await call(control.getAgent as Method<controlV1.GetAgentRequest, controlV1.GetAgentResponse__Output>, {
        id: manifest.id,
      });
      const a = res.agent;
      return { state: a?.state ?? 'unknown', pid: a?.pid ?? 0, restarts: a?.restarts ?? 0, lastExit: a?.lastExit ?? '' };
    },
    async restart() {
      await call(control.restartAgent as Method<controlV1.RestartAgentRequest, controlV1.RestartAgentResponse__Output>, {
        id: manifest.id,
      });
    },
    close,
  };
}
