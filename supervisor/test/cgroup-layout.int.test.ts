import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { detectCgroupLayout } from '../src/sandbox/cgroup-layout.js';

function tmp(): string {
  const dir = mkdtempSync('/tmp/eosd-cgl-');
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('detectCgroupLayout', () => {
  it('takes controllers from v1 when the v2 root delegates none (hybrid host)', async () => {
    const dir = tmp();
    mkdirSync(join(dir, 'unified'));
    writeFileSync(join(dir, 'unified', 'cgroup.controllers'), '\n');
    const mounts = [
      `cgroup ${dir}/cpu cgroup rw,relatime,cpu 0 0`,
      `cgroup ${dir}/cpuacct cgroup rw,relatime,cpuacct 0 0`,
      `cgroup ${dir}/memory cgroup rw,relatime,memory 0 0`,
      `cgroup ${dir}/pids cgroup rw,relatime,pids 0 0`,
      `cgroup ${dir}/systemd cgroup rw,relatime,name=systemd 0 0`,
      `cgroup2 ${dir}/unified cgroup2 rw,relatime 0 0`,
    ].join('\n');
    writeFileSync(join(dir, 'mounts'), mounts);
    const layout = await detectCgroupLayout({ mountsFile: join(dir, 'mounts') });
    expect(layout).toMatchObject({
      v2Root: `${dir}/unified`,
      v2Controllers: [],
      v1: { cpu: `${dir}/cpu`, cpuacct: `${dir}/cpuacct`, memory: `${dir}/memory`, pids: `${dir}/pids` },
      controllers: { memory: 'v1', pids: 'v1', cpu: 'v1' },
    });
  });

  it('prefers v2 for controllers the unified root offers, v1 for the rest', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'cgroup.controllers'), 'cpuset cpu io memory\n');
    writeFileSync(join(dir, 'mounts'), `cgroup2 ${dir} cgroup2 rw 0 0\ncgroup /x/pids cgroup rw,pids 0 0\n`);
    const layout = await detectCgroupLayout({ mountsFile: join(dir, 'mounts') });
    expect(layout.controllers).toEqual({ memory: 'v2', pids: 'v1', cpu: 'v2' });
  });

  it('decodes octal escapes in mount points', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'mounts'), 'cgroup /sys/fs/cgroup/my\\040memory cgroup rw,memory 0 0\n');
    const layout = await detectCgroupLayout({ mountsFile: join(dir, 'mounts') });
    expect(layout.v1.memory).toBe('/sys/fs/cgroup/my memory');
    expect(layout.controllers.memory).toBe('v1');
    expect(layout.v2Root).toBeNull();
  });
});
