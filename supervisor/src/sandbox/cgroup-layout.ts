import { readFile } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';

/** The cgroup controllers eosd limits agents with. */
export type CgroupController = 'memory' | 'pids' | 'cpu';

/** Where each controller lives on this host, as detected by {@link detectCgroupLayout}. */
export interface CgroupLayout {
  /** Mount point of the cgroup2 hierarchy (`/sys/fs/cgroup` or `/sys/fs/cgroup/unified`), or null. */
  v2Root: string | null;
  /** Controllers listed in the v2 root's `cgroup.controllers` (usable through v2). */
  v2Controllers: readonly string[];
  /** Whether v2 child cgroups have `cgroup.kill` (Linux >= 5.14): whole-tree kill in one write. */
  v2Kill: boolean;
  /** v1 mount point per controller, for controllers bound to a v1 hierarchy. */
  v1: Readonly<Partial<Record<CgroupController | 'cpuacct', string>>>;
  /** For each controller eosd uses: which hierarchy provides it, or null when none does. */
  controllers: Readonly<Record<CgroupController, 'v1' | 'v2' | null>>;
}

function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

/**
 * Detects the cgroup layout from `/proc/self/mounts` (v1 hierarchies are identified by their mount
 * options, the v2 root by its fs type) and the v2 root's `cgroup.controllers`. A controller is
 * taken from v2 when v2 offers it, else from v1.
 */
export async function detectCgroupLayout(
  opts: { mountsFile?: string } = {},
): Promise<CgroupLayout> {
  const mounts = await readFile(opts.mountsFile ?? '/proc/self/mounts', 'utf8');
  let v2Root: string | null = null;
  const v1: Partial<Record<CgroupController | 'cpuacct', string>> = {};
  for (const line of mounts.split('\n')) {
    const [, mountPoint, fsType, options] = line.split(' ');
    if (mountPoint === undefined || fsType === undefined || options === undefined) {
      continue;
    }
    const where = unescapeMountField(mountPoint);
    if (fsType === 'cgroup2') {
      v2Root ??= where;
    } else if (fsType === 'cgroup') {
      const opts2 = options.split(',');
      for (const c of ['memory', 'pids', 'cpu', 'cpuacct'] as const) {
        if (opts2.includes(c)) {
          v1[c] ??= where;
        }
      }
    }
  }
  let v2Controllers: string[] = [];
  let v2Kill = false;
  if (v2Root !== null) {
    v2Controllers = (await readFile(join(v2Root, 'cgroup.controllers'), 'utf8')).trim().split(/\s+/).filter(Boolean);
    // cgroup.kill exists only in non-root cgroups, so the kernel version (5.14 added it) decides.
    v2Kill = kernelAtLeast(5, 14);
  }
  const pick = (c: CgroupController): 'v1' | 'v2' | null =>
    v2Controllers.includes(c) ? 'v2' : v1[c] !== undefined ? 'v1' : null;
  return {
    v2Root,
    v2Controllers,
    v2Kill,
    v1,
    controllers: { memory: pick('memory'), pids: pick('pids'), cpu: pick('cpu') },
  };
}

function kernelAtLeast(major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release());
  if (m === null) {
    return false;
  }
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > major || (maj === major && min >= minor);
}
