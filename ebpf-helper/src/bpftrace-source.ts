import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { access } from 'node:fs/promises';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { parseBpftraceLine, type KernelRecord } from './parse-bpftrace-record.js';

/** Options of {@link BpftraceSource}; validated by the bin. */
export interface BpftraceSourceOptions {
  /** Path of `eosd-watch.bt`. */
  scriptPath: string;
  /** Agent uid range, `[uidMin, uidMax)`; the filter runs in the kernel. */
  uidMin: number;
  uidMax: number;
  bpftracePath: string;
  setprivPath: string;
  /** Time after the `ready` record before events are trusted to flow: signals sent right after `ready` were lost in 3 of 6 runs. */
  armDelayMs: number;
  /** SIGINT → SIGKILL grace at stop. */
  stopGraceMs: number;
  /** First restart delay after bpftrace dies; doubles up to restartMaxMs. */
  restartInitialMs: number;
  restartMaxMs: number;
  /** Perf ring buffer pages per CPU (BPFTRACE_PERF_RB_PAGES): 1024 lost nothing at 52k/s where 64 lost a third. */
  perfRingPages: number;
}

/** Where a {@link BpftraceSource} delivers what it sees. */
export interface BpftraceSink {
  event(e: KernelRecord): void;
  alarm(kind: 'lost_events' | 'backend_down' | 'backend_up', count: number, message: string): void;
  framingError(): void;
}

type State = 'starting' | 'armed' | 'down' | 'stopped';

const execFileAsync = promisify(execFile);
const STDERR_TAIL_BYTES = 16 * 1024;
const HARMLESS_STDERR = /RLIMIT_MEMLOCK|Addrspace mismatch|buf\(\) length/;

/**
 * Mounts tracefs at /sys/kernel/tracing when neither it nor debugfs's tracing dir is there:
 * without it bpftrace fails with "tracepoint not found". Needs CAP_SYS_ADMIN; only called as root.
 */
export async function ensureTracefs(log: Logger): Promise<void> {
  const present = async (p: string): Promise<boolean> => access(p).then(() => true, () => false);
  if ((await present('/sys/kernel/tracing/events/syscalls')) || (await present('/sys/kernel/debug/tracing/events/syscalls'))) {
    return;
  }
  log.info('mounting tracefs at /sys/kernel/tracing');
  await execFileAsync('mount', ['-t', 'tracefs', 'tracefs', '/sys/kernel/tracing']);
}

/**
 * Runs bpftrace over `eosd-watch.bt` and restarts it with backoff when it dies. It runs under
 * `setpriv --pdeathsig KILL`, so bpftrace dies with the helper (Node cannot set PR_SET_PDEATHSIG);
 * it inherits the helper's capability bounding set (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN).
 */
export class BpftraceSource {
  readonly #o: BpftraceSourceOptions;
  readonly #sink: BpftraceSink;
  readonly #log: Logger;
  #child: ChildProcess | undefined;
  #state: State = 'stopped';
  #restarts = 0;
  #consecutiveFailures = 0;
  #lostKernel = 0;
  #received = 0;
  #lastEventAt = -1;
  #restartTimer: NodeJS.Timeout | undefined;
  #armTimer: NodeJS.Timeout | undefined;
  #stderrTail = '';
  #armedWaiters: (() => void)[] = [];

  constructor(options: BpftraceSourceOptions, sink: BpftraceSink, logger: Logger) {
    this.#o = options;
    this.#sink = sink;
    this.#log = logger;
  }

