import { posix } from 'node:path';
import type { NodeRuntime } from './node-runtime.js';

/**
 * How an agent is contained, in the fixed fallback order (see `planSandbox`):
 * - `userns` (Mode U): root sh cgroup-join → setpriv (agent uid) → unprivileged bwrap with all
 *   namespaces incl. user, nested userns disabled → seccomp → node.
 * - `root-bwrap` (Mode R): root sh → root bwrap (ipc/pid/net/uts/cgroup/mount ns, no userns) →
 *   seccomp → setpriv → node. Seccomp is what stops the agent creating a user namespace.
 * - `uid-only` (Mode D): root sh → setpriv → node. No namespaces, no seccomp.
 * - `rootless-bwrap` (Mode N): non-root bwrap with userns; agents share the operator's uid.
 * - `process` (Mode P): plain node with a cleared env. Not a security boundary.
 */
export type SandboxMode = 'userns' | 'root-bwrap' | 'uid-only' | 'rootless-bwrap' | 'process';

/** A host path made visible in the sandbox. */
export interface SandboxBind {
  host: string;
  /** Path inside the sandbox. @defaultValue same as `host` */
  sandbox?: string;
}

/** What the sandboxed process runs. */
export type SandboxProgram =
  | {
      kind: 'node';
      /** Entry script, as a path inside the sandbox. */
      script: string;
      args?: readonly string[];
      /** V8 old-space cap in MiB (keep below the cgroup memory limit). */
      maxOldSpaceSizeMb: number;
      /** Node's permission model (fs allowlist, no child processes/workers/addons). */
      permissions: boolean;
      /** More paths (inside the sandbox) Node may read, e.g. `/proc/self/status` for diagnostics. */
      extraReadPaths?: readonly string[];
    }
  | {
      /** Any binary (which must be bound read-only); no Node permission layer. For tests and tools. */
      kind: 'exec';
      argv: readonly string[];
    };

/** Input of {@link buildSandboxCommand}. Paths are host paths unless said otherwise. */
export interface SandboxCommandSpec {
  mode: SandboxMode;
  tools: { sh: string; setpriv: string | null; bwrap: string | null };
  /** Agent uid/gid (root modes only). */
  uid: number;
  gid: number;
  /** `cgroup.procs` files the wrapper joins before exec (from `AgentCgroup.procsFiles()`); may be empty. */
  cgroupProcsFiles: readonly string[];
  /**
   * Instead of joining `cgroupProcsFiles` itself, the root wrapper blocks on a gate pipe (child fd
   * `fds.gate`) before it execs the rest of the chain: the caller moves the wrapper's pid (the
   * spawned child's pid) into the agent's cgroups and then writes `go\n` (`AgentLaunch.admit`).
   * The slow first `cgroup.procs` write then overlaps the wrapper's start instead of running in
   * series. EOF or anything else on the gate: exit 111, nothing ran.
   * @defaultValue false
   */
  cgroupGate?: boolean;
  /** Resource fallbacks applied by the wrapper with `ulimit` when cgroups are missing. */
  rlimits?: { addressSpaceKiB?: number; nproc?: number };
  runtime: NodeRuntime;
  /** Read-only binds: the agent package, its dependencies, the agent-host code. Node may read them. */
  readOnlyPaths: readonly SandboxBind[];
  /** The agent's own writable home. @defaultValue sandbox path `/home/agent` */
  home: SandboxBind;
  /** The agent's socket directory, bound read-only. @defaultValue sandbox path `/run/eos` */
  socketDir: SandboxBind | null;
  /** Size cap of the private tmpfs `/tmp`, bytes. */
  tmpfsSizeBytes: number;
  /** Whether the caller passes a seccomp BPF program on an fd (bwrap modes). */
  seccomp: boolean;
  /** Whether bwrap should report `{"child-pid"}` / `{"exit-code"}` JSON on an fd. */
  statusFd: boolean;
  /** Child fd numbers the caller already uses (e.g. 3 for the bootstrap pipe); never reused here. */
  keepFds: readonly number[];
  /** The complete environment of the sandboxed program (nothing else is inherited). */
  env: Readonly<Record<string, string>>;
  program: SandboxProgram;
}

