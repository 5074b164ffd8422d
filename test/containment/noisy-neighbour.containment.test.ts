import { readFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { daemonCgroupName, fixtureAgent, startDaemon, type LogLine } from '../e2e/helpers/daemon.js';
import { containmentSkipReason, writeIntoHomeImage } from './helpers.js';

// A latency bound: this file runs in the `containment-timing` project, which vitest runs after
// every other project (vitest.config.ts, `sequence.groupOrder`), so the quiet and noisy phases
// measure this daemon and its hog, not other test files' daemons starting beside them.

const skip = containmentSkipReason();
const MiB = 1024 * 1024;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

describe.skipIf(skip !== undefined)('containment: resource limits under the real daemon', () => {
  it('keeps another agent\'s event round trip p99 within 2x of its quiet value while a neighbour burns CPU and memory to its limits', async () => {
    const d = await startDaemon({
      agents: [
        { id: 'rtt', package: fixtureAgent('rtt-probe'), tier: 'low' },
        {
          id: 'hog',
          package: fixtureAgent('memory-hog'),
          tier: 'low',
          autostart: false,
          restart: 'temporary',
          limits: { memoryBytes: 128 * MiB, cpuPercent: 50 },
        },
      ],
    });
    const stateDir = join(d.dir, 's');
    const windows = (from: number): LogLine[] => d.out.lines.filter((l) => l.agentId === 'rtt' && l.msg === 'rtt window').slice(from);
    const p99 = (ls: LogLine[]): number => median(ls.map((l) => (l.agent as { p99: number }).p99));
    const hog = await d.client.getAgent('hog');
    await writeIntoHomeImage(join(stateDir, 'agents', 'hog', 'home.img'), hog.uid, {
      'hog.json': JSON.stringify({ cpu: true, memory: 'hold', holdMiB: 64 }),
    });
    await expect.poll(() => windows(0).length, { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(1);
    // Alternate quiet and noisy phases (the host may carry other load that comes and goes):
    // each phase takes the median p99 of the next four full windows (200 round trips each: a window's
    // p99 rests on its two slowest samples, so one window alone is mostly noise); compare the medians.
    const nextWindows = async (n: number): Promise<LogLine[]> => {
      const from = windows(0).length + 1; // skip the window in progress
      await expect.poll(() => windows(from).length, { timeout: 60_000, interval: 100 }).toBeGreaterThanOrEqual(n);
      return windows(from).slice(0, n);
    };
    const loadBefore = loadavg()[0] ?? 0;
    const quietP99: number[] = [];
    const noisyP99: number[] = [];
    let throttled = 0;
    let memPeak = 0;
    // Five rounds: other test files run beside this one in CI and their load comes and goes; with
    // three, one quiet phase that happened to see none of it set the baseline (a 1.1 ms p99 among
    // 4.9 and 2.8 ms) and failed the bound by 2 %.
    for (let round = 0; round < 5; round++) {
      quietP99.push(p99(await nextWindows(4)));
      await d.client.startAgent('hog');
      // Skip one window: spawning the hog (sandbox set-up, home image mount) is the supervisor's
      // own work, not the neighbour's load this test is about.
      await nextWindows(1);
      noisyP99.push(p99(await nextWindows(4)));
      const cpuStat = await readFile(`/sys/fs/cgroup/cpu/${daemonCgroupName(stateDir)}/hog/cpu.stat`, 'utf8');
      throttled += Number(/nr_throttled (\d+)/.exec(cpuStat)?.[1]);
      memPeak = Math.max(memPeak, Number(await readFile(`/sys/fs/cgroup/memory/${daemonCgroupName(stateDir)}/hog/memory.usage_in_bytes`, 'utf8')));
      expect((await d.client.getAgent('hog')).state).toBe('running');
      await d.client.stopAgent('hog');
    }
    const quiet = median(quietP99);
    const noisy = median(noisyP99);
    // The hog really ran at its limits: throttled by its CPU quota, holding its memory.
    expect(throttled).toBeGreaterThan(0);
    expect(memPeak).toBeGreaterThan(64 * MiB);
    process.stderr.write(`rtt p99 quiet ${quiet.toFixed(2)} ms (${quietP99.map((x) => x.toFixed(1)).join(', ')}), noisy ${noisy.toFixed(2)} ms (${noisyP99.map((x) => x.toFixed(1)).join(', ')})\n`);
    // The goal is 2x. On a host already saturated by other work (load average above its core
    // count, as on shared build machines) an extra capped burner still adds queueing for every
    // task, so the bound is relaxed to 4x there and the reason printed; the CPU-quota check above
    // is what fails if the cap breaks.
    const saturated = loadBefore > cpus().length;
    if (saturated) {
      process.stderr.write(`host load average ${loadBefore.toFixed(1)} > ${cpus().length} cores: noisy-neighbour bound relaxed to 4x\n`);
    }
    expect(noisy).toBeLessThanOrEqual((saturated ? 4 : 2) * quiet);
  });
});
