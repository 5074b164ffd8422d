import { execFile } from 'node:child_process';
import { access, constants as fsConstants, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EosError } from '@everythingos/proto';
import type { Logger } from 'pino';
import type { SandboxMode } from './build-sandbox-command.js';
import { detectCgroupLayout, type CgroupLayout } from './cgroup-layout.js';
import { currentSeccompArch, type SeccompArch } from './seccomp-filter.js';

const execFileAsync = promisify(execFile);

/** What {@link probeSandbox} found on this host. */
export interface SandboxProbe {
  isRoot: boolean;
  /** Seccomp syscall table for this CPU, or null (then no seccomp layer). */
  seccompArch: SeccompArch | null;
  /** Whether the kernel has seccomp filtering (`Seccomp:` in /proc/self/status). */
  kernelSeccomp: boolean;
  setprivPath: string | null;
  bwrap: { path: string; version: string } | null;
  /** Whether an unprivileged user namespace could actually be created (tried with bwrap). */
  usernsUsable: boolean;
  usernsDetail: string;
  /** cgroup layout, or null when no cgroup fs is mounted. */
  cgroups: CgroupLayout | null;
  /** Whether node accepts `--experimental-permission`. */
  nodePermissions: boolean;
  /** Whether a loop-mounted ext4 home image can be made (root, mkfs.ext4, mount). */
  homeImage: boolean;
}

/** Options for {@link probeSandbox}. */
export interface ProbeSandboxOptions {
  logger: Logger;
  /** uid/gid the user-namespace trial runs as when root. @defaultValue 65534 */
  probeUid?: number;
  probeGid?: number;
  /** Directories searched for setpriv, bwrap, mkfs.ext4, mount. */
  searchPath?: readonly string[];
  /** Timeout of each trial process, ms. @defaultValue 5000 */
  timeoutMs?: number;
}

const DEFAULT_SEARCH_PATH = ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin'];
const PROBE_NOBODY_ID = 65534;
const DEFAULT_PROBE_TIMEOUT_MS = 5_000;

async function findExecutable(name: string, dirs: readonly string[]): Promise<string | null> {
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      await access(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // Not in this directory (or not executable): keep searching; null at the end says "absent".
    }
  }
  return null;
}

function errorText(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  return (e.stderr ?? '').trim() || (e.message ?? String(err));
}

/**
 * Probes which sandbox layers this host offers. Run once at daemon start (it spawns a few short
 * trial processes, about 100 ms in total): tools, root, a real user-namespace creation through
 * bwrap as an unprivileged uid, the cgroup layout (v1/v2 per controller, v2 core kill), seccomp,
 * Node's permission flag and the home-image tools.
 */
export async function probeSandbox(options: ProbeSandboxOptions): Promise<SandboxProbe> {
  const dirs = options.searchPath ?? DEFAULT_SEARCH_PATH;
  const timeout = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const isRoot = process.getuid?.() === 0;
  const setprivPath = await findExecutable('setpriv', dirs);
  const bwrapPath = await findExecutable('bwrap', dirs);
  let bwrap: SandboxProbe['bwrap'] = null;
  if (bwrapPath !== null) {
    try {
      const { stdout } = await execFileAsync(bwrapPath, ['--version'], { timeout });
      bwrap = { path: bwrapPath, version: stdout.trim().replace(/^bubblewrap\s+/, '') };
    } catch (err) {
      options.logger.warn({ err, bwrapPath }, 'bwrap is present but does not run');
    }
  }
  let usernsUsable = false;
  let usernsDetail = 'bwrap not available';
  if (bwrap !== null) {
    const trial = [bwrap.path, '--unshare-user', '--unshare-net', '--ro-bind', '/', '/', '/bin/true'];
    const argv =
      isRoot && setprivPath !== null
        ? [setprivPath, `--reuid=${options.probeUid ?? PROBE_NOBODY_ID}`, `--regid=${options.probeGid ?? PROBE_NOBODY_ID}`, '--clear-groups', '--', ...trial]
        : trial;
    if (isRoot && setprivPath === null) {
      usernsDetail = 'setpriv not available to test userns as an unprivileged uid';
    } else {
      try {
        await execFileAsync(argv[0] ?? '', argv.slice(1), { timeout, env: {} });
        usernsUsable = true;
        usernsDetail = 'unprivileged user namespace created';
      } catch (err) {
        usernsDetail = `user namespace creation failed: ${errorText(err)}`;
      }
    }
  }
  let cgroups: CgroupLayout | null = null;
  try {
    cgroups = await detectCgroupLayout();
  } catch (err) {
    options.logger.warn({ err }, 'cannot read the cgroup layout');
  }
  const status = await readFile('/proc/self/status', 'utf8');
  const kernelSeccomp = /^Seccomp:\s/m.test(status);
  let nodePermissions = false;
  try {
    await execFileAsync(process.execPath, ['--experimental-permission', '--no-warnings', '-e', '0'], { timeout, env: {} });
    nodePermissions = true;
  } catch (err) {
    options.logger.debug({ err }, 'node rejected --experimental-permission');
  }
  const mkfs = await findExecutable('mkfs.ext4', dirs);
  const mount = await findExecutable('mount', dirs);
  return {
    isRoot,
    seccompArch: currentSeccompArch(),
    kernelSeccomp,
    setprivPath,
    bwrap,
    usernsUsable,
    usernsDetail,
    cgroups,
    nodePermissions,
    homeImage: isRoot && mkfs !== null && mount !== null,
  };
}

