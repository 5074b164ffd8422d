// ownProcsFile: which cgroup.procs the attach priming writes `0` to (the daemon's own cgroup).
import { describe, expect, it } from 'vitest';
import type { CgroupLayout } from '../src/sandbox/cgroup-layout.js';
import { ownProcsFile } from '../src/sandbox/cgroup-manager.js';

const hybrid: CgroupLayout = {
  v2Root: '/sys/fs/cgroup/unified',
  v2Controllers: [],
  v2Kill: true,
  v1: { memory: '/sys/fs/cgroup/memory', pids: '/sys/fs/cgroup/pids', cpu: '/sys/fs/cgroup/cpu', cpuacct: '/sys/fs/cgroup/cpuacct' },
  controllers: { memory: 'v1', pids: 'v1', cpu: 'v1' },
};
const pureV2: CgroupLayout = { v2Root: '/sys/fs/cgroup', v2Controllers: ['memory', 'pids', 'cpu'], v2Kill: true, v1: {}, controllers: { memory: 'v2', pids: 'v2', cpu: 'v2' } };

describe('ownProcsFile', () => {
  it('names the daemon’s own cgroup in the pids v1 hierarchy first', () => {
    const self = '9:name=systemd:/\n8:pids:/system.slice/eosd.service\n4:memory:/x/y\n1:cpu,cpuacct:/\n0::/system.slice/eosd.service\n';
    expect(ownProcsFile(hybrid, self)).toBe('/sys/fs/cgroup/pids/system.slice/eosd.service/cgroup.procs');
  });

  it('falls back to the next v1 controller, then to v2', () => {
    expect(ownProcsFile(hybrid, '4:memory:/m\n0::/u\n')).toBe('/sys/fs/cgroup/memory/m/cgroup.procs');
    expect(ownProcsFile(pureV2, '0::/system.slice/eosd.service\n')).toBe('/sys/fs/cgroup/system.slice/eosd.service/cgroup.procs');
  });

  it('names nothing when the daemon’s line is missing or not an absolute path', () => {
    expect(ownProcsFile(pureV2, '')).toBeNull();
    expect(ownProcsFile(pureV2, '0::relative\n')).toBeNull();
    expect(ownProcsFile({ ...pureV2, v2Root: null }, '0::/a\n')).toBeNull();
  });
});
