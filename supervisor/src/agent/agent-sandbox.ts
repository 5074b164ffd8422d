import { execFile } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { access, constants as fsConstants, rmdir, stat, truncate, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { EosError } from '@everythingos/proto';
import { dirname, join } from 'node:path';
import type { ChildProcess, StdioOptions } from 'node:child_process';
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import {
  assertSandboxAllowed,
  buildSandboxCommand,
  CGROUP_GATE_WORD,
  CgroupManager,
  classifyExit,
  detectNodeRuntime,
  doctorReport,
  generateSeccompFilter,
  mountHomeImage,
  readMounts,
  planSandbox,
  unmountHomeImage,
  probeSandbox,
  type AgentCgroup,
  type CgroupUsage,
  type DoctorReport,
  type ExitClassification,
  type ExitKind,
  type NodeRuntime,
  type SandboxPlan,
} from '../sandbox/index.js';
import type { AgentSpec, DaemonConfig } from '../config/schema.js';
import { writeFileAtomic } from '../state/atomic-write.js';
import type { AgentHostCodeCache } from './agent-host-code-cache.js';

const execFileAsync = promisify(execFile);

/** Host tools the home image needs. */
interface HomeTools {
  losetup: string;
  blockdev: string;
  mount: string;
  umount: string;
  mkfs: string;
}

const TOOL_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];

async function findTool(name: string): Promise<string | null> {
  for (const d of TOOL_DIRS) {
    try {
      await access(join(d, name), fsConstants.X_OK);
      return join(d, name);
    } catch {
      // Not in this directory: try the next; null at the end means absent.
    }
  }
  return null;
}

async function findHomeTools(): Promise<HomeTools | null> {
  const [losetup, blockdev, mount, umount, mkfs] = await Promise.all(
    ['losetup', 'blockdev', 'mount', 'umount', 'mkfs.ext4'].map(findTool),
  );
  if (losetup === null || losetup === undefined || blockdev === null || blockdev === undefined || mount === null || mount === undefined || umount === null || umount === undefined || mkfs === null || mkfs === undefined) {
    return null;
  }
  return { losetup, blockdev, mount, umount, mkfs };
}

/** Mount points of this mount namespace at `<agentsDir>/<id>/home` (agent home images). */
async function homeMountsUnder(agentsDir: string): Promise<string[]> {
  const out = new Set<string>();
  for (const { mountPoint } of await readMounts()) {
    if (dirname(dirname(mountPoint)) === agentsDir && mountPoint.endsWith('/home')) {
      out.add(mountPoint);
    }
  }
  return [...out];
}

/**
 * Unmounts an agent home; when it is still busy (an agent's mount namespace not yet gone) it is
 * detached lazily and freed with its loop device (autoclear) once the last user is gone.
 */
async function unmountHome(mountPoint: string, tools: HomeTools, logger: Logger): Promise<void> {
  try {
    await unmountHomeImage(mountPoint, { umountPath: tools.umount });
  } catch (err) {
    logger.warn({ err, mountPoint }, 'agent home busy; detaching it lazily');
    await execFileAsync(tools.umount, ['-l', mountPoint]);
  }
}

/** Where the agent's socket directory appears inside bwrap sandboxes. */
export const SANDBOX_SOCKET_DIR = '/run/eos';
/** Where agent-host's V8 code cache (one read-only file) appears inside bwrap sandboxes. */
export const SANDBOX_CODE_CACHE = '/run/eos-cache/agent-host.v8cache';
/** Where the agent's home appears inside bwrap sandboxes. */
export const SANDBOX_HOME = '/home/agent';

/** Options of {@link AgentSandbox.create}. */
export interface AgentSandboxOptions {
  /** The daemon's state directory (root-only): holds the seccomp program. */
  stateDir: string;
  config: DaemonConfig['sandbox'];
  logger: Logger;
  /** Parent cgroup name in every hierarchy; one per daemon instance. @defaultValue 'eosd' */
  cgroupParent?: string;
}

/** What one agent launch needs. Paths are host paths. */
export interface LaunchRequest {
  spec: AgentSpec;
  /** Agent uid/gid; undefined = the daemon's own (dev without root). */
  uid: number | undefined;
  homeDir: string;
  socketDir: string;
  /** The agent's home image (from {@link AgentSandbox.prepareHome}), or null for a plain directory. */
  homeImage: string | null;
  /** Read-only directories (bound at the same paths): agent-host, the package, their dependencies. */
  readOnlyDirs: readonly string[];
  /** agent-host's entry script (inside one of `readOnlyDirs`). */
  script: string;
  /** V8 code caches for a code-cacheable `script` (`agent-host.cjs`): bound read-only, passed as `--code-cache`. */
  codeCache?: AgentHostCodeCache | null;
}