/** One row of the doctor report. */
export interface LayerStatus {
  active: boolean;
  detail: string;
}

/** Layers reported by `eosd doctor`, in report order. */
export const SANDBOX_LAYERS = [
  'uid',
  'capabilities',
  'no_new_privs',
  'clear_env',
  'netns',
  'pidns',
  'mntns',
  'ipcns',
  'utsns',
  'cgroupns',
  'nested_userns_blocked',
  'seccomp',
  'tmpfs_tmp',
  'cgroup_memory',
  'cgroup_pids',
  'cgroup_cpu',
  'cgroup_kill',
  'home_quota',
  'node_permissions',
] as const;
/** Name of one sandbox layer. */
export type SandboxLayer = (typeof SANDBOX_LAYERS)[number];

/** Layers without which an agent does not run in the "full sandbox". */
export const REQUIRED_LAYERS: readonly SandboxLayer[] = [
  'uid',
  'capabilities',
  'no_new_privs',
  'clear_env',
  'netns',
  'pidns',
  'mntns',
  'ipcns',
  'utsns',
  'nested_userns_blocked',
  'seccomp',
  'tmpfs_tmp',
  'cgroup_memory',
  'cgroup_pids',
  'cgroup_cpu',
  'node_permissions',
];

/** The fixed fallback order; the first mode whose prerequisites hold is used. */
export const SANDBOX_FALLBACK_ORDER: readonly SandboxMode[] = ['userns', 'root-bwrap', 'uid-only', 'rootless-bwrap', 'process'];

/** The decision made from a probe: which mode and which layers agents get. */
export interface SandboxPlan {
  mode: SandboxMode;
  layers: Readonly<Record<SandboxLayer, LayerStatus>>;
  /** Required layers that are not active (empty = full sandbox). */
  missing: readonly SandboxLayer[];
  probe: SandboxProbe;
}

function chooseMode(p: SandboxProbe, namespaces: boolean): SandboxMode {
  if (!namespaces) {
    // The operator asked for no namespaces (the testing harness): keep what needs none.
    return p.isRoot && p.setprivPath !== null ? 'uid-only' : 'process';
  }
  const canSeccomp = p.seccompArch !== null && p.kernelSeccomp;
  if (p.isRoot && p.setprivPath !== null && p.bwrap !== null && p.usernsUsable) {
    return 'userns';
  }
  // Without seccomp, Mode R would let the agent create its own user namespace: skip it.
  if (p.isRoot && p.setprivPath !== null && p.bwrap !== null && canSeccomp) {
    return 'root-bwrap';
  }
  if (p.isRoot && p.setprivPath !== null) {
    return 'uid-only';
  }
  if (!p.isRoot && p.bwrap !== null && p.usernsUsable) {
    return 'rootless-bwrap';
  }
  return 'process';
}

/**
 * Chooses the sandbox mode from a probe in the fixed order {@link SANDBOX_FALLBACK_ORDER} and
 * lists every layer's state. Logs each missing required layer at warn (once per call: call it once
 * at daemon start).
 */