/** Output of {@link buildSandboxCommand}: what to pass to `child_process.spawn`. */
export interface SandboxCommand {
  file: string;
  args: string[];
  /** The env for spawn() itself (wrappers see it; bwrap modes replace it with `spec.env`). */
  env: Record<string, string>;
  /** Child fd numbers this command reads: put the seccomp program / status pipe / gate pipe there. */
  fds: { seccomp: number | null; status: number | null; gate: number | null };
  /** Minimum `stdio` array length: 1 + the highest child fd in use. */
  stdioLength: number;
}

/** Exit code of the wrapper when joining a cgroup failed (nothing of the agent ran). */
export const CGROUP_JOIN_FAILED_EXIT_CODE = 111;

const DEFAULT_HOME = '/home/agent';
const DEFAULT_SOCKET_DIR = '/run/eos';
const WRAPPER_PATH = '/usr/bin:/bin';

/**
 * `$1` = number of cgroup.procs files, then the files, then the command. Writing `$$` moves the
 * shell itself, so everything it execs starts inside the cgroups (no window to escape a limit).
 */
const JOIN_SCRIPT =
  'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 111; shift; n=$((n-1)); done; exec "$@"';

/** The word the caller writes on the gate once the wrapper's pid is in every agent cgroup. */
export const CGROUP_GATE_WORD = 'go';

/**
 * Blocks until the caller has moved `$$` into the cgroups and says so on fd `fd`; closes the fd
 * for the rest of the chain. `read` is a shell builtin: no process is forked before the move.
 */
function gateScript(fd: number): string {
  return `read -r eosd_gate <&${fd} && [ "$eosd_gate" = ${CGROUP_GATE_WORD} ] || exit 111; exec "$@" ${fd}<&-`;
}

function sandboxPath(b: SandboxBind): string {
  return b.sandbox ?? b.host;
}

function allocateFds(keep: readonly number[], count: number): number[] {
  const out: number[] = [];
  for (let fd = 3; out.length < count; fd++) {
    if (!keep.includes(fd)) {
      out.push(fd);
    }
  }
  return out;
}

function usesBwrap(mode: SandboxMode): boolean {
  return mode === 'userns' || mode === 'root-bwrap' || mode === 'rootless-bwrap';
}

