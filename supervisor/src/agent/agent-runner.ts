import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import { EosError, encodeBootstrap, PROTOCOL_VERSION } from '@everythingos/proto';
import type { AgentSpec } from '../config/schema.js';
import type { AgentPackage } from '../manifest/read-agent-package.js';
import { CallVerifier } from '../rpc/call-verifier.js';
import type { AgentServer } from '../rpc/agent-server.js';
import type { ExitClassification } from '../sandbox/index.js';
import type { AgentHostCodeCache } from './agent-host-code-cache.js';
import type { AgentLaunch, AgentSandbox } from './agent-sandbox.js';
import { transition, type AgentEvent, type AgentState } from './agent-state.js';
import { splitLines } from './line-splitter.js';
import { decideRestart, type ExitInfo, type RestartHistory } from './restart-policy.js';
import { PINO_LEVEL_METHODS } from '../logs/pino-levels.js';

export interface AgentRunnerOptions {
  spec: AgentSpec;
  pkg: AgentPackage;
  server: AgentServer;
  /** Contains every start: cgroups, the sandbox command, exit classification. */
  sandbox: AgentSandbox;
  /** Host directory holding the agent's socket (bound read-only into the sandbox). */
  socketDir: string;
  /** uid/gid for the agent; undefined = the supervisor's own (dev mode without root). */
  uid: number | undefined;
  homeDir: string;
  agentHostPath: string;
  /** Host directories the agent may read (agent-host, the package and their dependency closure). */
  readOnlyDirs: readonly string[];
  /** The agent's home image (mounted in its own mount namespace), or null. */
  homeImage: string | null;
  /** V8 code caches for agent-host (when `agentHostPath` is the code-cached start), or null. */
  codeCache?: AgentHostCodeCache | null;
  log: Logger;
  now?: () => number;
  random?: () => number;
  /** Told about every state change and every process exit (audit, metrics, credential revocation). */
  onEvent?: (e: RunnerEvent) => void;
  /** Runs before every spawn (start, restart, backoff restart); throws an EosError to refuse it. */
  startGate?: () => void;
  /** Called after the agent exceeded its restart intensity and became errored. */
  onGiveUp?: () => void;
  /** Where snapshots get the RSS (a cache such as RssSampler); default: read `/proc/<pid>/status` per snapshot. */
  memory?: { rssBytes(pid: number): Promise<number> };
}

/** What a runner reports to its supervisor. */
export type RunnerEvent =
  | { type: 'transition'; agentId: string; from: AgentState; to: AgentState; event: AgentEvent; reason: string }
  | { type: 'exit'; agentId: string; exitCode: number | null; signal: NodeJS.Signals | null; uptimeMs: number; kind: string | undefined };

/** A snapshot for `agents ls` and status. */
export interface AgentSnapshot {
  id: string;
  name: string;
  version: string;
  tier: string;
  state: AgentState;
  pid: number;
  uid: number;
  startedAtMs: number;
  restarts: number;
  memoryBytes: number;
  lastExit: string;
  packageDir: string;
  restart: string;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

function describeExit(exit: ExitInfo): string {
  return exit.signal !== null ? `signal ${exit.signal}` : `exit ${exit.code ?? '?'}`;
}

/** `lastExit` text: OOM and limit kills carry their label in front ("oom: signal SIGKILL"). */
function labelExit(c: ExitClassification): string {
  const base = describeExit(c);
  return c.kind === 'oom' || c.kind === 'limit' ? `${c.kind}: ${base}` : base;
}

/**
 * One configured agent: its process, its state machine, its restart policy. Operator operations
 * (start, stop, restart) are serialised; process events (ready, exit, hang) drive the same
 * state machine.
 */
export class AgentRunner {
  readonly #o: AgentRunnerOptions;
  readonly #now: () => number;
  readonly #random: () => number;
  #state: AgentState = 'stopped';
  #child: ChildProcess | undefined;
  #launch: AgentLaunch | undefined;
  /** Host pid of the agent's node process (from bwrap's status fd), when it differs from the child. */
  #agentPid = 0;
  #stopRequested = false;
  #lifeline: Writable | undefined;
  #exited: Promise<ExitInfo> | undefined;
  #startedAtMs = 0;
  #spawnedAtMs = 0;
  #restarts = 0;
  #lastExit = '';
  #history: RestartHistory = { restartTimesMs: [], consecutiveFailures: 0 };
  #backoffTimer: NodeJS.Timeout | undefined;
  #startTimer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #lastHeartbeatMs = 0;
  #readyWaiters: Waiter[] = [];
  #opTail: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(opts: AgentRunnerOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
  }

