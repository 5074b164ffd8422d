import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { chmod, chown, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { z } from 'zod';
import type { Logger } from 'pino';
import { EosError, encodeSupervisorFrame, FrameDecoder, HELPER_PROTOCOL_VERSION, type helperV1 } from '@everythingos/proto';
import { decideRestart, type RestartHistory, type RestartPolicyConfig } from '../agent/restart-policy.js';
import type { HelperEventValidator, SocPublication, ValidatorCounters } from './helper-event-validator.js';
import { PINO_LEVEL_METHODS } from '../logs/pino-levels.js';

/** The minimal capability set of kernel mode, measured: bpftrace 0.17 needs CAP_SYS_ADMIN to resolve BTF struct types. */
export const KERNEL_MODE_CAPS = ['bpf', 'perfmon', 'sys_admin'] as const;

export const HelperOptionsSchema = z.strictObject({
  mode: z.enum(['tail', 'kernel']),
  /** Socket the supervisor listens on for this helper (e.g. /run/eosd/helpers/ebpf.sock). */
  socketPath: z.string().min(1).max(107),
  /** Built helper bin (`@everythingos/ebpf-helper` HELPER_BIN). */
  helperEntry: z.string().min(1),
  nodePath: z.string().min(1),
  setprivPath: z.string().default('/usr/bin/setpriv'),
  /** Tail mode: uid/gid the helper runs as when the supervisor is root (required then). */
  uid: z.number().int().min(1).optional(),
  gid: z.number().int().min(1).optional(),
  tail: z
    .strictObject({
      dir: z.string().min(1),
      actionFiles: z.enum(['audit', 'split']).default('audit'),
      feedFile: z.string().default('ioc_feed.jsonl'),
      fromStart: z.boolean().default(false),
      pollMs: z.number().int().min(10).default(1000),
    })
    .optional(),
  kernel: z
    .strictObject({
      uidMin: z.number().int().min(1),
      uidMax: z.number().int().min(2),
      armDelayMs: z.number().int().min(0).default(1000),
    })
    .optional(),
  healthIntervalMs: z.number().int().min(100).default(5000), // 5 s
  helloTimeoutMs: z.number().int().min(100).default(10_000), // node start + argv check
  stopGraceMs: z.number().int().min(0).default(8000), // helper stops bpftrace with SIGINT and waits up to 5 s
  restart: z
    .strictObject({
      initialMs: z.number().int().min(0).default(500),
      factor: z.number().min(1).default(2),
      maxMs: z.number().int().min(0).default(30_000),
      resetAfterMs: z.number().int().min(0).default(60_000),
      maxRestarts: z.number().int().min(1).default(10),
      windowSec: z.number().int().min(1).default(300),
    })
    .prefault({}),
});
export type HelperOptionsInput = z.input<typeof HelperOptionsSchema>;
export type HelperOptions = z.output<typeof HelperOptionsSchema>;

/** What {@link startHelper} needs besides options. */
export interface HelperDeps {
  logger: Logger;
  validator: HelperEventValidator;
  /** Called with every validated publication; the supervisor puts them on its bus. */
  onPublish: (p: SocPublication) => void;
  /** Whether the supervisor runs as root (decides setpriv use). */
  isRoot: boolean;
  random?: () => number;
}

/** Handle of a running helper. */
export interface HelperHandle {
  /** Current helper pid, if running. */
  readonly pid: number | undefined;
  /** Resolves when the helper has connected and said Hello (the first time, or after a restart). */
  whenConnected(): Promise<void>;
  counters(): ValidatorCounters & { restarts: number; state: HelperState };
  /** Sends Shutdown, waits stopGraceMs, SIGKILL; always awaits exit; removes the socket. */
  stop(): Promise<void>;
}

type HelperState = 'starting' | 'running' | 'backoff' | 'crash-loop' | 'stopped';

/**
 * Builds the helper's argv (pure). Tail mode as root: setpriv to the helper's own uid with no
 * groups and no capabilities. Kernel mode: euid 0 (bpftrace refuses anything else) with the
 * bounding set cut to {@link KERNEL_MODE_CAPS}, which for root makes them the effective set.
 * @throws EosError `EOS_PERMISSION_DENIED` for kernel mode without root; `EOS_CONFIG_INVALID`
 * for a mode without its section or tail mode as root without a uid.
 */
export function buildHelperCommand(o: HelperOptions, isRoot: boolean): { file: string; args: string[] } {
  const helper = [o.nodePath, o.helperEntry, '--mode', o.mode, '--socket', o.socketPath, '--health-interval-ms', String(o.healthIntervalMs)];
  if (o.mode === 'tail') {
    if (o.tail === undefined) {
      throw new EosError('EOS_CONFIG_INVALID', 'helper mode "tail" needs a tail section with dir');
    }
    helper.push('--dir', o.tail.dir, '--action-files', o.tail.actionFiles, '--feed-file', o.tail.feedFile, '--poll-ms', String(o.tail.pollMs));
    if (o.tail.fromStart) {
      helper.push('--from-start');
    }
    if (!isRoot) {
      return { file: o.setprivPath, args: ['--no-new-privs', '--', ...helper] };
    }
    if (o.uid === undefined) {
      throw new EosError('EOS_CONFIG_INVALID', 'as root, tail mode needs the helper uid (an unprivileged uid that can read the Glasswally dir)');
    }
    const gid = o.gid ?? o.uid;
    return {
      file: o.setprivPath,
      args: [`--reuid=${o.uid}`, `--regid=${gid}`, '--clear-groups', '--no-new-privs', '--inh-caps=-all', '--bounding-set=-all', '--', ...helper],
    };
  }
  if (o.kernel === undefined) {
    throw new EosError('EOS_CONFIG_INVALID', 'helper mode "kernel" needs a kernel section with uidMin and uidMax');
  }
  if (!isRoot) {
    throw new EosError('EOS_PERMISSION_DENIED', 'kernel mode needs root: bpftrace runs only at euid 0');
  }
  helper.push('--uid-min', String(o.kernel.uidMin), '--uid-max', String(o.kernel.uidMax), '--arm-delay-ms', String(o.kernel.armDelayMs));
  return {
    file: o.setprivPath,
    args: ['--no-new-privs', '--inh-caps=-all', `--bounding-set=-all,${KERNEL_MODE_CAPS.map((c) => `+${c}`).join(',')}`, '--', ...helper],
  };
}

/**
 * Starts the ebpf-helper as a supervised child: listens on its own socket (0600, owned by the
 * helper's uid), spawns it with only the privileges its mode needs, checks Hello, passes every
 * later frame through the validator, and restarts it with capped exponential backoff; past
 * `maxRestarts` in `windowSec` it gives up (crash-loop) and raises a CRITICAL alert.
 * @throws EosError `EOS_CONFIG_INVALID` for bad options, `EOS_PERMISSION_DENIED` for kernel mode without root.
 */
export async function startHelper(input: HelperOptionsInput, deps: HelperDeps): Promise<HelperHandle> {
  const parsed = HelperOptionsSchema.safeParse(input);
  if (!parsed.success) {
    throw new EosError('EOS_CONFIG_INVALID', `invalid helper options:\n${z.prettifyError(parsed.error)}`, { cause: parsed.error });
  }
  const o = parsed.data;
  const cmd = buildHelperCommand(o, deps.isRoot);
  const log = deps.logger.child({ helper: o.mode });
  const random = deps.random ?? Math.random;
  const policy: RestartPolicyConfig = {
    restart: 'permanent',
    intensity: { maxRestarts: o.restart.maxRestarts, windowSec: o.restart.windowSec },
    backoff: { initialMs: o.restart.initialMs, factor: o.restart.factor, maxMs: o.restart.maxMs, jitter: 0.1, resetAfterMs: o.restart.resetAfterMs },
  };

  await rm(o.socketPath, { force: true });
  let current: { child: ChildProcess; socket: Socket | undefined; startedAt: number } | undefined;
  let state: HelperState = 'starting';
  let restarts = 0;
  let history: RestartHistory = { restartTimesMs: [], consecutiveFailures: 0 };
  let restartTimer: NodeJS.Timeout | undefined;
  let connectedWaiters: (() => void)[] = [];
  const publish = (ps: SocPublication[]): void => ps.forEach((p) => deps.onPublish(p));

  const server: Server = createServer((socket) => {
    if (current === undefined || current.socket !== undefined) {
      log.warn('second connection on the helper socket refused');
      socket.destroy();
      return;
    }
    const owner = current;
    owner.socket = socket;
    const decoder = FrameDecoder.forHelperFrames();
    let hello = false;
    const helloTimer = setTimeout(() => {
      log.error('helper did not say hello in time; killing it');
      owner.child.kill('SIGKILL');
    }, o.helloTimeoutMs);
    let queue = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      let frames: helperV1.HelperFrame__Output[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        log.error({ err }, 'helper sent a bad frame; killing it');
        owner.child.kill('SIGKILL');
        socket.destroy();
        return;
      }
      for (const f of frames) {
        if (!hello) {
          const expected = o.mode === 'tail' ? 'MODE_TAIL' : 'MODE_KERNEL';
          if (f.body !== 'hello' || f.hello?.protocolVersion !== HELPER_PROTOCOL_VERSION || f.hello.mode !== expected) {
            log.error({ body: f.body }, 'helper handshake failed (EOS_PROTOCOL_MISMATCH); killing it');
            owner.child.kill('SIGKILL');
            socket.destroy();
            return;
          }
          hello = true;
          clearTimeout(helloTimer);
          state = 'running';
          log.info({ pid: owner.child.pid }, 'helper connected');
          for (const w of connectedWaiters.splice(0)) {
            w();
          }
          continue;
        }
        // Keep frames in order while HMAC checks await the key provider.
        queue = queue.then(async () => publish(await deps.validator.handle(f)));
      }
    });
    socket.on('error', (err) => log.warn({ err }, 'helper socket error'));
    socket.on('close', () => clearTimeout(helloTimer));
  });
  server.listen(o.socketPath);
  await once(server, 'listening');
  await chmod(o.socketPath, 0o600);
  if (deps.isRoot && o.mode === 'tail' && o.uid !== undefined) {
    await chown(o.socketPath, o.uid, o.gid ?? o.uid);
  }

  const spawnOnce = (): void => {
    state = 'starting';
    const child = spawn(cmd.file, cmd.args, { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', EOS_LOG_LEVEL: 'info' } });
    const entry = { child, socket: undefined as Socket | undefined, startedAt: Date.now() };
    current = entry;
    let buf = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      buf += s;
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const rec = JSON.parse(line) as { level?: number; msg?: string };
          log[PINO_LEVEL_METHODS[rec.level ?? 30] ?? 'info']({ helperLog: rec }, 'helper log');
        } catch {
          log.warn({ stream: 'stderr', line: line.slice(0, 2000) }, 'helper output'); // not NDJSON: pass it on wrapped
        }
      }
    });
    child.on('error', (err) => log.error({ err }, 'helper spawn failed'));
    child.on('exit', (code, signal) => {
      entry.socket?.destroy();
      if (state === 'stopped') {
        return;
      }
      log.warn({ code, signal }, 'helper exited');
      publish(deps.validator.helperDown('helper_down', { code, signal }));
      const d = decideRestart(policy, { code, signal }, Date.now() - entry.startedAt, history, Date.now(), random);
      history = d.history;
      if (d.action !== 'restart') {
        state = 'crash-loop';
        log.error({ restarts }, 'helper crash loop (EOS_AGENT_CRASH_LOOP); not restarting');
        publish(deps.validator.helperDown('helper_crash_loop', { restarts }));
        return;
      }
      state = 'backoff';
      restartTimer = setTimeout(() => {
        restarts++;
        spawnOnce();
      }, d.delayMs);
    });
  };
  spawnOnce();

  return {
    get pid() {
      return current?.child.pid;
    },
    whenConnected: () =>
      state === 'running' ? Promise.resolve() : new Promise<void>((resolve) => connectedWaiters.push(resolve)),
    counters: () => ({ ...deps.validator.counters(), restarts, state }),
    async stop() {
      state = 'stopped';
      clearTimeout(restartTimer);
      connectedWaiters = [];
      const c = current;
      if (c !== undefined && c.child.exitCode === null && c.child.signalCode === null) {
        const exited = once(c.child, 'exit');
        c.socket?.write(encodeSupervisorFrame({ shutdown: {} }));
        const t1 = setTimeout(() => c.child.kill('SIGTERM'), o.stopGraceMs);
        const t2 = setTimeout(() => c.child.kill('SIGKILL'), o.stopGraceMs + 2000);
        await exited;
        clearTimeout(t1);
        clearTimeout(t2);
      }
      server.close();
      await rm(o.socketPath, { force: true });
    },
  };
}