function setprivArgs(spec: SandboxCommandSpec): string[] {
  if (spec.tools.setpriv === null) {
    throw new TypeError(`mode ${spec.mode} needs setpriv`);
  }
  return [
    spec.tools.setpriv,
    '--no-new-privs',
    `--reuid=${spec.uid}`,
    `--regid=${spec.gid}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--pdeathsig=KILL',
    '--',
  ];
}

function nodeArgv(spec: SandboxCommandSpec, inSandbox: boolean): string[] {
  const p = spec.program;
  if (p.kind === 'exec') {
    return [...p.argv];
  }
  const argv = [spec.runtime.nodePath];
  if (p.permissions) {
    const home = inSandbox ? sandboxPath({ ...spec.home, sandbox: spec.home.sandbox ?? DEFAULT_HOME }) : spec.home.host;
    const tmp = inSandbox ? '/tmp' : null;
    const read = [...spec.readOnlyPaths.map((b) => (inSandbox ? sandboxPath(b) : b.host)), home, ...(p.extraReadPaths ?? [])];
    const write = [home];
    if (tmp !== null) {
      read.push(tmp);
      write.push(tmp);
    }
    // Node 20.20: one flag per path; the comma form is taken as a single path.
    argv.push('--experimental-permission', '--no-warnings');
    argv.push(...read.map((r) => `--allow-fs-read=${r}`), ...write.map((w) => `--allow-fs-write=${w}`));
  }
  argv.push(`--max-old-space-size=${p.maxOldSpaceSizeMb}`, p.script, ...(p.args ?? []));
  return argv;
}

interface MountPlan {
  dirs: string[];
  binds: { flag: '--ro-bind' | '--bind'; host: string; dest: string }[];
}

function planMounts(spec: SandboxCommandSpec, extraRo: readonly SandboxBind[]): MountPlan {
  const home = spec.home.sandbox ?? DEFAULT_HOME;
  const binds: MountPlan['binds'] = [
    { flag: '--ro-bind', host: spec.runtime.nodePath, dest: spec.runtime.nodePath },
    ...spec.runtime.libDirs.map((d) => ({ flag: '--ro-bind' as const, host: d, dest: d })),
    ...extraRo.map((b) => ({ flag: '--ro-bind' as const, host: b.host, dest: sandboxPath(b) })),
    ...spec.readOnlyPaths.map((b) => ({ flag: '--ro-bind' as const, host: b.host, dest: sandboxPath(b) })),
    { flag: '--bind', host: spec.home.host, dest: home },
  ];
  if (spec.socketDir !== null) {
    binds.push({ flag: '--ro-bind', host: spec.socketDir.host, dest: spec.socketDir.sandbox ?? DEFAULT_SOCKET_DIR });
  }
  const dedup = new Map(binds.map((b) => [b.dest, b]));
  const ordered = [...dedup.values()].sort(
    (a, b) => a.dest.split('/').length - b.dest.split('/').length || a.dest.localeCompare(b.dest),
  );
  const dests = ordered.map((b) => b.dest);
  const covered = (p: string): boolean => dests.some((d) => p === d || p.startsWith(`${d}/`));
  const symlinkPaths = new Set(spec.runtime.symlinks.map((s) => s.path));
  const dirs = new Set<string>();
  for (const d of [...dests, '/tmp']) {
    for (let p = posix.dirname(d); p !== '/'; p = posix.dirname(p)) {
      if (!covered(p) && !symlinkPaths.has(p)) {
        dirs.add(p);
      }
    }
  }
  return {
    dirs: [...dirs].sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b)),
    binds: ordered,
  };
}

function bwrapArgs(spec: SandboxCommandSpec, fds: SandboxCommand['fds']): string[] {
  if (spec.tools.bwrap === null) {
    throw new TypeError(`mode ${spec.mode} needs bwrap`);
  }
  const args = [spec.tools.bwrap];
  if (spec.mode === 'root-bwrap') {
    args.push('--unshare-ipc', '--unshare-pid', '--unshare-net', '--unshare-uts', '--unshare-cgroup');
  } else {
    // --disable-userns needs an explicit --unshare-user (bwrap 0.8).
    args.push('--unshare-all', '--unshare-user', '--disable-userns');
  }
  args.push('--die-with-parent', '--new-session', '--clearenv');
  for (const [k, v] of Object.entries(spec.env)) {
    args.push('--setenv', k, v);
  }
  const extraRo =
    spec.mode === 'root-bwrap' && spec.tools.setpriv !== null ? [{ host: spec.tools.setpriv }] : [];
  const plan = planMounts(spec, extraRo);
  // The private /tmp first: binds below /tmp (a package kept there) must land on top of it.
  args.push('--size', String(spec.tmpfsSizeBytes), '--perms', '1777', '--tmpfs', '/tmp');
  // As root, bwrap creates missing mount-point parents with mode 0700; the agent uid could not
  // traverse them. Create them 0755 first.
  for (const d of plan.dirs) {
    args.push('--perms', '0755', '--dir', d);
  }
  for (const s of spec.runtime.symlinks) {
    args.push('--symlink', s.target, s.path);
  }
  for (const b of plan.binds) {
    args.push(b.flag, b.host, b.dest);
  }
  args.push('--dev', '/dev', '--proc', '/proc');
  args.push('--chdir', spec.home.sandbox ?? DEFAULT_HOME);
  if (fds.seccomp !== null) {
    args.push('--seccomp', String(fds.seccomp));
  }
  if (fds.status !== null) {
    args.push('--json-status-fd', String(fds.status));
  }
  args.push('--');
  return args;
}

/**
 * Builds the argv of the sandbox chain for `spec.mode` (see {@link SandboxMode}):
 * `sh` cgroup-join wrapper → `setpriv` → `bwrap` → `node --experimental-permission ...`, or the
 * degraded variant. Pure: it only computes strings; the caller spawns with
 * `spawn(cmd.file, cmd.args, { env: cmd.env, stdio })`, placing the seccomp program (a readable
 * fd of exactly the BPF bytes) at `cmd.fds.seccomp` and a pipe at `cmd.fds.status`; the
 * `keepFds` it already uses are never assigned here.
 */
export function buildSandboxCommand(spec: SandboxCommandSpec): SandboxCommand {
  const bw = usesBwrap(spec.mode);
  const gate = spec.cgroupGate === true;
  if (gate && spec.cgroupProcsFiles.length > 0) {
    throw new TypeError('cgroupGate and cgroupProcsFiles exclude each other: with the gate the caller joins the cgroups');
  }
  const want = [bw && spec.seccomp, bw && spec.statusFd, gate];
  const allocated = allocateFds(spec.keepFds, want.filter(Boolean).length);
  const fds: SandboxCommand['fds'] = {
    seccomp: want[0] === true ? (allocated.shift() ?? null) : null,
    status: want[1] === true ? (allocated.shift() ?? null) : null,
    gate: want[2] === true ? (allocated.shift() ?? null) : null,
  };
  let chain: string[];
  switch (spec.mode) {
    case 'userns':
      chain = [...setprivArgs(spec), ...bwrapArgs(spec, fds), ...nodeArgv(spec, true)];
      break;
    case 'root-bwrap':
      chain = [...bwrapArgs(spec, fds), ...setprivArgs(spec), ...nodeArgv(spec, true)];
      break;
    case 'rootless-bwrap':
      chain = [...bwrapArgs(spec, fds), ...nodeArgv(spec, true)];
      break;
    case 'uid-only':
      chain = [...setprivArgs(spec), ...nodeArgv(spec, false)];
      break;
    case 'process':
      chain = nodeArgv(spec, false);
      break;
  }
  const prefix: string[] = [];
  const rl = spec.rlimits ?? {};
  if (gate || spec.cgroupProcsFiles.length > 0 || rl.addressSpaceKiB !== undefined || rl.nproc !== undefined) {
    // dash: -v = RLIMIT_AS in KiB, -p = RLIMIT_NPROC (per uid: useful only with a unique uid).
    const limits = [
      rl.addressSpaceKiB === undefined ? '' : `ulimit -v ${Math.trunc(rl.addressSpaceKiB)} || exit 111; `,
      rl.nproc === undefined ? '' : `ulimit -p ${Math.trunc(rl.nproc)} || exit 111; `,
    ].join('');
    if (fds.gate !== null) {
      prefix.push(spec.tools.sh, '-c', limits + gateScript(fds.gate), 'eosd-gate');
    } else {
      prefix.push(spec.tools.sh, '-c', limits + JOIN_SCRIPT, 'eosd-cgjoin', String(spec.cgroupProcsFiles.length), ...spec.cgroupProcsFiles);
    }
  }
  const full = [...prefix, ...chain];
  const [file, ...args] = full;
  if (file === undefined) {
    throw new TypeError('empty sandbox command');
  }
  const env = bw ? { PATH: WRAPPER_PATH } : { ...spec.env };
  const highest = Math.max(2, ...spec.keepFds, fds.seccomp ?? 0, fds.status ?? 0, fds.gate ?? 0);
  return { file, args, env, fds, stdioLength: highest + 1 };
}
