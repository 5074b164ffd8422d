import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { daemonCgroupName, fixtureAgent, startDaemon } from '../e2e/helpers/daemon.js';
import { containmentSkipReason, writeIntoHomeImage } from './helpers.js';

const skip = containmentSkipReason();
const MiB = 1024 * 1024;

describe.skipIf(skip !== undefined)('containment: resource limits under the real daemon', () => {
  it('OOM-kills an agent that exhausts its memory, labels the exit oom in state, logs and status, and cleans its cgroups', async () => {
    const d = await startDaemon({
      agents: [
        {
          id: 'hog',
          package: fixtureAgent('memory-hog'),
          tier: 'low',
          autostart: false,
          restart: 'temporary',
          limits: { memoryBytes: 96 * MiB, cpuPercent: 100 },
        },
      ],
    });
    const stateDir = join(d.dir, 's');
    const hog = await d.client.getAgent('hog');
    await writeIntoHomeImage(join(stateDir, 'agents', 'hog', 'home.img'), hog.uid, {
      'hog.json': JSON.stringify({ cpu: false, memory: 'grow' }),
    });
    await d.client.startAgent('hog');
    const exit = await d.out.waitFor((l) => l.agentId === 'hog' && l.msg === 'agent process exited', 60_000);
    expect(exit).toMatchObject({ exitKind: 'oom', level: 40 });
    expect(await d.client.getAgent('hog')).toMatchObject({ state: 'stopped', lastExit: 'oom: signal SIGKILL', pid: 0 });
    const status = JSON.parse((await d.client.getStatus()).sandboxJson.toString()) as { counters: { exits: Record<string, number> } };
    expect(status.counters.exits.oom).toBe(1);
    // The agent's cgroups are gone once it exited.
    const cg = `/sys/fs/cgroup/memory/${daemonCgroupName(stateDir)}/hog`;
    await expect(readFile(join(cg, 'memory.limit_in_bytes'), 'utf8')).rejects.toThrow(/ENOENT/);
  });
});