  get id(): string {
    return this.#o.spec.id;
  }

  get state(): AgentState {
    return this.#state;
  }

  get spec(): AgentSpec {
    return this.#o.spec;
  }

  /** Host pid of the agent's process while it is starting, running or stopping; 0 otherwise. */
  get livePid(): number {
    const pid = this.#agentPid || (this.#child?.pid ?? 0);
    return this.#state === 'starting' || this.#state === 'running' || this.#state === 'stopping' ? pid : 0;
  }

  /**
   * Starts the agent and resolves once it is running.
   * @throws EosError `EOS_ILLEGAL_STATE` (already starting/running/stopping), `EOS_AGENT_EXITED`
   *   (died before ready), `EOS_AGENT_START_TIMEOUT`, `EOS_AGENT_SPAWN_FAILED`.
   */
  start(): Promise<void> {
    return this.#op(async () => {
      if (this.#closed) {
        throw new EosError('EOS_SHUTTING_DOWN', 'the daemon is shutting down');
      }
      this.#o.startGate?.();
      if (this.#state === 'stopped' || this.#state === 'errored') {
        this.#history = { restartTimesMs: [], consecutiveFailures: 0 };
      }
      clearTimeout(this.#backoffTimer);
      this.#o.sandbox.assertAllowed(this.#o.spec);
      this.#to('start', 'operator start');
      const ready = this.#waitReady();
      await this.#spawn();
      await ready;
    });
  }

  /** Stops the agent (graceful shutdown → SIGTERM → SIGKILL) and resolves once its process has exited. */
  stop(reason = 'operator stop'): Promise<void> {
    return this.#op(() => this.#stopNow(reason));
  }

  /** Stops, then starts. */
  restart(): Promise<void> {
    return this.#op(async () => {
      this.#o.startGate?.();
      await this.#stopNow('operator restart');
      this.#history = { restartTimesMs: [], consecutiveFailures: 0 };
      this.#o.sandbox.assertAllowed(this.#o.spec);
      this.#to('start', 'operator restart');
      const ready = this.#waitReady();
      await this.#spawn();
      await ready;
    });
  }

  /** Stops for good (daemon shutdown): no restart can follow. */
  async close(reason: string): Promise<void> {
    this.#closed = true;
    await this.#op(() => this.#stopNow(reason));
  }

  async snapshot(): Promise<AgentSnapshot> {
    const pid = this.#agentPid || (this.#child?.pid ?? 0);
    return {
      id: this.#o.spec.id,
      name: this.#o.pkg.manifest.name,
      version: this.#o.pkg.manifest.version,
      tier: this.#o.spec.tier,
      state: this.#state,
      pid: this.#state === 'starting' || this.#state === 'running' || this.#state === 'stopping' ? pid : 0,
      uid: this.#o.uid ?? process.getuid?.() ?? 0,
      startedAtMs: this.#state === 'running' ? this.#startedAtMs : 0,
      restarts: this.#restarts,
      memoryBytes: pid > 0 ? await (this.#o.memory?.rssBytes(pid) ?? rssBytes(pid)) : 0,
      lastExit: this.#lastExit,
      packageDir: this.#o.pkg.dir,
      restart: this.#o.spec.restart,
    };
  }

  #op<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#opTail.then(fn);
    this.#opTail = run.catch(() => undefined);
    return run;
  }

  #to(event: AgentEvent, reason: string): void {
    const from = this.#state;
    const to = transition(from, event);
    this.#state = to;
    const level = to === 'errored' ? 'error' : to === 'backoff' ? 'warn' : 'info';
    this.#o.log[level]({ from, to, event, reason }, 'agent state changed');
    this.#o.onEvent?.({ type: 'transition', agentId: this.#o.spec.id, from, to, event, reason });
  }

  #waitReady(): Promise<void> {
    return new Promise<void>((resolve, reject) => this.#readyWaiters.push({ resolve, reject }));
  }

  #settleReady(err?: Error): void {
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const w of waiters) {
      if (err === undefined) {
        w.resolve();
      } else {
        w.reject(err);
      }
    }
  }

  async #stopNow(reason: string): Promise<void> {
    switch (this.#state) {
      case 'stopped':
      case 'errored':
        return;
      case 'backoff':
        clearTimeout(this.#backoffTimer);
        this.#to('stop', reason);
        return;
      case 'stopping':
        await this.#exited;
        return;
      case 'starting':
      case 'running':
        break;
    }
    this.#to('stop', reason);
    this.#stopRequested = true;
    const exited = this.#exited;
    if (exited === undefined) {
      return;
    }
    const { stopGraceMs, killTimeoutMs } = this.#o.spec;
    if (this.#o.server.requestShutdown(stopGraceMs, reason) && (await within(exited, stopGraceMs))) {
      return;
    }
    this.#kill('SIGTERM');
    if (await within(exited, killTimeoutMs)) {
      return;
    }
    this.#o.log.warn({ killTimeoutMs }, 'agent ignored SIGTERM; sending SIGKILL');
    this.#kill('SIGKILL');
    await exited;
  }

  #kill(signal: NodeJS.Signals): void {
    const pid = this.#child?.pid;
    if (pid === undefined) {
      return;
    }
    const launch = this.#launch;
    if (signal === 'SIGKILL' && launch !== undefined && launch.cgroup !== null) {
      // The wrapper itself first: until its admission into the cgroups completes it is outside
      // them, blocked on its gate, and a cgroup kill alone would miss it and let the gate open
      // later. It is our unreaped child, so its pid is still its own.
      try {
        process.kill(pid, 'SIGKILL');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') {
          this.#o.log.warn({ err }, 'kill of the wrapper failed');
        }
      }
      // The whole tree, wherever it forked to: the cgroup holds every task of the agent.
      launch.killTree().catch((err: unknown) => {
        this.#o.log.warn({ err }, 'cgroup kill failed; killing the process group');
        this.#killGroup(pid, signal);
      });
      return;
    }
    if (this.#agentPid !== 0) {
      // bwrap runs the agent in a new session: signal the agent's node process itself (the
      // wrappers die with it; signalling them would end the agent without its handler).
      try {
        process.kill(this.#agentPid, signal);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') {
          this.#o.log.warn({ err, signal }, 'kill failed');
        }
      }
      return;
    }
    this.#killGroup(pid, signal);
  }

  #killGroup(pid: number, signal: NodeJS.Signals): void {
    try {
      // The wrapper leads its own process group (detached): signal the whole group.
      process.kill(-pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') {
        this.#o.log.warn({ err, signal }, 'kill failed');
      }
    }
  }

  async #spawn(): Promise<void> {
    const { spec, pkg } = this.#o;
    const sessionKey = randomBytes(32);
    this.#stopRequested = false;
    this.#agentPid = 0;
    this.#o.server.bind({
      verifier: new CallVerifier(sessionKey, this.#now),
      onReady: () => this.#onReady(),
      onHeartbeat: () => {
        this.#lastHeartbeatMs = this.#now();
      },
      // A process that breaks the session protocol is misbehaving: killed like a hung one, and
      // its restart policy (backoff, crash-loop limit, HIGH-tier quarantine) decides what follows.
      onViolation: (err) => {
        this.#o.log.error({ code: err.code, reason: err.details?.reason }, 'agent broke the session protocol; killing');
        this.#kill('SIGKILL');
      },
    });
    let launch: AgentLaunch;
    let child: ChildProcess;
    try {
      launch = await this.#o.sandbox.launch({
        spec,
        uid: this.#o.uid,
        homeDir: this.#o.homeDir,
        socketDir: this.#o.socketDir,
        readOnlyDirs: this.#o.readOnlyDirs,
        homeImage: this.#o.homeImage,
        script: this.#o.agentHostPath,
        codeCache: this.#o.codeCache ?? null,
      });
    } catch (err) {
      this.#onExit({ code: 127, signal: null }, undefined, new EosError('EOS_AGENT_SPAWN_FAILED', 'cannot prepare the agent sandbox', { cause: err }));
      return;
    }
    try {
      child = spawn(launch.file, launch.args, { env: launch.env, stdio: launch.stdio, detached: true });
    } catch (err) {
      await launch.cleanup();
      this.#onExit({ code: 127, signal: null }, undefined, new EosError('EOS_AGENT_SPAWN_FAILED', 'spawn failed', { cause: err }));
      return;
    } finally {
      launch.afterSpawn();
    }
    this.#launch = launch;
    this.#child = child;
    this.#spawnedAtMs = this.#now();
    this.#lastHeartbeatMs = this.#spawnedAtMs;
    const log = this.#o.log.child({ agentPid: child.pid });
    if (child.pid !== undefined) {
      // The wrapper waits on its gate until it is in the agent's cgroups; a failed move closes
      // the gate, the wrapper exits 111 and the exit handler below reports it.
      launch.admit(child).catch((err: unknown) => log.error({ err }, 'cannot move the agent into its cgroups'));
    }
    this.#exited = new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => {
        const raw = { code, signal };
        void (async () => {
          const c = await launch.classify(raw, this.#stopRequested).catch((err: unknown) => {
            log.warn({ err }, 'cannot classify the agent exit');
            return undefined;
          });
          await launch.cleanup();
          const exit = c === undefined ? raw : { code: c.code, signal: c.signal };
          this.#onExit(exit, c);
          resolve(exit);
        })();
      });
    });
    child.once('error', (err) => {
      log.error({ err }, 'agent process error');
      if (child.pid === undefined) {
        void launch.cleanup();
        this.#onExit({ code: 127, signal: null }, undefined, new EosError('EOS_AGENT_SPAWN_FAILED', `cannot spawn agent-host: ${err.message}`, { cause: err }));
      }
    });
    if (launch.statusFd !== null) {
      const status = child.stdio[launch.statusFd] as Readable | null | undefined;
      if (status) {
        splitLines(status, (line) => this.#onStatus(log, line));
      }
    }
    const lifeline = child.stdio[3] as Writable | null;
    if (lifeline !== null) {
      this.#lifeline = lifeline;
      lifeline.on('error', (err) => log.debug({ err }, 'lifeline pipe error'));
      lifeline.write(
        encodeBootstrap({
          protocolVersion: PROTOCOL_VERSION,
          agentId: spec.id,
          socketPath: launch.socketPath,
          sessionKey,
          packageDir: pkg.dir,
        }),
      );
    }
    if (child.stdout) {
      splitLines(child.stdout, (line, truncated) => this.#onOutput(log, 'stdout', line, truncated));
    }
    if (child.stderr) {
      splitLines(child.stderr, (line, truncated) => this.#onOutput(log, 'stderr', line, truncated));
    }
    log.info({ uid: this.#o.uid, mode: this.#o.sandbox.plan.mode, cgroups: launch.cgroup?.paths }, 'agent process spawned');
    this.#startTimer = setTimeout(() => {
      if (this.#state === 'starting') {
        log.error({ startTimeoutMs: spec.startTimeoutMs }, 'agent not ready in time; killing');
        this.#settleReady(new EosError('EOS_AGENT_START_TIMEOUT', `agent ${spec.id} was not ready within ${spec.startTimeoutMs} ms`));
        this.#kill('SIGKILL');
      }
    }, spec.startTimeoutMs);
  }

  /** bwrap's JSON status lines: `{"child-pid": N}` names the agent's node process on the host. */
  #onStatus(log: Logger, line: string): void {
    if (line === '') {
      return;
    }
    try {
      const rec = JSON.parse(line) as Record<string, unknown>;
      const initPid = rec['child-pid'];
      if (typeof initPid === 'number' && this.#child !== undefined) {
        // With a pid namespace the reported child is bwrap's init; the agent is its only child.
        const child = this.#child;
        void findOnlyChild(initPid).then((pid) => {
          if (this.#child === child && pid !== null) {
            this.#agentPid = pid;
            log.debug({ sandboxedPid: pid, initPid }, 'sandboxed agent pid');
          }
        });
      }
    } catch (err) {
      log.warn({ err, line }, 'unparsable bwrap status line');
    }
  }

  #onOutput(log: Logger, stream: 'stdout' | 'stderr', line: string, truncated: boolean): void {
    if (line === '') {
      return;
    }
    if (stream === 'stdout' && line.startsWith('{')) {
      try {
        const rec = JSON.parse(line) as Record<string, unknown>;
        const method = PINO_LEVEL_METHODS[typeof rec.level === 'number' ? rec.level : 30] ?? 'info';
        const { level: _l, time: _t, msg, component: _c, agentId: _a, ...fields } = rec;
        log[method]({ host: fields }, typeof msg === 'string' ? msg : 'agent-host output');
        return;
      } catch {
        // Not JSON after all: fall through and keep it as a raw line.
      }
    }
    log.info({ stream, line, truncated: truncated || undefined }, 'agent output');
  }

  #onReady(): void {
    if (this.#state !== 'starting') {
      return;
    }
    clearTimeout(this.#startTimer);
    this.#startedAtMs = this.#now();
    this.#to('ready', 'agent ready');
    this.#settleReady();
    const { heartbeatIntervalMs, heartbeatTimeoutMs } = this.#o.spec;
    this.#lastHeartbeatMs = this.#now();
    this.#watchdog = setInterval(() => {
      if (this.#state === 'running' && this.#now() - this.#lastHeartbeatMs > heartbeatTimeoutMs) {
        this.#o.log.error({ heartbeatTimeoutMs }, 'agent unresponsive (no heartbeat); killing');
        this.#kill('SIGKILL');
      }
    }, heartbeatIntervalMs);
  }

  #onExit(exit: ExitInfo, classified?: ExitClassification, spawnError?: EosError): void {
    clearTimeout(this.#startTimer);
    clearInterval(this.#watchdog);
    this.#o.server.unbind();
    this.#lifeline?.destroy();
    this.#lifeline = undefined;
    const pid = this.#agentPid || this.#child?.pid;
    this.#child = undefined;
    this.#launch = undefined;
    this.#agentPid = 0;
    this.#exited = this.#exited ?? Promise.resolve(exit);
    this.#lastExit = classified === undefined ? describeExit(exit) : labelExit(classified);
    const uptimeMs = this.#now() - this.#spawnedAtMs;
    if (classified !== undefined) {
      this.#o.sandbox.countExit(classified.kind);
    }
    const level = classified?.kind === 'oom' || classified?.kind === 'limit' ? 'warn' : 'info';
    this.#o.log[level](
      { agentPid: pid, exitCode: exit.code, signal: exit.signal, uptimeMs, exitKind: classified?.kind, exitDetail: classified?.detail },
      'agent process exited',
    );
    this.#o.onEvent?.({ type: 'exit', agentId: this.#o.spec.id, exitCode: exit.code, signal: exit.signal, uptimeMs, kind: classified?.kind });
    this.#settleReady(
      spawnError ??
        new EosError('EOS_AGENT_EXITED', `agent ${this.#o.spec.id} exited (${this.#lastExit}) before it was ready`, {
          details: { exitCode: exit.code, signal: exit.signal },
        }),
    );
    if (this.#state === 'stopping') {
      this.#to('exited', this.#lastExit);
      return;
    }
    if (this.#state !== 'starting' && this.#state !== 'running') {
      return;
    }
    if (this.#closed) {
      this.#to('exited-stop', 'daemon shutting down');
      return;
    }
    const decision = decideRestart(this.#o.spec, exit, uptimeMs, this.#history, this.#now(), this.#random);
    this.#history = decision.history;
    switch (decision.action) {
      case 'stop':
        this.#to('exited-stop', `${this.#lastExit}; restart policy ${this.#o.spec.restart}`);
        return;
      case 'give-up':
        this.#to('exited-give-up', `${this.#lastExit}; more than ${this.#o.spec.intensity.maxRestarts} restarts in ${this.#o.spec.intensity.windowSec} s`);
        this.#o.log.error({ code: 'EOS_AGENT_CRASH_LOOP' }, 'agent restart intensity exceeded; not restarting');
        this.#o.onGiveUp?.();
        return;
      case 'restart':
        this.#to('exited-restart', this.#lastExit);
        this.#o.log.warn({ delayMs: decision.delayMs }, 'agent restart scheduled');
        this.#backoffTimer = setTimeout(() => {
          void this.#op(async () => {
            if (this.#state !== 'backoff') {
              return;
            }
            try {
              this.#o.startGate?.();
            } catch (err) {
              this.#o.log.error({ err, code: (err as { code?: unknown }).code }, 'agent restart refused');
              this.#to('stop', 'restart refused');
              return;
            }
            this.#restarts++;
            this.#to('backoff-elapsed', 'restart');
            await this.#spawn();
          });
        }, decision.delayMs);
        return;
    }
  }
}

/** Resolves true if `p` settles within `ms`, false otherwise. */
function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    void p.then(() => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

const CHILD_POLL_MS = 5;
const CHILD_POLL_ROUNDS = 400;

/** The single child of `pid` (bwrap's init in a pid namespace), polled until it exists; null if none appears. */
async function findOnlyChild(pid: number): Promise<number | null> {
  for (let i = 0; i < CHILD_POLL_ROUNDS; i++) {
    try {
      const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
      const first = text.trim().split(/\s+/)[0];
      if (first !== undefined && first !== '') {
        return Number(first);
      }
    } catch {
      // The init process is gone (the agent exited early): there is no agent pid to report.
      return null;
    }
    await new Promise((r) => setTimeout(r, CHILD_POLL_MS));
  }
  return null;
}

async function rssBytes(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    return m?.[1] === undefined ? 0 : Number(m[1]) * 1024;
  } catch {
    // The process may have exited between the snapshot and the read: report unknown.
    return 0;
  }
}