  get state(): State {
    return this.#state;
  }
  get restarts(): number {
    return this.#restarts;
  }
  get lostKernel(): number {
    return this.#lostKernel;
  }
  get received(): number {
    return this.#received;
  }
  get lastEventAt(): number {
    return this.#lastEventAt;
  }
  /** pid of the running bpftrace (setpriv execs it, so the pid is bpftrace's), for tests. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  start(): void {
    this.#state = 'starting';
    this.#spawn();
  }

  /** Resolves once bpftrace has printed `ready` and the arm delay has passed. */
  async whenArmed(): Promise<void> {
    if (this.#state === 'armed') {
      return;
    }
    await new Promise<void>((resolve) => this.#armedWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.#state = 'stopped';
    clearTimeout(this.#restartTimer);
    clearTimeout(this.#armTimer);
    const child = this.#child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
      return;
    }
    const exited = once(child, 'exit');
    child.kill('SIGINT');
    const killer = setTimeout(() => child.kill('SIGKILL'), this.#o.stopGraceMs);
    await exited;
    clearTimeout(killer);
  }

  #spawn(): void {
    const o = this.#o;
    const child = spawn(
      o.setprivPath,
      ['--pdeathsig', 'KILL', '--', o.bpftracePath, '-f', 'json', o.scriptPath, String(o.uidMin), String(o.uidMax)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', BPFTRACE_STRLEN: '96', BPFTRACE_PERF_RB_PAGES: String(o.perfRingPages) },
      },
    );
    this.#child = child;
    this.#stderrTail = '';
    const startedAt = Date.now();
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      this.#stderrTail = (this.#stderrTail + s).slice(-STDERR_TAIL_BYTES);
    });
    const rl = createInterface({ input: child.stdout, crlfDelay: Infinity });
    rl.on('line', (line) => this.#onLine(line));
    child.on('error', (err) => this.#log.error({ err }, 'bpftrace could not be spawned'));
    child.on('exit', (code, signal) => {
      rl.close();
      if (this.#state === 'stopped') {
        return;
      }
      const stderr = this.#stderrTail
        .split('\n')
        .filter((l) => l.trim() !== '' && !HARMLESS_STDERR.test(l))
        .join('\n');
      this.#log.error({ code, signal, stderr }, 'bpftrace exited');
      this.#state = 'down';
      this.#sink.alarm('backend_down', 1, 'bpftrace exited; the kernel watch is blind until it restarts');
      if (Date.now() - startedAt > 60_000) {
        this.#consecutiveFailures = 0;
      }
      const delay = Math.min(o.restartMaxMs, o.restartInitialMs * 2 ** this.#consecutiveFailures);
      this.#consecutiveFailures++;
      this.#restartTimer = setTimeout(() => {
        this.#restarts++;
        this.#state = 'starting';
        this.#spawn();
      }, delay);
    });
  }

  #onLine(line: string): void {
    const r = parseBpftraceLine(line);
    switch (r.type) {
      case 'event':
        this.#received++;
        this.#lastEventAt = Date.now();
        this.#sink.event(r.event);
        return;
      case 'ready':
        if (r.uidMin !== this.#o.uidMin || r.uidMax !== this.#o.uidMax) {
          this.#log.error({ uidMin: r.uidMin, uidMax: r.uidMax }, 'bpftrace reports a different uid range');
        }
        this.#armTimer = setTimeout(() => {
          if (this.#state !== 'starting') {
            return;
          }
          this.#state = 'armed';
          this.#log.info({ restarts: this.#restarts }, 'kernel watch armed');
          if (this.#restarts > 0) {
            this.#sink.alarm('backend_up', 0, 'bpftrace restarted; the kernel watch is armed again');
          }
          for (const w of this.#armedWaiters.splice(0)) {
            w();
          }
        }, this.#o.armDelayMs);
        return;
      case 'lost':
        this.#lostKernel += r.events;
        this.#sink.alarm('lost_events', r.events, 'the kernel dropped events before bpftrace read them');
        return;
      case 'attached':
        this.#log.info({ probes: r.probes }, 'bpftrace probes attached');
        return;
      case 'invalid':
        this.#log.warn({ reason: r.reason }, 'bpftrace output line rejected');
        this.#sink.framingError();
        return;
      case 'end':
      case 'ignored':
        return;
    }
  }
}
