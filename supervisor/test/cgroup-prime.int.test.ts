// The attach priming of CgroupManager.create moves the daemon into the cgroup it is already in:
// real cgroups, root only. The process's own cgroups must be exactly what they were.
import { existsSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { detectCgroupLayout, type CgroupLayout } from '../src/sandbox/cgroup-layout.js';
import { CgroupManager, ownProcsFile } from '../src/sandbox/cgroup-manager.js';

const isRoot = process.getuid?.() === 0;
if (process.env.CI !== undefined && !isRoot) {
  describe('cgroup priming prerequisites', () => {
    it('runs as root on CI', () => {
      throw new Error('cgroup priming tests need root on CI');
    });
  });
}

const MiB = 1 << 20;

describe.skipIf(!isRoot)('cgroup attach priming (root; skipped otherwise: needs cgroup write access)', () => {
  const parent = `eosd-prime-${process.pid}`;
  let layout: CgroupLayout | undefined;

  afterAll(() => {
    for (const root of [...Object.values(layout?.v1 ?? {}), layout?.v2Root]) {
      if (root !== null && root !== undefined && existsSync(join(root, parent))) {
        rmdirSync(join(root, parent));
      }
    }
  });

  it('leaves the daemon in its own cgroups while creating an agent’s', async () => {
    layout = await detectCgroupLayout();
    const before = readFileSync('/proc/self/cgroup', 'utf8');
    const file = ownProcsFile(layout, before);
    expect(file).not.toBeNull();
    expect(readFileSync(file ?? '', 'utf8').split('\n')).toContain(String(process.pid));
    const manager = new CgroupManager({ layout, logger: pino({ level: 'silent' }), parent });
    const cg = await manager.create('prime-a', { memoryBytes: 64 * MiB, pidsMax: 16, cpuQuotaPercent: 50 });
    try {
      // The priming is not awaited by create: give it the grace period it may wait for.
      await delay(100);
      expect(readFileSync('/proc/self/cgroup', 'utf8')).toBe(before);
      expect(readFileSync(file ?? '', 'utf8').split('\n')).toContain(String(process.pid));
    } finally {
      await cg.remove();
    }
  });
});