export function planSandbox(probe: SandboxProbe, options: { logger: Logger; namespaces?: boolean }): SandboxPlan {
  const mode = chooseMode(probe, options.namespaces !== false);
  const bw = mode === 'userns' || mode === 'root-bwrap' || mode === 'rootless-bwrap';
  const rootDrop = mode === 'userns' || mode === 'root-bwrap' || mode === 'uid-only';
  const seccomp = bw && probe.seccompArch !== null && probe.kernelSeccomp;
  const cg = probe.cgroups;
  const cgLayer = (c: 'memory' | 'pids' | 'cpu'): LayerStatus => {
    const where = cg?.controllers[c] ?? null;
    if (!probe.isRoot) {
      return { active: false, detail: 'not root: no cgroup delegation' };
    }
    return where === null
      ? { active: false, detail: `no ${c} controller in cgroup v1 or v2` }
      : { active: true, detail: `cgroup ${where} ${c} controller` };
  };
  const nsLayer = (name: string): LayerStatus =>
    bw ? { active: true, detail: `bwrap --unshare-${name}` } : { active: false, detail: `mode ${mode} has no ${name} namespace` };
  const layers: Record<SandboxLayer, LayerStatus> = {
    uid: rootDrop
      ? { active: true, detail: 'own uid/gid per agent, no supplementary groups (setpriv)' }
      : { active: false, detail: 'not root: agents share the operator uid' },
    capabilities: rootDrop
      ? { active: true, detail: 'bounding, inheritable and effective sets empty (setpriv)' }
      : bw
        ? { active: true, detail: 'bwrap drops all capabilities' }
        : { active: false, detail: 'no capability drop' },
    no_new_privs: rootDrop || bw ? { active: true, detail: 'PR_SET_NO_NEW_PRIVS' } : { active: false, detail: 'no setpriv or bwrap' },
    clear_env: { active: true, detail: 'explicit environment only' },
    netns: bw ? { active: true, detail: 'own network namespace: loopback only' } : { active: false, detail: `mode ${mode}: host network reachable` },
    pidns: nsLayer('pid'),
    mntns: bw ? { active: true, detail: 'minimal read-only root' } : { active: false, detail: `mode ${mode}: host filesystem visible` },
    ipcns: nsLayer('ipc'),
    utsns: nsLayer('uts'),
    cgroupns: nsLayer('cgroup'),
    nested_userns_blocked:
      mode === 'root-bwrap'
        ? { active: seccomp, detail: 'seccomp denies unshare/clone(CLONE_NEW*)' }
        : bw
          ? { active: true, detail: 'bwrap --disable-userns (+ seccomp)' }
          : { active: false, detail: `mode ${mode}: agents may create user namespaces` },
    seccomp: seccomp
      ? { active: true, detail: `generated BPF filter (${probe.seccompArch ?? ''})` }
      : { active: false, detail: bw ? 'no seccomp syscall table for this CPU or kernel' : `mode ${mode} has no loader for seccomp` },
    tmpfs_tmp: bw ? { active: true, detail: 'private size-capped tmpfs /tmp' } : { active: false, detail: 'no private /tmp' },
    cgroup_memory: cgLayer('memory'),
    cgroup_pids: cgLayer('pids'),
    cgroup_cpu: cgLayer('cpu'),
    cgroup_kill:
      probe.isRoot && cg !== null && cg.v2Root !== null && cg.v2Kill
        ? { active: true, detail: 'cgroup v2 cgroup.kill' }
        : probe.isRoot && cg !== null
          ? { active: true, detail: 'v1: iterate cgroup.procs and SIGKILL' }
          : { active: false, detail: 'no cgroups: stop kills the direct child only' },
    home_quota: probe.homeImage
      ? { active: true, detail: 'loop-mounted ext4 home image available' }
      : { active: false, detail: 'home is capped only by the host disk' },
    node_permissions: probe.nodePermissions
      ? { active: true, detail: 'node --experimental-permission (seat belt, not a boundary)' }
      : { active: false, detail: 'node has no permission model' },
  };
  const missing = REQUIRED_LAYERS.filter((l) => !layers[l].active);
  for (const layer of missing) {
    options.logger.warn({ layer, mode, detail: layers[layer].detail }, 'sandbox layer unavailable');
  }
  options.logger.info({ mode, missing }, 'sandbox plan');
  return { mode, layers, missing, probe };
}

/** Risk tier of an agent, as in its manifest. */
export type AgentTier = 'LOW' | 'MEDIUM' | 'HIGH';

/**
 * Refuses a HIGH-tier agent when the plan is not the full sandbox, unless the operator passed an
 * explicit override; lower tiers run degraded (the missing layers were logged by {@link planSandbox}).
 * @throws EosError EOS_SANDBOX_UNAVAILABLE for HIGH tier without the full sandbox and no override.
 */
export function assertSandboxAllowed(
  plan: SandboxPlan,
  agent: { id: string; tier: AgentTier },
  options: { allowDegradedHighTier: boolean; logger: Logger },
): void {
  if (agent.tier !== 'HIGH' || plan.missing.length === 0) {
    return;
  }
  if (options.allowDegradedHighTier) {
    options.logger.warn({ agentId: agent.id, mode: plan.mode, missing: plan.missing }, 'high-tier agent runs in a degraded sandbox by operator override');
    return;
  }
  throw new EosError(
    'EOS_SANDBOX_UNAVAILABLE',
    `agent ${agent.id} is HIGH tier but the sandbox lacks ${plan.missing.join(', ')} (mode ${plan.mode}); fix the host (see eosd doctor) or start eosd with the degraded-sandbox override`,
    { details: { agentId: agent.id, mode: plan.mode, missing: [...plan.missing] } },
  );
}

/** The `eosd doctor --json` document. */
export interface DoctorReport {
  mode: SandboxMode;
  full: boolean;
  layers: Record<SandboxLayer, LayerStatus>;
}

/** Builds the `eosd doctor --json` document from a plan. */
export function doctorReport(plan: SandboxPlan): DoctorReport {
  return { mode: plan.mode, full: plan.missing.length === 0, layers: { ...plan.layers } };
}