/** Counters of exit kinds and refusals, exported in `eosd status --json`. */
export interface SandboxCounters {
  exits: Record<ExitKind, number>;
  refusedHighTier: number;
}

/** The `sandbox` object of `eosd status --json`. */
export interface SandboxStatus extends DoctorReport {
  missing: string[];
  allowDegradedHighTier: boolean;
  counters: SandboxCounters;
}

/** One spawned agent's sandbox: the argv to spawn and the handles to classify and clean up. */
export interface AgentLaunch {
  file: string;
  args: string[];
  env: Record<string, string>;
  stdio: StdioOptions;
  /** Child fd on which bwrap reports `{"child-pid"}`, or null (then the direct child is the agent). */
  statusFd: number | null;
  /** Child fd of the wrapper's cgroup gate (a pipe; {@link AgentLaunch.admit} opens it), or null without cgroups. */
  gateFd: number | null;
  /** The socket path as the agent sees it. */
  socketPath: string;
  cgroup: AgentCgroup | null;
  /** Closes the parent's copy of the seccomp program fd; call right after spawn(). */
  afterSpawn(): void;
  /**
   * Moves the spawned child (the root wrapper, blocked on its gate) into the agent's cgroups and
   * opens the gate; call right after spawn(). Nothing of the chain after the wrapper (setpriv,
   * bwrap, agent-host) starts before every write has succeeded. On failure the gate is closed
   * without the word (the wrapper exits 111) and the error is rethrown. Resolves at once when
   * there is no gate (no cgroups).
   */
  admit(child: ChildProcess): Promise<void>;
  /** Classifies the exit from the process result and the cgroup counters. */
  classify(exit: { code: number | null; signal: NodeJS.Signals | null }, stopRequested: boolean): Promise<ExitClassification>;
  /** SIGKILLs the whole tree through the cgroup; false when there is no cgroup. */
  killTree(): Promise<boolean>;
  /** Kills leftovers and removes the agent's cgroups. Idempotent. */
  cleanup(): Promise<void>;
}


/**
 * The supervisor's side of agent containment: probes the host once, plans the sandbox mode in
 * the fixed fallback order, writes the generated seccomp program, and turns each agent start
 * into a sandbox command with per-agent cgroups, a capped home and exit classification.
 */
/**
 * CFS period of agent cgroups, µs. With the kernel's default 100 ms period a throttled agent can
 * hold a core for its whole quota (e.g. 50 ms) at once and stall its neighbours' latency by that
 * much; a 10 ms period caps such a burst at a tenth, at a negligible scheduling cost.
 */
const AGENT_CPU_PERIOD_US = 10_000;

