import { mkdir, readFile, rmdir, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { EosError } from '@everythingos/proto';
import type { Logger } from 'pino';
import type { CgroupController, CgroupLayout } from './cgroup-layout.js';

/** Per-agent resource limits. */
export interface CgroupLimits {
  /** Memory (RAM, incl. tmpfs pages and page cache) in bytes; swap is not allowed on top. */
  memoryBytes: number;
  /** Max tasks: processes AND threads (an idle node has 7; bwrap adds 2). */
  pidsMax: number;
  /** CPU quota in percent of one CPU (50 = half a core, 200 = two cores). */
  cpuQuotaPercent: number;
  /** CFS period in microseconds. @defaultValue 100000 */
  cpuPeriodUs?: number;
}

/** Counters read from an agent's cgroups; a field is null when its controller is unavailable. */
export interface CgroupUsage {
  memoryBytes: number | null;
  memoryPeakBytes: number | null;
  /** CPU time used by the whole tree, in nanoseconds. */
  cpuUsageNs: number | null;
  /** How often the kernel OOM killer fired in this cgroup (monotonic). */
  oomKills: number | null;
  pidsCurrent: number | null;
  /** How often a fork/clone failed because pids.max was reached (monotonic). */
  pidsMaxEvents: number | null;
  /** How often the CPU quota throttled the tree (monotonic). */
  cpuThrottledPeriods: number | null;
}

/** Options for {@link CgroupManager}. */
export interface CgroupManagerOptions {
  layout: CgroupLayout;
  logger: Logger;
  /** Parent cgroup, relative to each hierarchy root. @defaultValue 'eosd' */
  parent?: string;
}

interface CgroupDir {
  kind: 'v1' | 'v2';
  /** Controllers this directory is used for (empty for the v2 core-only cgroup). */
  controllers: readonly (CgroupController | 'cpuacct')[];
  path: string;
}

const AGENT_ID_RE = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const DEFAULT_CPU_PERIOD_US = 100_000;
const KILL_POLL_INTERVAL_MS = 5;
const DEFAULT_KILL_TIMEOUT_MS = 5_000;

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    // access() only fails with "does not exist / not accessible", which is the answer.
    return false;
  }
}

function parseKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key !== undefined && value !== undefined) {
      out.set(key, Number(value));
    }
  }
  return out;
}

/**
 * Creates and manages per-agent cgroups: `<hierarchy>/<parent>/<agentId>` in every v1 hierarchy
 * that provides a controller eosd uses, plus the v2 hierarchy (for its controllers where they are
 * delegated, and always for the core files `cgroup.kill` / `cgroup.events`).
 */
export class CgroupManager {
  readonly #layout: CgroupLayout;
  readonly #logger: Logger;
  readonly #parent: string;

  constructor(options: CgroupManagerOptions) {
    this.#layout = options.layout;
    this.#logger = options.logger;
    this.#parent = options.parent ?? 'eosd';
  }

