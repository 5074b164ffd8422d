// Agent home images are mounted once per agent in the daemon's mount namespace (not per start):
// check the mount's options, that a restart reuses it, that a graceful stop leaves no mount and no
// loop device behind, and that a daemon restarted after SIGKILL removes what the killed one left.
// Reaching another agent's home from inside a sandbox is in escape.containment.test.ts.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { agentHomeMounts, fixtureAgent, isAlive, startDaemon, type RunningDaemon } from '../e2e/helpers/daemon.js';
import { containmentSkipReason } from './helpers.js';

const run = promisify(execFile);
const skip = containmentSkipReason();

async function loopDevicesOf(image: string): Promise<string> {
  return (await run('losetup', ['-j', image])).stdout.trim();
}

async function running(d: RunningDaemon, id: string): Promise<number> {
  await expect.poll(async () => (await d.client.getAgent(id)).state, { timeout: 30_000 }).toBe('running');
  return (await d.client.getAgent(id)).pid;
}

describe.skipIf(skip !== undefined)(`agent home mounts${skip === undefined ? '' : ` (skipped: ${skip})`}`, () => {
  const agents = [
    { id: 'bench-idle', package: fixtureAgent('bench-idle'), tier: 'low' as const },
    { id: 'talker', package: fixtureAgent('talker'), tier: 'low' as const },
  ];

  it('mounts each home once (rw, nosuid, nodev, noexec), keeps it across restarts and leaves nothing after a graceful stop', async () => {
    const d = await startDaemon({ agents });
    const stateDir = join(d.dir, 's');
    await running(d, 'bench-idle');
    await running(d, 'talker');
    const mounts = await agentHomeMounts(stateDir);
    expect(mounts.map((m) => m.mountPoint).sort()).toEqual([join(stateDir, 'agents', 'bench-idle', 'home'), join(stateDir, 'agents', 'talker', 'home')]);
    for (const m of mounts) {
      expect(m.source).toMatch(/^\/dev\/loop\d+$/);
      expect(m.options.split(',')).toEqual(expect.arrayContaining(['rw', 'nosuid', 'nodev', 'noexec']));
    }
    expect(new Set(mounts.map((m) => m.source)).size).toBe(2);
    await d.client.stopAgent('bench-idle');
    await d.client.startAgent('bench-idle');
    await running(d, 'bench-idle');
    expect(await agentHomeMounts(stateDir)).toEqual(mounts);
    const exited = once(d.child, 'exit');
    d.child.kill('SIGTERM');
    await exited;
    expect(await agentHomeMounts(stateDir)).toEqual([]);
    for (const id of ['bench-idle', 'talker']) {
      expect(await loopDevicesOf(join(stateDir, 'agents', id, 'home.img'))).toBe('');
    }
  });

  it('a daemon restarted after SIGKILL unmounts the homes the killed one left, then mounts each once again', async () => {
    const d = await startDaemon({ agents });
    const stateDir = join(d.dir, 's');
    const pids = [await running(d, 'bench-idle'), await running(d, 'talker')];
    expect((await agentHomeMounts(stateDir)).length).toBe(2);
    d.child.kill('SIGKILL');
    await expect.poll(() => pids.filter(isAlive), { timeout: 5_000, interval: 50 }).toEqual([]);
    // The killed daemon could not unmount: the mounts outlive it.
    expect((await agentHomeMounts(stateDir)).length).toBe(2);
    const again = await startDaemon({ agents }, { reuseDir: d.dir });
    expect(again.out.count((l) => l.msg === 'unmounting an agent home left by an earlier daemon')).toBe(2);
    await running(again, 'bench-idle');
    await running(again, 'talker');
    const mounts = await agentHomeMounts(stateDir);
    expect(mounts.map((m) => m.mountPoint).sort()).toEqual([join(stateDir, 'agents', 'bench-idle', 'home'), join(stateDir, 'agents', 'talker', 'home')]);
    // One loop device per image: the old ones were freed with their mounts.
    for (const id of ['bench-idle', 'talker']) {
      await expect.poll(async () => (await loopDevicesOf(join(stateDir, 'agents', id, 'home.img'))).split('\n').length, { timeout: 5_000 }).toBe(1);
    }
  });
});