export class AgentSandbox {
  readonly plan: SandboxPlan;
  readonly #runtime: NodeRuntime;
  readonly #filterPath: string | null;
  readonly #cgroups: CgroupManager | null;
  readonly #config: DaemonConfig['sandbox'];
  readonly #logger: Logger;
  readonly #counters: SandboxCounters = {
    exits: { clean: 0, crash: 0, signal: 0, oom: 0, limit: 0 },
    refusedHighTier: 0,
  };
  readonly #cgroupDirs = new Set<string>();
  readonly #homeTools: HomeTools | null;
  /** Home images this daemon mounted (mount point → the mount in flight or done). */
  readonly #homeMounts = new Map<string, Promise<void>>();

  private constructor(
    plan: SandboxPlan,
    runtime: NodeRuntime,
    filterPath: string | null,
    cgroups: CgroupManager | null,
    homeTools: HomeTools | null,
    opts: AgentSandboxOptions,
  ) {
    this.plan = plan;
    this.#homeTools = homeTools;
    this.#runtime = runtime;
    this.#filterPath = filterPath;
    this.#cgroups = cgroups;
    this.#config = opts.config;
    this.#logger = opts.logger;
  }

  /** Probes the host, plans the mode (missing layers are logged at warn) and writes the seccomp program. */
  static async create(opts: AgentSandboxOptions): Promise<AgentSandbox> {
    const probe = await probeSandbox({ logger: opts.logger });
    const plan = planSandbox(probe, { logger: opts.logger, namespaces: opts.config.namespaces });
    const runtime = await detectNodeRuntime();
    let filterPath: string | null = null;
    if (plan.layers.seccomp.active && probe.seccompArch !== null) {
      filterPath = join(opts.stateDir, 'seccomp.bpf');
      await writeFileAtomic(filterPath, generateSeccompFilter(probe.seccompArch, { unixSocketsOnly: true }), 0o600);
    }
    const cgroups =
      probe.isRoot && probe.cgroups !== null
        ? new CgroupManager({ layout: probe.cgroups, logger: opts.logger, parent: opts.cgroupParent ?? 'eosd' })
        : null;
    const homeTools = probe.isRoot && probe.homeImage && opts.config.homeQuota ? await findHomeTools() : null;
    if (homeTools === null) {
      opts.logger.warn({ layer: 'home_quota' }, 'sandbox layer unavailable: agent homes are capped only by the host disk');
    } else {
      // A daemon killed with SIGKILL leaves its agents' home mounts behind (its agents died with it).
      for (const mountPoint of await homeMountsUnder(join(opts.stateDir, 'agents'))) {
        opts.logger.info({ mountPoint }, 'unmounting an agent home left by an earlier daemon');
        await unmountHome(mountPoint, homeTools, opts.logger);
      }
    }
    return new AgentSandbox(plan, runtime, filterPath, cgroups, homeTools, opts);
  }

  /** CPU and memory of an agent's cgroup (the whole tree inside its sandbox); null without cgroups or when it has none now. */
  async usage(agentId: string): Promise<{ cpuSeconds: number; memoryBytes: number } | null> {
    if (this.#cgroups === null) {
      return null;
    }
    try {
      const u = await this.#cgroups.open(agentId).readUsage();
      if (u.cpuUsageNs === null && u.memoryBytes === null) {
        return null;
      }
      return { cpuSeconds: (u.cpuUsageNs ?? 0) / 1e9, memoryBytes: u.memoryBytes ?? 0 };
    } catch (err) {
      // The agent's cgroup is removed when it stops: no usage to report then.
      this.#logger.debug({ err, agentId }, 'no cgroup usage');
      return null;
    }
  }

  /** What `eosd status --json` exports: the plan's layers, what is missing, and exit counters. */
  status(): SandboxStatus {
    return {
      ...doctorReport(this.plan),
      missing: [...this.plan.missing],
      allowDegradedHighTier: this.#config.allowDegradedHighTier,
      counters: { exits: { ...this.#counters.exits }, refusedHighTier: this.#counters.refusedHighTier },
    };
  }

  /**
   * Refuses a HIGH-tier agent without the full sandbox unless the operator allowed it.
   * @throws EosError `EOS_SANDBOX_UNAVAILABLE`
   */
  assertAllowed(spec: AgentSpec): void {
    try {
      assertSandboxAllowed(
        this.plan,
        { id: spec.id, tier: spec.tier.toUpperCase() as 'LOW' | 'MEDIUM' | 'HIGH' },
        { allowDegradedHighTier: this.#config.allowDegradedHighTier, logger: this.#logger },
      );
    } catch (err) {
      this.#counters.refusedHighTier++;
      throw err;
    }
  }

  /** Whether bwrap runs the agent (then paths inside differ for the socket and the home). */
  get usesBwrap(): boolean {
    return this.plan.mode === 'userns' || this.plan.mode === 'root-bwrap' || this.plan.mode === 'rootless-bwrap';
  }

  /**
   * Creates the agent's disk-capped home image (sparse ext4, no reserved blocks, root owned by
   * the agent) when enabled and possible; an existing image is kept. It is mounted on the home at
   * the agent's first start (see {@link AgentSandbox.launch}) and stays mounted until
   * {@link AgentSandbox.releaseHome} or {@link AgentSandbox.close}.
   * @returns the image path, or null when the home is a plain directory.
   * @throws EosError `EOS_AGENT_SPAWN_FAILED` when mkfs fails.
   */
  async prepareHome(spec: AgentSpec, agentStateDir: string, uid: number | undefined): Promise<string | null> {
    const tools = this.#homeTools;
    if (tools === null || uid === undefined) {
      return null;
    }
    const image = join(agentStateDir, 'home.img');
    try {
      await stat(image);
      return image;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw err;
      }
    }
    try {
      await writeFile(image, '', { mode: 0o600, flag: 'wx' });
      await truncate(image, spec.limits.homeBytes);
      await execFileAsync(tools.mkfs, ['-q', '-F', '-m', '0', '-E', `root_owner=${uid}:${uid}`, image]);
    } catch (err) {
      throw new EosError('EOS_AGENT_SPAWN_FAILED', `cannot create the home image ${image} for agent ${spec.id}`, { cause: err });
    }
    return image;
  }

  /** Counts an exit kind for the status export. */
  countExit(kind: ExitKind): void {
    this.#counters.exits[kind]++;
  }

  /**
   * Creates the agent's cgroups and builds the sandbox command for one start.
   * @throws EosError `EOS_AGENT_SPAWN_FAILED` when the cgroups cannot be created.
   */
  async launch(req: LaunchRequest): Promise<AgentLaunch> {
    const { spec } = req;
    const bw = this.usesBwrap;
    const uid = req.uid ?? process.getuid?.() ?? 0;
    const cgroup =
      this.#cgroups === null
        ? null
        : await this.#cgroups.create(spec.id, {
            memoryBytes: spec.limits.memoryBytes,
            pidsMax: spec.limits.pids,
            cpuQuotaPercent: spec.limits.cpuPercent,
            cpuPeriodUs: AGENT_CPU_PERIOD_US,
          });
    for (const p of cgroup?.paths ?? []) {
      this.#cgroupDirs.add(dirname(p));
    }
    // The counters' baseline for classify (OOM kills, pids.max hits): read while the command is
    // built and spawned, and settled in admit before the wrapper's pid enters the cgroups, so it
    // still counts nothing of this start.
    const usageBefore: Promise<CgroupUsage | null> =
      cgroup === null
        ? Promise.resolve(null)
        : cgroup.readUsage().catch((err: unknown) => {
            this.#logger.warn({ err, agentId: spec.id }, 'cannot read the cgroup counters before the start');
            return null;
          });
    const home = bw ? SANDBOX_HOME : req.homeDir;
    const socketPath = bw ? join(SANDBOX_SOCKET_DIR, 'agent.sock') : join(req.socketDir, 'agent.sock');
    const heapMiB = Math.max(16, Math.floor((spec.limits.memoryBytes / (1024 * 1024)) * 0.75));
    const probe = this.plan.probe;
    const cacheFile = req.codeCache === undefined || req.codeCache === null ? null : await req.codeCache.pathFor(heapMiB);
    // The cache file alone, at a fixed path: binding it at its host path would make the state
    // directory's path (and its listing) exist inside the sandbox.
    const cacheBind = cacheFile === null ? null : { host: cacheFile, sandbox: bw ? SANDBOX_CODE_CACHE : cacheFile };
    const tools = this.#homeTools;
    if (tools !== null && req.homeImage !== null) {
      try {
        await this.#mountHome(spec, req.homeImage, req.homeDir, uid, tools);
      } catch (err) {
        // No AgentLaunch (and so no cleanup) follows: remove the cgroups made for this start.
        await cgroup?.remove().catch((rmErr: unknown) => this.#logger.warn({ err: rmErr, agentId: spec.id }, 'cannot remove the cgroups of a failed start'));
        throw err;
      }
    }
    const cmd = buildSandboxCommand({
      mode: this.plan.mode,
      tools: { sh: '/bin/sh', setpriv: probe.setprivPath, bwrap: probe.bwrap?.path ?? null },
      uid,
      gid: uid,
      // The supervisor moves the wrapper into the cgroups (admit) while it starts.
      cgroupProcsFiles: [],
      cgroupGate: cgroup !== null,
      runtime: this.#runtime,
      readOnlyPaths: [...req.readOnlyDirs.map((host) => ({ host })), ...(cacheBind === null ? [] : [cacheBind])],
      home: { host: req.homeDir, sandbox: SANDBOX_HOME },
      socketDir: bw ? { host: req.socketDir, sandbox: SANDBOX_SOCKET_DIR } : null,
      tmpfsSizeBytes: spec.limits.tmpBytes,
      seccomp: this.#filterPath !== null,
      statusFd: true,
      keepFds: [3],
      env: { PATH: '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8' },
      program: {
        kind: 'node',
        script: req.script,
        args: cacheBind === null ? [] : [`--code-cache=${cacheBind.sandbox}`],
        maxOldSpaceSizeMb: heapMiB,
        permissions: spec.sandbox.nodePermissions && probe.nodePermissions,
      },
    });
    const stdio: StdioOptions = ['ignore', 'pipe', 'pipe', 'pipe'];
    for (let fd = 4; fd < cmd.stdioLength; fd++) {
      stdio.push('ignore');
    }
    let seccompFd: number | null = null;
    if (cmd.fds.seccomp !== null && this.#filterPath !== null) {
      seccompFd = openSync(this.#filterPath, 'r');
      stdio[cmd.fds.seccomp] = seccompFd;
    }
    if (cmd.fds.status !== null) {
      stdio[cmd.fds.status] = 'pipe';
    }
    const gateFd = cmd.fds.gate;
    if (gateFd !== null) {
      stdio[gateFd] = 'pipe';
    }
    const logger = this.#logger;
    let cleaned = false;
    const closeSeccomp = (): void => {
      if (seccompFd !== null) {
        closeSync(seccompFd);
        seccompFd = null;
      }
    };
    return {
      file: cmd.file,
      args: cmd.args,
      env: cmd.env,
      stdio,
      statusFd: cmd.fds.status,
      gateFd,
      socketPath,
      cgroup,
      afterSpawn: closeSeccomp,
      async admit(child) {
        if (gateFd === null || cgroup === null) {
          return;
        }
        const gate = child.stdio[gateFd] as Writable | null | undefined;
        if (gate === null || gate === undefined || child.pid === undefined) {
          throw new EosError('EOS_AGENT_SPAWN_FAILED', `agent ${spec.id}: no process or gate pipe to admit into the cgroups`);
        }
        gate.on('error', (err) => logger.debug({ err, agentId: spec.id }, 'cgroup gate pipe error'));
        try {
          await usageBefore;
          await cgroup.admit(child.pid);
        } catch (err) {
          gate.destroy();
          throw new EosError('EOS_AGENT_SPAWN_FAILED', `cannot move agent ${spec.id} into its cgroups`, { cause: err });
        }
        gate.end(`${CGROUP_GATE_WORD}\n`);
      },
      async classify(exit, stopRequested) {
        const before = await usageBefore;
        const after = cgroup === null ? null : await cgroup.readUsage();
        return classifyExit({
          code: exit.code,
          signal: exit.signal,
          codeEncodesSignal: bw,
          oomKillsBefore: before?.oomKills ?? null,
          oomKillsAfter: after?.oomKills ?? null,
          pidsMaxEventsBefore: before?.pidsMaxEvents ?? null,
          pidsMaxEventsAfter: after?.pidsMaxEvents ?? null,
          stopRequested,
        });
      },
      async killTree() {
        if (cgroup === null) {
          return false;
        }
        await cgroup.kill();
        return true;
      },
      async cleanup() {
        closeSeccomp();
        if (cleaned || cgroup === null) {
          return;
        }
        cleaned = true;
        try {
          await cgroup.kill();
          await cgroup.remove();
        } catch (err) {
          logger.warn({ err, agentId: spec.id }, 'cannot clean up the agent cgroups');
        }
      },
    };
  }

  /**
   * Mounts the agent's home image on its home once (in the daemon's mount namespace; the home's
   * parents are root's state directory, and only this agent's sandbox binds it): attach a loop
   * device, clear a stale read-only flag, mount `rw,nosuid,nodev,noexec`, check `rw`. Later
   * starts reuse the mount.
   */
  async #mountHome(spec: AgentSpec, image: string, homeDir: string, uid: number, tools: HomeTools): Promise<void> {
    let mounted = this.#homeMounts.get(homeDir);
    if (mounted === undefined) {
      mounted = mountHomeImage({
        imagePath: image,
        mountPoint: homeDir,
        sizeBytes: spec.limits.homeBytes,
        uid,
        gid: uid,
        logger: this.#logger,
        mkfsPath: tools.mkfs,
        mountPath: tools.mount,
        umountPath: tools.umount,
        losetupPath: tools.losetup,
        blockdevPath: tools.blockdev,
      });
      this.#homeMounts.set(homeDir, mounted);
      void mounted.catch(() => this.#homeMounts.delete(homeDir));
    }
    await mounted;
  }

  /**
   * Unmounts an agent's home image (the loop device is freed with it); call when the agent is
   * removed, after its processes are gone. A home this daemon did not mount is left alone.
   */
  async releaseHome(homeDir: string): Promise<void> {
    const mounted = this.#homeMounts.get(homeDir);
    const tools = this.#homeTools;
    if (mounted === undefined || tools === null) {
      return;
    }
    this.#homeMounts.delete(homeDir);
    try {
      await mounted;
    } catch (err) {
      this.#logger.debug({ err, homeDir }, 'home was never mounted');
      return;
    }
    await unmountHome(homeDir, tools, this.#logger);
  }

  /** Unmounts the homes this daemon mounted and removes its parent cgroups (agents must be gone). */
  async close(): Promise<void> {
    for (const homeDir of [...this.#homeMounts.keys()]) {
      try {
        await this.releaseHome(homeDir);
      } catch (err) {
        this.#logger.warn({ err, homeDir }, 'cannot unmount an agent home');
      }
    }
    for (const dir of this.#cgroupDirs) {
      try {
        await rmdir(dir);
      } catch (err) {
        this.#logger.debug({ err, dir }, 'parent cgroup not removed');
      }
    }
  }
}