  /** The cgroup directories an agent with this id uses (whether or not they exist yet). */
  dirsFor(agentId: string): CgroupDir[] {
    if (!AGENT_ID_RE.test(agentId)) {
      throw new TypeError(`invalid agent id for a cgroup name: ${JSON.stringify(agentId)}`);
    }
    const dirs: CgroupDir[] = [];
    const byMount = new Map<string, (CgroupController | 'cpuacct')[]>();
    for (const c of ['memory', 'pids', 'cpu'] as const) {
      const mount = this.#layout.v1[c];
      if (this.#layout.controllers[c] === 'v1' && mount !== undefined) {
        byMount.set(mount, [...(byMount.get(mount) ?? []), c]);
      }
    }
    const cpuacct = this.#layout.v1.cpuacct;
    if (this.#layout.controllers.cpu === 'v1' && cpuacct !== undefined) {
      byMount.set(cpuacct, [...(byMount.get(cpuacct) ?? []), 'cpuacct']);
    }
    for (const [mount, controllers] of byMount) {
      dirs.push({ kind: 'v1', controllers, path: join(mount, this.#parent, agentId) });
    }
    if (this.#layout.v2Root !== null) {
      const v2 = (['memory', 'pids', 'cpu'] as const).filter((c) => this.#layout.controllers[c] === 'v2');
      dirs.push({ kind: 'v2', controllers: v2, path: join(this.#layout.v2Root, this.#parent, agentId) });
    }
    return dirs;
  }

  /**
   * Creates the agent's cgroups and writes its limits. Existing cgroups of the same name (left by
   * a crashed supervisor) are reused after their limits are rewritten.
   * @throws EosError EOS_AGENT_SPAWN_FAILED when a directory or limit cannot be written.
   */
  async create(agentId: string, limits: CgroupLimits): Promise<AgentCgroup> {
    for (const [name, v] of Object.entries(limits)) {
      if (!Number.isSafeInteger(v) || v <= 0) {
        throw new TypeError(`cgroup limit ${name} must be a positive integer, got ${String(v)}`);
      }
    }
    const dirs = this.dirsFor(agentId);
    this.#primeAttach();
    try {
      await this.#enableV2Controllers();
      // One directory per hierarchy: independent, so created and limited concurrently (each
      // directory's own writes stay in order, see writeLimits).
      await Promise.all(dirs.map((dir) => mkdir(dir.path, { recursive: true })));
      await Promise.all(dirs.map((dir) => writeLimits(dir, limits)));
    } catch (err) {
      throw new EosError('EOS_AGENT_SPAWN_FAILED', `cannot set up cgroups for agent ${agentId}; is eosd root and are the cgroup hierarchies writable?`, {
        cause: err,
        details: { agentId, dirs: dirs.map((d) => d.path) },
      });
    }
    this.#logger.debug({ agentId, dirs: dirs.map((d) => d.path), limits }, 'agent cgroups created');
    return new AgentCgroup(agentId, dirs, this.#logger);
  }

  /**
   * Starts, without waiting for it, a move of the daemon into the cgroup it is already in: `0` (the
   * writing process) into its own `cgroup.procs` of one hierarchy, which changes nothing. Every
   * `cgroup.procs` write takes the kernel's global threadgroup rwsem for writing, and the first one
   * after a quiet spell waits for an RCU grace period (~10 ms) while the rwsem switches its readers
   * to the slow path; a write that follows within about a grace period finds it switched and does not
   * wait. Issued when an agent's cgroups are being created, the wait runs alongside the mkdirs,
   * limit writes and the spawn of the wrapper instead of inside {@link AgentCgroup.admit}. Best effort:
   * a failure (no such file, EBUSY on a v2 cgroup with children) only leaves the wait where it was.
   * The daemon's own cgroup is read from /proc/self/cgroup right before the write.
   */
  #primeAttach(): void {
    void (async () => {
      const file = ownProcsFile(this.#layout, await readFile('/proc/self/cgroup', 'utf8'));
      if (file !== null) {
        await writeFile(file, '0');
      }
    })().catch((err: unknown) => this.#logger.debug({ err }, 'cgroup attach priming failed; the admission will wait for the grace period'));
  }

  /** A handle on an agent's cgroups without creating them (for kill/remove after a restart). */
  open(agentId: string): AgentCgroup {
    return new AgentCgroup(agentId, this.dirsFor(agentId), this.#logger);
  }

  async #enableV2Controllers(): Promise<void> {
    const root = this.#layout.v2Root;
    const v2 = (['memory', 'pids', 'cpu'] as const).filter((c) => this.#layout.controllers[c] === 'v2');
    if (root === null || v2.length === 0) {
      return;
    }
    const line = v2.map((c) => `+${c}`).join(' ');
    await writeFile(join(root, 'cgroup.subtree_control'), line);
    await mkdir(join(root, this.#parent), { recursive: true });
    await writeFile(join(root, this.#parent, 'cgroup.subtree_control'), line);
  }
}

/**
 * The `cgroup.procs` of the cgroup this process is in, in the first v1 hierarchy eosd uses (or
 * the v2 hierarchy), from the text of /proc/self/cgroup; null when none can be named.
 */
export function ownProcsFile(layout: CgroupLayout, procSelfCgroup: string): string | null {
  const lines = procSelfCgroup
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const first = line.indexOf(':');
      const second = line.indexOf(':', first + 1);
      return { controllers: line.slice(first + 1, second).split(',').filter(Boolean), path: line.slice(second + 1) };
    });
  for (const c of ['pids', 'memory', 'cpu'] as const) {
    const mount = layout.v1[c];
    const own = lines.find((l) => l.controllers.includes(c));
    if (layout.controllers[c] === 'v1' && mount !== undefined && own !== undefined && own.path.startsWith('/')) {
      return join(mount, own.path, 'cgroup.procs');
    }
  }
  const v2 = lines.find((l) => l.controllers.length === 0);
  if (layout.v2Root !== null && v2 !== undefined && v2.path.startsWith('/')) {
    return join(layout.v2Root, v2.path, 'cgroup.procs');
  }
  return null;
}

async function writeLimits(dir: CgroupDir, limits: CgroupLimits): Promise<void> {
  const period = limits.cpuPeriodUs ?? DEFAULT_CPU_PERIOD_US;
  const quota = Math.round((period * limits.cpuQuotaPercent) / 100);
  const w = (file: string, value: string | number): Promise<void> => writeFile(join(dir.path, file), String(value));
  if (dir.kind === 'v1') {
    if (dir.controllers.includes('memory')) {
      // v1 requires memsw >= limit at every moment: lift memsw, set the limit, then pin memsw to it
      // (no swap on top of RAM). Without swap accounting the memsw file is absent.
      const memsw = join(dir.path, 'memory.memsw.limit_in_bytes');
      const hasMemsw = await exists(memsw);
      if (hasMemsw) {
        await writeFile(memsw, '-1');
      }
      await w('memory.limit_in_bytes', limits.memoryBytes);
      if (hasMemsw) {
        await writeFile(memsw, String(limits.memoryBytes));
      }
    }
    if (dir.controllers.includes('pids')) {
      await w('pids.max', limits.pidsMax);
    }
    if (dir.controllers.includes('cpu')) {
      await w('cpu.cfs_period_us', period);
      await w('cpu.cfs_quota_us', quota);
    }
    return;
  }
  if (dir.controllers.includes('memory')) {
    await w('memory.max', limits.memoryBytes);
    if (await exists(join(dir.path, 'memory.swap.max'))) {
      await w('memory.swap.max', 0);
    }
    await w('memory.oom.group', 1);
  }
  if (dir.controllers.includes('pids')) {
    await w('pids.max', limits.pidsMax);
  }
  if (dir.controllers.includes('cpu')) {
    await w('cpu.max', `${quota} ${period}`);
  }
}

/** One agent's cgroups. Obtain from {@link CgroupManager.create} or {@link CgroupManager.open}. */
export class AgentCgroup {
  readonly agentId: string;
  readonly #dirs: readonly CgroupDir[];
  readonly #logger: Logger;

  constructor(agentId: string, dirs: readonly CgroupDir[], logger: Logger) {
    this.agentId = agentId;
    this.#dirs = dirs;
    this.#logger = logger;
  }

  /** The cgroup directories, for diagnostics. */
  get paths(): string[] {
    return this.#dirs.map((d) => d.path);
  }

  /**
   * The `cgroup.procs` files the root join wrapper must write its own pid to before it execs the
   * rest of the chain (see `buildSandboxCommand`'s `cgroupProcsFiles`).
   */
  procsFiles(): string[] {
    return this.#dirs.map((d) => join(d.path, 'cgroup.procs'));
  }

  /**
   * Moves process `pid` (one that has not forked anything that must be contained yet, e.g. the
   * root wrapper blocked on its gate) into every one of the agent's cgroups; what it forks or
   * execs afterwards starts inside. The first v1 write can wait for an RCU grace period (~10 ms);
   * the calls run on the thread pool, so the event loop does not.
   * @throws the fs error of a write that failed (e.g. ESRCH when the process is gone); the
   * process may then be in some of the cgroups, so the caller must not let it run.
   */
  async admit(pid: number): Promise<void> {
    if (!Number.isSafeInteger(pid) || pid <= 0) {
      throw new TypeError(`invalid pid ${String(pid)}`);
    }
    // All at once on the thread pool: the first write waits for the grace period, the others for
    // the lock it holds, and none waits for an event-loop turn between them.
    const results = await Promise.allSettled(this.procsFiles().map((file) => writeFile(file, String(pid))));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      throw failed.reason;
    }
  }

  #dir(controller: CgroupController | 'cpuacct'): CgroupDir | undefined {
    return this.#dirs.find((d) => d.controllers.includes(controller));
  }

  async #read(dir: CgroupDir | undefined, file: string): Promise<string | null> {
    if (dir === undefined) {
      return null;
    }
    try {
      return await readFile(join(dir.path, file), 'utf8');
    } catch (err) {
      this.#logger.debug({ err, agentId: this.agentId, file }, 'cgroup counter unreadable');
      return null;
    }
  }

  /** Reads the current counters. Missing controllers or files give null fields. */
  async readUsage(): Promise<CgroupUsage> {
    const mem = this.#dir('memory');
    const pids = this.#dir('pids');
    const cpu = this.#dir('cpu');
    const num = (s: string | null): number | null => (s === null ? null : Number(s.trim()));
    const keyed = (s: string | null, key: string): number | null => (s === null ? null : (parseKeyed(s).get(key) ?? null));
    const v2mem = mem?.kind === 'v2';
    // The files are independent: read concurrently on the thread pool.
    const [memCurrent, memPeak, memEvents, cpuStat, cpuacct, pidsCurrent, pidsEvents] = await Promise.all([
      this.#read(mem, v2mem ? 'memory.current' : 'memory.usage_in_bytes'),
      this.#read(mem, v2mem ? 'memory.peak' : 'memory.max_usage_in_bytes'),
      this.#read(mem, v2mem ? 'memory.events' : 'memory.oom_control'),
      this.#read(cpu, 'cpu.stat'),
      cpu?.kind === 'v2' ? Promise.resolve(null) : this.#read(this.#dir('cpuacct'), 'cpuacct.usage'),
      this.#read(pids, 'pids.current'),
      this.#read(pids, 'pids.events'),
    ]);
    let cpuUsageNs: number | null;
    if (cpu?.kind === 'v2') {
      const usec = keyed(cpuStat, 'usage_usec');
      cpuUsageNs = usec === null ? null : usec * 1000;
    } else {
      cpuUsageNs = num(cpuacct);
    }
    return {
      memoryBytes: num(memCurrent),
      memoryPeakBytes: num(memPeak),
      cpuUsageNs,
      oomKills: keyed(memEvents, 'oom_kill'),
      pidsCurrent: num(pidsCurrent),
      pidsMaxEvents: keyed(pidsEvents, 'max'),
      cpuThrottledPeriods: keyed(cpuStat, 'nr_throttled'),
    };
  }

  /** Pids of every process in the agent's tree (from the first hierarchy that has a procs file). */
  async pids(): Promise<number[]> {
    for (const dir of this.#dirs) {
      const text = await this.#read(dir, 'cgroup.procs');
      if (text !== null) {
        return text.split('\n').filter(Boolean).map(Number);
      }
    }
    return [];
  }

  /** Whether any process is still in the tree. */
  async isPopulated(): Promise<boolean> {
    const v2 = this.#dirs.find((d) => d.kind === 'v2');
    const events = await this.#read(v2, 'cgroup.events');
    if (events !== null) {
      return parseKeyed(events).get('populated') === 1;
    }
    return (await this.pids()).length > 0;
  }

  /**
   * SIGKILLs every process in the agent's tree and waits until the tree is empty. Uses v2
   * `cgroup.kill` where it exists (atomic, fork-race free); else it repeats read-procs-and-kill
   * until no process is left (a forking tree is caught on a later round; pids.max bounds it).
   * @throws EosError EOS_INTERNAL when the tree is not empty after `timeoutMs`.
   */
  async kill(options: { timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_KILL_TIMEOUT_MS);
    const v2 = this.#dirs.find((d) => d.kind === 'v2');
    let usedCgroupKill = false;
    if (v2 !== undefined && (await exists(join(v2.path, 'cgroup.kill')))) {
      await writeFile(join(v2.path, 'cgroup.kill'), '1');
      usedCgroupKill = true;
    }
    while (await this.isPopulated()) {
      if (Date.now() > deadline) {
        throw new EosError('EOS_INTERNAL', `agent ${this.agentId} cgroup still has processes after kill`, {
          details: { agentId: this.agentId, pids: await this.pids() },
        });
      }
      if (!usedCgroupKill) {
        for (const pid of await this.pids()) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch (err) {
            // ESRCH: it exited between reading cgroup.procs and the kill; that is the goal.
            this.#logger.debug({ err, pid, agentId: this.agentId }, 'kill of cgroup member failed');
          }
        }
      }
      await delay(KILL_POLL_INTERVAL_MS);
    }
    this.#logger.debug({ agentId: this.agentId, usedCgroupKill }, 'agent cgroup tree killed');
  }

  /**
   * Removes the agent's cgroup directories (missing ones are fine). Call {@link kill} first.
   * @throws EosError EOS_ILLEGAL_STATE when a cgroup still holds processes.
   */
  async remove(options: { timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_KILL_TIMEOUT_MS);
    for (const dir of this.#dirs) {
      for (;;) {
        try {
          await rmdir(dir.path);
          break;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') {
            break;
          }
          // EBUSY right after a kill: the last tasks are still being reaped.
          if (code === 'EBUSY' && Date.now() < deadline) {
            await delay(KILL_POLL_INTERVAL_MS);
            continue;
          }
          throw new EosError('EOS_ILLEGAL_STATE', `cannot remove cgroup ${dir.path}; kill the agent first`, {
            cause: err,
            details: { agentId: this.agentId },
          });
        }
      }
    }
  }
}
